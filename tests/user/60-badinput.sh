#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Bad input, each with its exact message and exit code: truncated files,
# flipped bits in data / index / header / trailer / summary, the wrong
# passphrase, missing / swapped / rebuilt parents, a cycle, ShadowProtect
# files, unknown features, and sizes and counts that overflow.  Checksums
# and the seal are recomputed (tests/tools/spfpatch.py) where a test
# targets a check behind them.
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
ENC=(--encrypt --key-file "$T/key" $KDF_FAST)

# bad NAME FILE PATTERN CMDS [ARGS...]: each of CMDS (info verify export)
# on IMG=$img must exit 1 with a stderr line that names FILE
# ("spfctl: FILE: ...") and contains PATTERN.
bad() {
	local name=$1 file=$2 pattern=$3 cmds=$4 cmd err rc
	shift 4
	for cmd in $cmds; do
		rm -f "$T/bad.out"
		case $cmd in
		export) err=$(timeout 60 "$SPFCTL" export "$@" "$img" "$T/bad.out" 2>&1 >/dev/null) && rc=0 || rc=$? ;;
		*) err=$(timeout 60 "$SPFCTL" $cmd "$@" "$img" 2>&1 >/dev/null) && rc=0 || rc=$? ;;
		esac
		if [ "$rc" -ne 1 ]; then
			fail "$name ($cmd)" "exit $rc, expected 1: $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
		elif ! printf '%s\n' "$err" | grep -F -- "spfctl: $file: " | grep -qF -- "$pattern"; then
			fail "$name ($cmd)" "no line 'spfctl: $file: ...$pattern...': $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
		else
			pass "$name ($cmd)"
		fi
	done
}

# uuid IMAGE FIELD: a uuid field as 8-4-4-4-12
uuid() {
	spfpatch "$1" get "$2" | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12})$/\1-\2-\3-\4-\5/'
}

# fresh NAME: a copy of the base image to damage
fresh() { cp "$T/base.spf" "$T/$1.spf"; img=$T/$1.spf; }

mkdisk_mixed "$T/src.raw" 1024 bad
"$SPFCTL" create --chunk-size 4K "$T/src.raw" "$T/base.spf" 2>/dev/null ||
	{ fail "setup" "cannot create the base image"; finish; }
"$SPFCTL" create --chunk-size 4K "${ENC[@]}" "$T/src.raw" "$T/enc.spf" 2>/dev/null ||
	{ fail "setup" "cannot create the encrypted image"; finish; }
size=$(stat -c %s "$T/base.spf")
root=$(spfpatch "$T/base.spf" get t.index_root)
leaf0=$(spfpatch "$T/base.spf" get t.index_offset)	# the first leaf
levels=$(spfpatch "$T/base.spf" get t.index_levels)
[ "$levels" -ge 2 ] && pass "setup: a two-level index ($levels levels)" ||
	fail "setup: a two-level index" "only $levels levels"
# a chunk with data: the first entry of the second leaf
chunk=$(spfpatch "$T/base.spf" get 'b[1].e[0].chunk')
coff=$(spfpatch "$T/base.spf" get "c[$chunk].offset")

# --- truncated: never read as a short disk ----------------------------------
NF="not finalised (interrupted backup?)"
fresh trunc1; truncate -s -1 "$img"
bad "truncated by 1 byte" "$img" "$NF" "verify export"
fresh trunc2; truncate -s $((size / 2)) "$img"
bad "truncated to half" "$img" "$NF" "verify export"
fresh trunc3; truncate -s 100 "$img"
bad "truncated inside the header" "$img" "$NF: file ends inside the header" "info verify export"
fresh trunc4; truncate -s $((size + 4096)) "$img"
bad "zeros appended" "$img" "$NF" "verify export"
fresh trunc5; truncate -s 0 "$img"
bad "empty file" "$img" "not an SPF image" "info verify export"
[ ! -e "$T/bad.out" ] || [ ! -s "$T/bad.out" ] &&
	pass "no export output from a truncated image" ||
	fail "no export output from a truncated image" "$(stat -c %s "$T/bad.out") bytes written"

# --- flipped bits ---------------------------------------------------------------
fresh data; poke "$img" $((coff + 10))
bad "flipped bit in chunk data" "$img" "chunk $chunk" "verify export"
out=$("$SPFCTL" info "$img" 2>&1) && pass "info does not read chunk data" ||
	fail "info does not read chunk data" "$out"
fresh leaf; poke "$img" $((leaf0 + 200))
bad "flipped bit in an index leaf" "$img" "index block at $leaf0: checksum mismatch" "verify export"
fresh rootb; poke "$img" $((root + 40))
bad "flipped bit in the index root" "$img" "index block at $root: checksum mismatch" "verify export"
fresh hdr; poke "$img" 33
bad "flipped bit in the header (disk size)" "$img" "header checksum mismatch (corrupt header)" "info verify export"
fresh hdr2; poke "$img" 3000
bad "flipped bit in the header (reserved)" "$img" "header checksum mismatch (corrupt header)" "info verify export"
fresh trl; poke "$img" $((size - 512 + 100))
bad "flipped bit in the trailer" "$img" "trailer checksum mismatch (corrupt trailer)" "info verify export"
fresh trlmagic; poke "$img" $((size - 512))
bad "flipped bit in the trailer magic" "$img" "$NF" "verify export"
fresh summ; poke "$img" $((size - 512 - 4096 + 40))
bad "flipped bit in the summary" "$img" "summary checksum mismatch" "verify export"

# --- consistent crcs, deeper checks ------------------------------------------------
fresh seal; spfpatch "$img" set --keep-seal h.label=str:altered
bad "header altered, crcs fixed, seal not" "$img" "seal mismatch (header or trailer altered)" "info verify export"
fresh seal2; spfpatch "$img" set --keep-seal t.seal_time=+1
bad "trailer altered, crc fixed, seal not" "$img" "seal mismatch (header or trailer altered)" "info verify export"
fresh other; { head -c $((size - 512)) "$T/base.spf"; tail -c 512 "$T/enc.spf"; } > "$img"
bad "another image's trailer" "$img" "trailer belongs to another image" "info verify export"
fresh rootcrc; spfpatch "$img" set t.index_root_crc=^1
bad "index root crc wrong, seal recomputed" "$img" "index block at $root: checksum mismatch" "verify export"
fresh summcrc; spfpatch "$img" set t.summary_crc=^1
bad "summary crc wrong, seal recomputed" "$img" "summary checksum mismatch" "verify export"
# A summary marking a region past the disk, its checksums consistent: far
# past it, and in the byte that holds the last region (13 chunks: regions
# 13-15 share the byte of 8-12).
fresh summpast; summary_mark "$img" 32000
bad "summary marks a region far past the disk" "$img" "summary marks region 32000 past the disk" "info verify export"
head -c $((13 * 4096)) "$T/src.raw" > "$T/small.raw"
"$SPFCTL" create --chunk-size 4K "$T/small.raw" "$T/summtail.spf" 2>/dev/null
img=$T/summtail.spf; summary_mark "$img" 15
bad "summary marks a region past the disk in the last region's byte" "$img" "summary marks region 15 past the disk" "info verify export"
fresh nodecrc; spfpatch "$img" set 'b[-1].e[1].crc=^1'
leaf1=$(( $(spfpatch "$T/base.spf" get t.index_offset) + 4096 ))
bad "node entry crc wrong, rest consistent" "$img" "index block at $leaf1: checksum mismatch" "verify export"
fresh datacrc; spfpatch "$img" set "c[$chunk].crc=^1"
bad "entry crc wrong, index consistent" "$img" "chunk $chunk" "verify export"
# spfctl times its two crc32c implementations and keeps the faster (as the
# driver does); each one, forced, must pass the good image and catch the
# bad crc (odd lengths and offsets are in the index blocks and chunks).
for impl in table sse42; do
	if err=$(SPF_CRC32C=$impl "$SPFCTL" verify "$T/base.spf" 2>&1 >/dev/null); then
		pass "crc32c $impl: good image verifies"
	else
		fail "crc32c $impl: good image verifies" "$err"
	fi
	SPF_CRC32C=$impl bad "crc32c $impl: entry crc wrong" "$img" "chunk $chunk" "verify"
done

# Data changed with its crc recomputed: only the content digest (plain) or
# the decompressor can tell.
fresh digest; spfpatch "$img" flip --data-crc "c[$chunk]+5"
bad "chunk data altered with its crc fixed" "$img" "chunk $chunk" "verify export"
rawc=$(spfpatch "$T/base.spf" show | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(e["chunk"] for b in d["blocks"] if b["level"] == 0 for e in b["entries"] if e["state"] == 2))')
fresh rawdig; spfpatch "$img" flip --data-crc "c[$rawc]+100"
bad "raw chunk altered with its crc fixed (content digest)" "$img" "chunk $rawc" "verify"
# A compressed chunk that decompresses to the wrong size.
zchunk=$(spfpatch "$T/base.spf" show | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(max((e["length"], e["chunk"]) for b in d["blocks"] if b["level"] == 0 for e in b["entries"] if e["state"] == 3)[1])')
head -c 1000 /dev/zero | zstd -q -c > "$T/short.zst"
fresh shortz; spfpatch "$img" put "$zchunk" "$T/short.zst"
bad "chunk decompresses to 1000 bytes, not 4096" "$img" "chunk $zchunk" "verify export"
printf 'notzstd' > "$T/junk"
fresh junkz; spfpatch "$img" put "$zchunk" "$T/junk"
bad "chunk is not a zstd frame" "$img" "chunk $zchunk" "verify export"

# --- encryption ----------------------------------------------------------------------
mkkey "$T/wrong" "not the passphrase"
img=$T/enc.spf
bad "wrong passphrase" "$img" "wrong passphrase" "verify export" --key-file "$T/wrong"
: > "$T/emptykey"
"$SPFCTL" export --key-file "$T/emptykey" "$img" "$T/e.out" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] && pass "empty passphrase refused (exit 1)" ||
	fail "empty passphrase refused" "exit $rc: $(head -n 1 "$T/err")"
"$SPFCTL" export "$img" "$T/e.out" </dev/null 2>"$T/err" && rc=0 || rc=$?
[ "$rc" -ne 0 ] && grep -q "^spfctl: " "$T/err" && pass "no key and no terminal: refused (exit $rc)" ||
	fail "no key and no terminal: refused" "exit $rc: $(head -n 1 "$T/err")"
"$SPFCTL" create --key-file "$T/wrong" --parent "$T/enc.spf" "$T/src.raw" "$T/enc2.spi" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] && grep -qF "wrong passphrase" "$T/err" && [ ! -e "$T/enc2.spi" ] &&
	pass "create --parent with the wrong passphrase" ||
	fail "create --parent with the wrong passphrase" "exit $rc: $(head -n 1 "$T/err")"
echunk=$(spfpatch "$T/enc.spf" get 'b[1].e[0].chunk')
echunk2=$(spfpatch "$T/enc.spf" get 'b[1].e[1].chunk')
cp "$T/enc.spf" "$T/encflip.spf"; img=$T/encflip.spf
spfpatch "$img" flip --data-crc "c[$echunk]+3"
bad "encrypted chunk altered, crc fixed: AEAD tag" "$img" "chunk $echunk" "verify export" --key-file "$T/key"
cp "$T/enc.spf" "$T/encmove.spf"; img=$T/encmove.spf
spfpatch "$img" set "c[$echunk2].offset=c[$echunk].offset" "c[$echunk2].length=c[$echunk].length" \
	"c[$echunk2].crc=c[$echunk].crc" "c[$echunk2].state=c[$echunk].state"
bad "encrypted chunk moved to another chunk number" "$img" "chunk $echunk2" "verify export" --key-file "$T/key"
cp "$T/enc.spf" "$T/enckdf.spf"; img=$T/enckdf.spf
spfpatch "$img" set h.kdf_m_cost=0xffffffff
bad "absurd Argon2 memory refused before deriving" "$img" "invalid Argon2id parameters" "info verify export" --key-file "$T/key"
cp "$T/enc.spf" "$T/enckc.spf"; img=$T/enckc.spf
spfpatch "$img" set h.wrap_tag=hex:00000000000000000000000000000000
bad "wrapped keys' tag altered (sealed)" "$img" "wrong passphrase" "export" --key-file "$T/key"

# --- chains: missing, swapped, rebuilt parents; a cycle ----------------------------------
mkdir "$T/ch" "$T/other"
cp "$T/src.raw" "$T/ch/l1.raw"; modify_chunks "$T/ch/l1.raw" 4096 ch1 3 >/dev/null
cp "$T/ch/l1.raw" "$T/ch/l2.raw"; modify_chunks "$T/ch/l2.raw" 4096 ch2 3 >/dev/null
"$SPFCTL" create --chunk-size 4K "$T/src.raw" "$T/ch/a.spf" 2>/dev/null
"$SPFCTL" create --parent "$T/ch/a.spf" "$T/ch/l1.raw" "$T/ch/b.spi" 2>/dev/null
"$SPFCTL" create --parent "$T/ch/b.spi" "$T/ch/l2.raw" "$T/ch/c.spi" 2>/dev/null
check "chain a <- b <- c exports" "$SPFCTL" export "$T/ch/c.spi" "$T/c.out"
auuid=$(uuid "$T/ch/a.spf" h.uuid)
buuid=$(uuid "$T/ch/b.spi" h.uuid)

mv "$T/ch/a.spf" "$T/other/a.spf"
img=$T/ch/c.spi
bad "missing parent (names the child)" "$T/ch/b.spi" "$auuid" "verify export"
for cmd in verify export; do
	if [ "$cmd" = verify ]; then
		err=$("$SPFCTL" verify "$img" 2>&1 >/dev/null)
	else
		err=$("$SPFCTL" export "$img" "$T/m.out" 2>&1 >/dev/null)
	fi
	if printf '%s' "$err" | grep -qF "$T/ch" && printf '%s' "$err" | grep -qF "a.spf"; then
		pass "missing parent says where it looked and the name hint ($cmd)"
	else
		fail "missing parent says where it looked and the name hint ($cmd)" "$(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	fi
done
mv "$T/other/a.spf" "$T/ch/a.spf"

# swapped: another chain's full image under the parent's name
cp "$T/ch/a.spf" "$T/a.keep"
"$SPFCTL" create --chunk-size 4K "$T/src.raw" "$T/ch/a.spf" --force 2>/dev/null
bad "parent rebuilt from the same source (new uuid)" "$T/ch/b.spi" "$auuid" "verify export"
img=$T/ch/c.spi
err=$("$SPFCTL" export --chain "$T/ch/a.spf" "$T/ch/b.spi" "$img" "$T/s.out" 2>&1 >/dev/null) && rc=0 || rc=$?
# spfctl picks --chain files by uuid: the rebuilt parent is not among them
# (or, if it looked at the link, belongs to another chain).
[ "$rc" = 1 ] && printf '%s' "$err" | grep -F "spfctl: $T/ch/b.spi: " |
	grep -qE "parent belongs to another chain \(expected parent $auuid, found|no image with uuid $auuid" &&
	pass "rebuilt parent forced with --chain" ||
	fail "rebuilt parent forced with --chain" "exit $rc: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ')"
mkdisk_mixed "$T/foreign.raw" 1024 foreign
"$SPFCTL" create --chunk-size 4K "$T/foreign.raw" "$T/ch/a.spf" --force 2>/dev/null
bad "swapped parent (another chain's image)" "$T/ch/b.spi" "$auuid" "verify export"
# same uuid, altered and resealed: the seal in the child's header catches it
cp "$T/a.keep" "$T/ch/a.spf"
spfpatch "$T/ch/a.spf" set h.label=str:resealed
bad "parent altered and resealed" "$T/ch/b.spi" "parent $auuid was rebuilt or altered (seal mismatch)" "verify export"
cp "$T/a.keep" "$T/ch/a.spf"
check "original parent back: chain exports again" "$SPFCTL" export "$T/ch/c.spi" "$T/c2.out"
# the wrong image of the right chain forced with --chain
img=$T/ch/c.spi
err=$("$SPFCTL" export --force --chain "$T/ch/a.spf" "$img" "$T/s.out" 2>&1 >/dev/null) && rc=0 || rc=$?
[ "$rc" = 1 ] && printf '%s' "$err" | grep -F "spfctl: $img: " |
	grep -qE "wrong parent \(expected $buuid, found $auuid\)|no image with uuid $buuid" &&
	pass "--chain skipping a level: wrong parent" ||
	fail "--chain skipping a level: wrong parent" "exit $rc: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ')"

# A cycle: b's parent is c and c's parent is b (headers patched, crcs and
# seals recomputed).  Seals make a consistent cycle impossible; the reader
# must refuse it promptly, whatever it finds first.
mkdir "$T/cyc"
cp "$T/ch/b.spi" "$T/ch/c.spi" "$T/cyc/"
spfpatch "$T/cyc/b.spi" set h.parent_uuid=hex:$(spfpatch "$T/cyc/c.spi" get h.uuid) \
	h.parent_seal=hex:$(spfpatch "$T/cyc/c.spi" get t.seal) h.parent_name=str:c.spi h.depth=2
spfpatch "$T/cyc/c.spi" set h.parent_uuid=hex:$(spfpatch "$T/cyc/b.spi" get h.uuid) \
	h.parent_seal=hex:$(spfpatch "$T/cyc/b.spi" get t.seal) h.parent_name=str:b.spi
img=$T/cyc/c.spi
for cmd in verify export; do
	expect_error_re "cycle b <-> c refused ($cmd)" 1 'seal mismatch|cycle|loop|depth' \
		timeout 20 "$SPFCTL" $cmd $([ $cmd = export ] && echo --force) "$img" $([ $cmd = export ] && echo "$T/cyc.out")
done
cp "$T/ch/c.spi" "$T/cyc/self.spi"
spfpatch "$T/cyc/self.spi" set h.parent_uuid=h.uuid h.parent_name=str:self.spi
img=$T/cyc/self.spi
expect_error_re "image that is its own parent refused" 1 'seal mismatch|cycle|loop|depth|own parent' \
	timeout 20 "$SPFCTL" export --force "$img" "$T/cyc.out"
# Odd --chain lists: refused, or the right disk; never a hang or a crash.
odd_chain() {	# odd_chain NAME FILES...
	local name=$1 rc; shift
	rm -f "$T/cyc.out"
	timeout 20 "$SPFCTL" export --chain "$@" "$T/cyc.out" 2>"$T/err" && rc=0 || rc=$?
	if [ "$rc" = 1 ] && grep -q '^spfctl: ' "$T/err"; then
		pass "$name (refused: $(head -n 1 "$T/err"))"
	elif [ "$rc" = 0 ] && cmp -s "$T/cyc.out" "$T/ch/l2.raw"; then
		pass "$name (accepted, right disk)"
	else
		fail "$name" "exit $rc: $(head -n 2 "$T/err" | tr '\n' ' ')"
	fi
}
odd_chain "--chain listing an image twice" "$T/ch/a.spf" "$T/ch/b.spi" "$T/ch/b.spi" "$T/ch/c.spi"
odd_chain "--chain with an image of another chain" "$T/ch/a.spf" "$T/ch/b.spi" "$T/base.spf" "$T/ch/c.spi"
odd_chain "--chain in reverse order" "$T/ch/b.spi" "$T/ch/a.spf" "$T/ch/c.spi"
expect_error "depth does not follow the parent's" 1 "does not follow the parent's depth" \
	bash -c "cp '$T/ch/b.spi' '$T/cyc/b2.spi' && $SPFPATCH '$T/cyc/b2.spi' set h.depth=5 >/dev/null &&
		cp '$T/ch/a.spf' '$T/cyc/a.spf' && '$SPFCTL' export '$T/cyc/b2.spi' '$T/cyc.out'"

# Odd files where the parent should be: never block, never follow a hint
# out of the folder.
mv "$T/ch/a.spf" "$T/a.away"
mkfifo "$T/ch/a.spf"
expect_error "a FIFO under the parent's name (no hang)" 1 "$auuid" \
	timeout 10 "$SPFCTL" export --force "$T/ch/b.spi" "$T/fifo.out"
rm -f "$T/ch/a.spf"
mkdir "$T/ch/a.spf"
expect_error "a directory under the parent's name" 1 "$auuid" \
	timeout 20 "$SPFCTL" export --force "$T/ch/b.spi" "$T/fifo.out"
rmdir "$T/ch/a.spf"
mkdir "$T/up"; cp "$T/ch/b.spi" "$T/up/"
cp "$T/a.away" "$T/a.spf"
spfpatch "$T/up/b.spi" set h.parent_name=str:../a.spf
expect_error "a parent hint with a path is not followed out of the folder" 1 "$auuid" \
	timeout 20 "$SPFCTL" export --force "$T/up/b.spi" "$T/fifo.out"
rm -f "$T/a.spf"
mv "$T/a.away" "$T/ch/a.spf"

# --- foreign files and features -----------------------------------------------------------
{ printf 'SPFI\0'; head -c 8192 /dev/urandom; } > "$T/shadow.spi"
SP="is a StorageCraft ShadowProtect image (proprietary format); spfctl reads the open SPF format"
img=$T/shadow.spi
bad "ShadowProtect file" "$img" "$SP" "info verify export"
expect_error "ShadowProtect file as --parent" 1 "spfctl: $img: $SP" \
	"$SPFCTL" create --parent "$img" "$T/src.raw" "$T/sp.spi"
cp "$T/shadow.spi" "$T/ch/a.spf"
img=$T/ch/b.spi
# spec: "a missing link says which file, which UUID and where it looked",
# even when a foreign file sits under the parent's name
expect_error "ShadowProtect file where the parent should be" 1 "$auuid" \
	"$SPFCTL" export "$img" "$T/sp.out"
cp "$T/a.keep" "$T/ch/a.spf"

fresh feat; spfpatch "$img" set h.incompat=^0x8
bad "unknown incompat feature" "$img" "this image needs a newer spfblk/spfctl (feature 0x8)" "info verify export"
fresh feat2; spfpatch "$img" set h.incompat=^0x8000000000000000
bad "unknown incompat feature (bit 63)" "$img" "this image needs a newer spfblk/spfctl (feature 0x8000000000000000)" "info verify export"
fresh compat; spfpatch "$img" set h.compat=^0x100
if "$SPFCTL" export "$img" "$T/compat.out" 2>"$T/err"; then
	same_bytes "unknown compat feature is ignored" "$T/src.raw" "$T/compat.out"
else
	fail "unknown compat feature is ignored" "$(head -n 1 "$T/err")"
fi
fresh ver; spfpatch "$img" set h.version=2
bad "format version 2" "$img" "unsupported format version 2; this spfctl reads version 1" "info verify export"
fresh codec; spfpatch "$img" set h.codec=7
bad "unknown codec" "$img" "unknown codec 7; this image needs a newer spfblk/spfctl" "info verify export"

# --- sizes and counts that overflow -----------------------------------------------------------
fresh ds1; spfpatch "$img" set h.disk_size=0x8000000000000000
bad "disk size 2^63" "$img" "invalid disk size 9223372036854775808 (a non-zero multiple of 512 up to 1 PiB)" "info verify export"
fresh ds2; spfpatch "$img" set h.disk_size=$(( (1 << 50) + 512 ))
bad "disk size 1 PiB + 512" "$img" "invalid disk size $(( (1 << 50) + 512 ))" "info verify export"
fresh ds3; spfpatch "$img" set h.disk_size=0
bad "disk size 0" "$img" "invalid disk size 0" "info verify export"
fresh ds4; spfpatch "$img" set h.disk_size=1000
bad "disk size not a multiple of 512" "$img" "invalid disk size 1000" "info verify export"
fresh cs1; spfpatch "$img" set h.chunk_shift=40
bad "chunk shift 40" "$img" "invalid chunk size 2^40 (4 KiB to 1 MiB)" "info verify export"
fresh cs2; spfpatch "$img" set h.chunk_shift=11
bad "chunk shift 11" "$img" "invalid chunk size 2^11" "info verify export"
fresh cs3; spfpatch "$img" set h.chunk_shift=0xffffffff
bad "chunk shift 2^32-1" "$img" "invalid chunk size 2^4294967295" "info verify export"
fresh dep; spfpatch "$img" set h.depth=70000
bad "depth 70000" "$img" "chain depth 70000 exceeds 65535" "info verify export"
fresh fullp; spfpatch "$img" set h.parent_disk_size=512
bad "full image with a parent link" "$img" "full image with a parent link" "info verify export"
fresh lab; spfpatch "$img" set h.label=str:$(printf 'x%.0s' $(seq 128))
bad "unterminated label" "$img" "unterminated label or parent name" "info verify export"
fresh ne; spfpatch "$img" set t.nr_entries=0x10000000000
bad "nr_entries > nr_chunks" "$img" "entry counts" "info verify export"
fresh ns; spfpatch "$img" set t.nr_stored=t.nr_entries t.nr_stored=+1
bad "nr_stored > nr_entries" "$img" "entry counts" "info verify export"
fresh sb; spfpatch "$img" set t.stored_bytes=0xffffffffffffffff
bad "stored bytes 2^64-1" "$img" "invalid stored byte count 18446744073709551615" "info verify export"
fresh de; spfpatch "$img" set t.data_end=0x8000000000000000
bad "data end past EOF" "$img" "invalid data end 9223372036854775808" "info verify export"
fresh ir; spfpatch "$img" set t.index_root=0x4000000000000000
bad "index root past EOF" "$img" "invalid index root offset 4611686018427387904" "info verify export"
fresh ir2; spfpatch "$img" set t.index_root=+1
bad "index root not on a block" "$img" "invalid index root offset $((root + 1))" "info verify export"
fresh so; spfpatch "$img" set t.summary_offset=0xfffffffffffff000
bad "summary offset 2^64-4096" "$img" "does not end at the trailer" "info verify export"
fresh ib; spfpatch "$img" set t.index_blocks=0x2000000000000000
bad "index blocks 2^61" "$img" "overruns the file" "info verify export"
fresh il; spfpatch "$img" set t.index_levels=9
bad "index levels 9" "$img" "invalid index depth 9" "info verify export"
fresh cnt; spfpatch "$img" set 'b[0].count=85'
bad "leaf count 85 > 84" "$img" "index block at $leaf0: invalid entry count 85" "verify export"
fresh cnt2; spfpatch "$img" set 'b[-1].count=170'
bad "node count 170 > 169" "$img" "index block at $root: invalid entry count 170" "verify export"
fresh cnt3; spfpatch "$img" set 'b[0].count=0xffff'
bad "leaf count 65535" "$img" "invalid entry count 65535" "verify export"
fresh eoff; spfpatch "$img" set "c[$chunk].offset=0x4000000000000000"
bad "chunk offset past EOF" "$img" "chunk $chunk data at 4611686018427387904+" "verify export"
fresh elen; spfpatch "$img" set "c[$chunk].length=0xffffffff"
bad "chunk length 2^32-1" "$img" "chunk $chunk" "verify export"
last=$(spfpatch "$T/base.spf" get 'b[0].count')
fresh enr; spfpatch "$img" set "b[0].e[$((last - 1))].chunk=0x10000000000" 'b[0].last_chunk=0x10000000000'
bad "chunk number past the disk" "$img" "out of bounds" "verify export"
fresh ord; spfpatch "$img" set 'b[0].e[2].chunk=b[0].e[1].chunk'
bad "entries out of order" "$img" "index block at $leaf0: entry 2 (chunk" "verify export"
fresh loop; spfpatch "$img" set "b[-1].e[0].offset=$root"
bad "node entry pointing at itself" "$img" "index block at $root points to invalid offset $root" "verify export"
fresh fwd; spfpatch "$img" set "b[-1].e[0].offset=$((size - 512 - 4096))"
bad "node entry pointing forward (at the summary)" "$img" "points to invalid offset" "verify export"
fresh st; spfpatch "$img" set "c[$chunk].state=9"
bad "unknown chunk state" "$img" "chunk $chunk has unknown state 9" "verify export"
fresh zs; spfpatch "$img" set "c[$chunk].state=1"
bad "zero chunk with data" "$img" "zero chunk $chunk with data" "verify export"

finish
