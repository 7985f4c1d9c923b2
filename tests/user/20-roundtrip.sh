#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Round trips: every codec x {plain, encrypted} x chunk sizes {4K, 64K, 1M}
# on realistic disks (ext4 with real files, GPT with several partitions,
# mixed zeros/random/text of an odd size) gives back the source byte for
# byte; stdin source, export to stdout, sparse export, odd sizes.
#
# SPF_TEST_QUICK=1 runs one chunk size per codec (used by the ASan rerun).
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
ENC=(--encrypt --key-file "$T/key" $KDF_FAST)

mkdisk_ext4 "$T/ext4.raw" 16 || fail "mkdisk_ext4" "could not build the ext4 disk"
mkdisk_gpt "$T/gpt.raw" 16 || fail "mkdisk_gpt" "could not build the GPT disk"
mkdisk_mixed "$T/mixed.raw" 3000 rt	# 3000 KiB: not a multiple of 64K or 1M

# roundtrip DISK CODEC plain|enc CHUNK: create, export, compare.
roundtrip() {
	local disk=$1 codec=$2 mode=$3 cs=$4
	local name="roundtrip $(basename "$disk" .raw) $codec $mode $cs"
	local img=$T/rt.spf out=$T/rt.out err
	local args=(--compress "$codec" --chunk-size "$cs") key=()
	[ "$mode" = enc ] && args+=("${ENC[@]}") && key=(--key-file "$T/key")
	rm -f "$img" "$out"
	if ! err=$("$SPFCTL" create "${args[@]}" "$disk" "$img" 2>&1); then
		fail "$name" "create failed: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ')"
		return
	fi
	if ! err=$("$SPFCTL" export "${key[@]}" "$img" "$out" 2>&1); then
		fail "$name" "export failed: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ')"
		return
	fi
	same_bytes "$name" "$disk" "$out"
}

sizes=(4K 64K 1M)
for disk in "$T/ext4.raw" "$T/gpt.raw" "$T/mixed.raw"; do
	[ -s "$disk" ] || continue
	i=0
	for codec in none deflate zstd lz4; do
		for mode in plain enc; do
			if [ "${SPF_TEST_QUICK:-0}" = 1 ]; then
				roundtrip "$disk" $codec $mode "${sizes[$((i++ % 3))]}"
				continue
			fi
			for cs in "${sizes[@]}"; do
				roundtrip "$disk" $codec $mode $cs
			done
		done
	done
done

# The default codec is zstd.  The default chunk size is 16 KiB for chunks
# a read must decode or authenticate whole (compressed or encrypted), and
# 64 KiB for plain ones; -s overrides it either way.
defaults_are() { # NAME WANT(codec shift) create-options...
	local name=$1 want=$2 got
	shift 2
	rm -f "$T/def.spf"
	"$SPFCTL" create "$@" "$T/mixed.raw" "$T/def.spf" 2>"$T/err" ||
		{ fail "defaults: $name" "create: $(head -n 1 "$T/err")"; return; }
	got=$(spfpatch "$T/def.spf" get h.codec h.chunk_shift 2>&1 | tr '\n' ' ')
	[ "$got" = "$want " ] && pass "defaults: $name" ||
		fail "defaults: $name" "codec/chunk_shift = $got, want $want"
}
defaults_are "zstd, 16 KiB chunks" "2 14"
defaults_are "deflate: 16 KiB chunks" "1 14" --compress deflate
defaults_are "lz4: 16 KiB chunks" "3 14" --compress lz4
defaults_are "none: 64 KiB chunks" "0 16" --compress none
defaults_are "none, encrypted: 16 KiB chunks" "0 14" --compress none "${ENC[@]}"
defaults_are "zstd with -s 64K: 64 KiB chunks" "2 16" --chunk-size 64K
defaults_are "none with -s 16K: 16 KiB chunks" "0 14" --compress none -s 16K

# Compression actually compresses text, and random data is stored raw.
yes "a line of very compressible text for the spf tests" | head -c $((4 << 20)) > "$T/text.raw"
rand_bytes rawtest $((1 << 20)) > "$T/random.raw"
for codec in deflate zstd lz4; do
	rm -f "$T/c.spf"
	"$SPFCTL" create --compress $codec "$T/text.raw" "$T/c.spf" 2>/dev/null
	sz=$(stat -c %s "$T/c.spf" 2>/dev/null || echo 0)
	if [ "$sz" -gt 0 ] && [ "$sz" -lt $(( (4 << 20) / 10 )) ]; then
		pass "$codec compresses text ($sz bytes for 4 MiB)"
	else
		fail "$codec compresses text" "image of $sz bytes for 4 MiB of text"
	fi
	rm -f "$T/r.spf"
	"$SPFCTL" create --compress $codec "$T/random.raw" "$T/r.spf" 2>/dev/null
	states=$(spfpatch "$T/r.spf" show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sorted({e["state"] for b in d["blocks"] if b["level"] == 0 for e in b["entries"]}),
      d["trailer"]["stored_bytes"])')
	[ "$states" = "[2] $((1 << 20))" ] && pass "$codec stores random chunks raw" ||
		fail "$codec stores random chunks raw" "states and stored bytes: $states"
done
rm -f "$T/n.spf"
"$SPFCTL" create --compress none "$T/text.raw" "$T/n.spf" 2>/dev/null
[ "$(spfpatch "$T/n.spf" get t.stored_bytes 2>/dev/null)" = $((4 << 20)) ] &&
	pass "codec none stores every chunk raw" ||
	fail "codec none stores every chunk raw" "stored_bytes $(spfpatch "$T/n.spf" get t.stored_bytes 2>&1)"

# Levels: recorded, and a higher zstd level is not larger.
rm -f "$T/l1.spf" "$T/l19.spf"
"$SPFCTL" create --compress zstd --level 1 "$T/mixed.raw" "$T/l1.spf" 2>/dev/null
"$SPFCTL" create --compress zstd --level 19 "$T/mixed.raw" "$T/l19.spf" 2>/dev/null
if [ "$(spfpatch "$T/l19.spf" get h.codec_level 2>/dev/null)" = 19 ] &&
   [ "$(stat -c %s "$T/l19.spf")" -le "$(stat -c %s "$T/l1.spf")" ]; then
	pass "zstd --level recorded and effective"
else
	fail "zstd --level recorded and effective" "level $(spfpatch "$T/l19.spf" get h.codec_level 2>&1), sizes $(stat -c %s "$T/l1.spf" "$T/l19.spf" 2>&1 | tr '\n' ' ')"
fi
"$SPFCTL" export "$T/l19.spf" "$T/l19.out" 2>/dev/null
same_bytes "zstd level 19 round trip" "$T/mixed.raw" "$T/l19.out"
for lv in 1 9; do
	rm -f "$T/d.spf" "$T/d.out"
	"$SPFCTL" create --compress deflate --level $lv "$T/mixed.raw" "$T/d.spf" 2>/dev/null &&
		"$SPFCTL" export "$T/d.spf" "$T/d.out" 2>/dev/null
	same_bytes "deflate level $lv round trip" "$T/mixed.raw" "$T/d.out"
done
rm -f "$T/hc.spf"
"$SPFCTL" create --compress lz4 --level 9 "$T/mixed.raw" "$T/hc.spf" 2>/dev/null &&
	"$SPFCTL" export "$T/hc.spf" "$T/hc.out" 2>/dev/null
same_bytes "lz4 HC (level 9) round trip" "$T/mixed.raw" "$T/hc.out"

# Threads: the output is strictly sequential and the same whatever the
# thread count (all but the uuid/time-dependent header and trailer).
for th in 1 4; do
	rm -f "$T/t$th.spf"
	"$SPFCTL" create --threads $th --chunk-size 4K "$T/gpt.raw" "$T/t$th.spf" 2>/dev/null
done
if [ -s "$T/t1.spf" ] && [ "$(stat -c %s "$T/t1.spf")" = "$(stat -c %s "$T/t4.spf")" ] &&
   cmp -s <(tail -c +4097 "$T/t1.spf" | head -c -512) <(tail -c +4097 "$T/t4.spf" | head -c -512); then
	pass "--threads 1 and 4 write the same data, index and summary"
else
	fail "--threads 1 and 4 write the same data, index and summary" "sizes $(stat -c %s "$T/t1.spf" "$T/t4.spf" 2>&1 | tr '\n' ' ')"
fi

# Source from stdin.
rm -f "$T/stdin.spf"
if "$SPFCTL" create --chunk-size 4K - "$T/stdin.spf" < "$T/mixed.raw" 2>"$T/err" &&
   "$SPFCTL" export "$T/stdin.spf" "$T/stdin.out" 2>>"$T/err"; then
	same_bytes "source - (stdin, file)" "$T/mixed.raw" "$T/stdin.out"
else
	fail "source - (stdin, file)" "$(head -n 2 "$T/err" | tr '\n' ' ')"
fi
rm -f "$T/pipe.spf"
if cat "$T/gpt.raw" | "$SPFCTL" create --compress lz4 - "$T/pipe.spf" 2>"$T/err" &&
   "$SPFCTL" export "$T/pipe.spf" "$T/pipe.out" 2>>"$T/err"; then
	same_bytes "source - (stdin, pipe)" "$T/gpt.raw" "$T/pipe.out"
else
	fail "source - (stdin, pipe)" "$(head -n 2 "$T/err" | tr '\n' ' ')"
fi
rm -f "$T/pipe.spf" "$T/pipe.out"
if cat "$T/mixed.raw" | "$SPFCTL" create "${ENC[@]}" - "$T/pipe.spf" 2>"$T/err" &&
   "$SPFCTL" export --key-file "$T/key" "$T/pipe.spf" "$T/pipe.out" 2>>"$T/err"; then
	same_bytes "source - (stdin, pipe), encrypted" "$T/mixed.raw" "$T/pipe.out"
else
	fail "source - (stdin, pipe), encrypted" "$(head -n 2 "$T/err" | tr '\n' ' ')"
fi

# Export to stdout, through a pipe.
"$SPFCTL" create --chunk-size 4K "$T/gpt.raw" "$T/gpt.spf" 2>/dev/null
"$SPFCTL" export "$T/gpt.spf" - 2>"$T/err" | cat > "$T/stdout.out"
same_bytes "export to - (pipe)" "$T/gpt.raw" "$T/stdout.out"
"$SPFCTL" export "$T/gpt.spf" - > "$T/stdout2.out" 2>"$T/err"
same_bytes "export to - (file on stdout)" "$T/gpt.raw" "$T/stdout2.out"
"$SPFCTL" create "${ENC[@]}" "$T/gpt.raw" "$T/gpte.spf" 2>/dev/null
"$SPFCTL" export --key-file "$T/key" "$T/gpte.spf" - 2>"$T/err" | cat > "$T/stdout3.out"
same_bytes "export to - (pipe), encrypted" "$T/gpt.raw" "$T/stdout3.out"

# Sparse export: zero chunks become holes in a regular file.
{ rand_bytes sp1 $((1 << 20)); head -c $((12 << 20)) /dev/zero; rand_bytes sp2 $((1 << 20)); } > "$T/sparse.raw"
"$SPFCTL" create "$T/sparse.raw" "$T/sparse.spf" 2>/dev/null
rm -f "$T/sparse.out"
"$SPFCTL" export "$T/sparse.spf" "$T/sparse.out" 2>/dev/null
same_bytes "sparse disk round trip" "$T/sparse.raw" "$T/sparse.out"
alloc=$(allocated "$T/sparse.out")
if [ "$alloc" -le $((3 << 20)) ]; then
	pass "export leaves holes ($alloc bytes allocated of $((14 << 20)))"
else
	fail "export leaves holes" "$alloc bytes allocated for 2 MiB of data in 14 MiB"
fi
# --force over an existing bigger file: exactly the disk, holes included.
head -c $((20 << 20)) /dev/urandom > "$T/big.out"
"$SPFCTL" export --force "$T/sparse.spf" "$T/big.out" 2>"$T/err"
same_bytes "export --force over a bigger existing file" "$T/sparse.raw" "$T/big.out"
alloc=$(allocated "$T/big.out")
[ "$alloc" -le $((3 << 20)) ] && pass "export --force over a file: sparse ($alloc bytes allocated)" ||
	fail "export --force over a file: sparse" "$alloc bytes allocated"
# A trailing zero region still gives the full size.
{ rand_bytes tz $((1 << 20)); head -c $((3 << 20)) /dev/zero; } > "$T/tailzero.raw"
"$SPFCTL" create "$T/tailzero.raw" "$T/tailzero.spf" 2>/dev/null
rm -f "$T/tailzero.out"
"$SPFCTL" export "$T/tailzero.spf" "$T/tailzero.out" 2>/dev/null
same_bytes "trailing zeros: full size, sparse" "$T/tailzero.raw" "$T/tailzero.out"

# All-zero disk: no entries at all, exports as zeros.
head -c $((5 << 20)) /dev/zero > "$T/zero.raw"
"$SPFCTL" create "$T/zero.raw" "$T/zero.spf" 2>/dev/null
[ "$(stat -c %s "$T/zero.spf" 2>/dev/null)" = 8704 ] &&
	pass "all-zero disk: header, summary and trailer only (8704 bytes)" ||
	fail "all-zero disk: header, summary and trailer only" "image of $(stat -c %s "$T/zero.spf" 2>&1) bytes"
rm -f "$T/zero.out"
"$SPFCTL" export "$T/zero.spf" "$T/zero.out" 2>/dev/null
same_bytes "all-zero disk round trip" "$T/zero.raw" "$T/zero.out"

# A disk smaller than one chunk, and odd sizes.
head -c 100000 "$T/mixed.raw" > "$T/small.raw"	# not a multiple of 512
for cs in 4K 1M; do
	rm -f "$T/small.spf" "$T/small.out"
	"$SPFCTL" create --chunk-size $cs "$T/small.raw" "$T/small.spf" 2>/dev/null
	"$SPFCTL" export "$T/small.spf" "$T/small.out" 2>/dev/null
	# The disk size is rounded up to 512: the export is 100352 bytes, the
	# source followed by zeros.
	if [ "$(stat -c %s "$T/small.out" 2>/dev/null)" = 100352 ] &&
	   cmp -s -n 100000 "$T/small.raw" "$T/small.out" &&
	   [ -z "$(tail -c +100001 "$T/small.out" | tr -d '\0')" ]; then
		pass "size 100000 rounds up to 100352 ($cs chunks)"
	else
		fail "size 100000 rounds up to 100352 ($cs chunks)" "export of $(stat -c %s "$T/small.out" 2>&1) bytes; $(cmp -n 100000 "$T/small.raw" "$T/small.out" 2>&1)"
	fi
done
[ "$(spfpatch "$T/small.spf" get h.disk_size 2>/dev/null)" = 100352 ] &&
	pass "disk_size of a 100000-byte source is 100352" ||
	fail "disk_size of a 100000-byte source is 100352" "$(spfpatch "$T/small.spf" get h.disk_size 2>&1)"
readme=$ROOT/tools/spfctl/README.md
if grep -qiE 'round(ed|s)? up' "$readme" 2>/dev/null && grep -q 512 "$readme" 2>/dev/null; then
	pass "README documents the rounding up to 512"
else
	fail "README documents the rounding up to 512" "no 'rounded up ... 512' in $readme"
fi
# Odd size from stdin too (size unknown in advance).
rm -f "$T/small2.spf"
"$SPFCTL" create - "$T/small2.spf" < "$T/small.raw" 2>/dev/null
"$SPFCTL" export "$T/small2.spf" - 2>/dev/null | head -c 100000 | cmp -s - "$T/small.raw" &&
	pass "odd size from stdin" || fail "odd size from stdin" "export differs"
head -c $(( (5 << 20) + 3 * 4096 + 512 )) "$T/ext4.raw" > "$T/odd.raw"
for cs in 64K 1M; do
	rm -f "$T/odd.spf" "$T/odd.out"
	"$SPFCTL" create --chunk-size $cs --compress deflate "$T/odd.raw" "$T/odd.spf" 2>/dev/null
	"$SPFCTL" export "$T/odd.spf" "$T/odd.out" 2>/dev/null
	same_bytes "size not a multiple of the chunk size ($cs)" "$T/odd.raw" "$T/odd.out"
done

# A sparse source: holes read as zeros (and may be skipped without reading).
truncate -s $((8 << 20)) "$T/holes.raw"
rand_bytes h1 100000 | dd of="$T/holes.raw" bs=4096 seek=10 conv=notrunc status=none
rand_bytes h2 5000 | dd of="$T/holes.raw" bs=1 seek=$((5 << 20)) conv=notrunc status=none
rm -f "$T/holes.spf" "$T/holes.out"
"$SPFCTL" create --chunk-size 4K "$T/holes.raw" "$T/holes.spf" 2>/dev/null &&
	"$SPFCTL" export "$T/holes.spf" "$T/holes.out" 2>/dev/null
same_bytes "sparse source file" "$T/holes.raw" "$T/holes.out"

# A large sparse disk (256 GiB, 2^22 chunks): data at the start, in the
# middle and near the odd-sized end; a small image, a sparse export.
big=$((1 << 38))
truncate -s $((big - 4096 * 3 - 512)) "$T/big.raw"
for off in 0 $((1 << 37)) $((big - 4096 * 3 - 512 - 70000)); do
	rand_bytes "big$off" 70000 | dd of="$T/big.raw" bs=1024 seek=$((off / 1024)) conv=notrunc status=none
done
rm -f "$T/big.spf" "$T/big2.out"
if timeout 120 "$SPFCTL" create --compress lz4 --chunk-size 64K "$T/big.raw" "$T/big.spf" 2>"$T/err"; then
	e=$(spfpatch "$T/big.spf" get t.nr_entries)
	# 70000 bytes cover 2 chunks of 64K at 0 and 2^37, and 2 or 3 near the end
	[ "$e" -ge 6 ] && [ "$e" -le 7 ] && [ "$(stat -c %s "$T/big.spf")" -lt $((1 << 20)) ] &&
		pass "256 GiB sparse disk: $e entries, $(stat -c %s "$T/big.spf") bytes" ||
		fail "256 GiB sparse disk: small image" "$e entries, $(stat -c %s "$T/big.spf") bytes"
	if timeout 120 "$SPFCTL" export "$T/big.spf" "$T/big2.out" 2>"$T/err"; then
		ok=1
		[ "$(stat -c %s "$T/big2.out")" = "$(( (big - 4096 * 3 - 512 + 511) / 512 * 512 ))" ] || ok=0
		[ "$(allocated "$T/big2.out")" -lt $((8 << 20)) ] || ok=0
		for off in 0 $((1 << 37)) $((big - 4096 * 3 - 512 - 70000)); do
			cmp -s <(dd if="$T/big.raw" bs=1024 skip=$((off / 1024)) count=80 status=none) \
				<(dd if="$T/big2.out" bs=1024 skip=$((off / 1024)) count=80 status=none) || ok=0
		done
		[ "$ok" = 1 ] && pass "256 GiB sparse disk: export sparse and right" ||
			fail "256 GiB sparse disk: export sparse and right" "size $(stat -c %s "$T/big2.out"), $(allocated "$T/big2.out") bytes allocated"
	else
		fail "256 GiB sparse disk: export" "exit $?: $(head -n 1 "$T/err")"
	fi
else
	fail "256 GiB sparse disk: create" "exit $?: $(head -n 1 "$T/err")"
fi
rm -f "$T/big.raw" "$T/big2.out"

# Block devices: a loop device as the source, and as the export target
# (written in place: every byte, zeros included, over old contents).
# Only devices still attached are detached at exit: a number freed here
# may be another test's device by then.
LOOPS=""
loop_detach() {
	local d keep=""
	losetup -d "$1"
	for d in $LOOPS; do [ "$d" = "$1" ] || keep="$keep $d"; done
	LOOPS=$keep
}
cleanup_add 'for d in $LOOPS; do losetup -d "$d"; done'
if [ "$(id -u)" = 0 ] && dev=$(losetup -f --show "$T/gpt.raw" 2>/dev/null); then
	LOOPS="$LOOPS $dev"
	rm -f "$T/dev.spf" "$T/dev.out"
	"$SPFCTL" create --chunk-size 4K "$dev" "$T/dev.spf" 2>"$T/err" &&
		"$SPFCTL" export "$T/dev.spf" "$T/dev.out" 2>>"$T/err"
	same_bytes "block device as the source" "$T/gpt.raw" "$T/dev.out"
	loop_detach "$dev"
	rand_bytes target $((16 << 20)) > "$T/target.raw"
	if dev2=$(losetup -f --show "$T/target.raw" 2>/dev/null); then
		LOOPS="$LOOPS $dev2"
		"$SPFCTL" export "$T/dev.spf" "$dev2" 2>"$T/err" && rc=0 || rc=$?
		sync
		[ "$rc" = 0 ] && cmp -s "$T/gpt.raw" "$dev2" &&
			pass "export onto a block device with old data: exact disk" ||
			fail "export onto a block device with old data: exact disk" "exit $rc: $(head -n 1 "$T/err"); $(cmp "$T/gpt.raw" "$dev2" 2>&1 | head -n 1)"
		head -c $((20 << 20)) /dev/zero > "$T/z20.raw"
		"$SPFCTL" create "$T/z20.raw" "$T/z20.spf" 2>/dev/null
		"$SPFCTL" export "$T/z20.spf" "$dev2" 2>"$T/err" && rc=0 || rc=$?
		[ "$rc" = 1 ] && grep -qF "spfctl: $dev2: " "$T/err" &&
			pass "export onto a too small block device refused" ||
			fail "export onto a too small block device refused" "exit $rc: $(head -n 1 "$T/err")"
		loop_detach "$dev2"
	else
		skip "export onto a block device" "no loop device"
	fi
else
	skip "block devices" "no loop device (needs root)"
fi

finish
