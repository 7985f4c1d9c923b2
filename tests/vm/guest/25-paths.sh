#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The read path's shortcuts, each checked by its counters and byte for
# byte:
#   - a whole plain raw chunk is read straight into the request's pages
#     (no decode: chunk_cache_misses stays put), a corrupt one still fails
#     with EIO on its range only;
#   - the decoded-chunk cache: 16 sequential 4 KiB reads of a zstd chunk,
#     and 4 readers of one chunk at once, decode it once;
#   - leaf fill: one index miss caches the rest of its leaf, except the
#     chunks an upper layer holds, which still read from that layer;
#   - --no-verify: any part of a plain raw chunk (of the chain or of a
#     writable device's overlay) is read straight in, and a corrupt chunk
#     reads as stored, with nothing logged;
#   - --verify=once (the default): a chunk whose check passed is not
#     checked again while the device is attached, so any part of a raw
#     one is then read straight in, even after the extent cache dropped
#     it; the marks are counted (verified_chunks) and cost a page per
#     32768 index entries (verified_bytes); a failed check is never
#     remembered; an overlay record is checked at every read;
#     --verify=always checks every read and marks nothing.
. "$(dirname "$0")/../../lib.sh"

# rd DEV BS SKIP COUNT OUT: O_DIRECT read of COUNT blocks of BS.
rd() { dd if="$1" of="$5" bs="$2" skip="$3" count="$4" iflag=direct status=none; }
# same NAME A B: PASS if files A and B are equal.
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(cmp "$2" "$3" 2>&1 | head -n 1)"; fi
}
# rd_same NAME SRC BS SKIP COUNT: PASS if an O_DIRECT read of COUNT blocks
# of BS at block SKIP of the device reads as the same blocks of file SRC.
rd_same() {
	rd "$DEV" "$3" "$4" "$5" "$T/out"
	dd if="$2" of="$T/want" bs="$3" skip="$4" count="$5" status=none
	same "$1" "$T/want" "$T/out"
}
# modes NAME WANT: PASS if the device's sysfs verify/verify_once are WANT.
modes() {
	local got
	got=$(sysval "$S/verify")/$(sysval "$S/verify_once")
	[ "$got" = "$2" ] && pass "$1" || fail "$1" "verify/verify_once are $got, expected $2"
}
# marks NAME CHUNKS BYTES: PASS if the device's verified_chunks and
# verified_bytes are CHUNKS and BYTES.
PG=$(getconf PAGESIZE)
marks() {
	local got
	got=$(sysval "$S/verified_chunks")/$(sysval "$S/verified_bytes")
	[ "$got" = "$2/$3" ] && pass "$1" ||
		fail "$1" "verified_chunks/verified_bytes are $got, expected $2/$3"
}
# delta NAME FILE BEFORE WANT: PASS if sysfs FILE moved by WANT.
delta() {
	local now
	now=$(sysval "$2")
	if [ $((now - $3)) -eq "$4" ]; then
		pass "$1"
	else
		fail "$1" "${2##*/} went from $3 to $now, expected +$4"
	fi
}

# ---- plain raw chunks: straight into the request -----------------------------------
rand_bytes paths-raw $((4 << 20)) > "$T/raw.src"
"$SPFCTL" create -c none -s 64K "$T/raw.src" "$T/raw.spf" 2>"$T/err" ||
	{ fail paths-raw-create "$(head -n 2 "$T/err")"; finish; }
if vm_attach paths-raw-attach --verify=always "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	m=$(sysval "$S/chunk_cache_misses")
	rd "$DEV" 1M 0 4 "$T/out"
	same paths-direct-whole-chunks "$T/raw.src" "$T/out"
	delta paths-direct-no-decode "$S/chunk_cache_misses" "$m" 0
	m=$(sysval "$S/chunk_cache_misses")
	rd_same paths-raw-partial-read "$T/raw.src" 4k 21 1
	delta paths-raw-partial-decodes-once "$S/chunk_cache_misses" "$m" 1
	vm_detach paths-raw-detach "$DEV" && pass paths-raw-detach
fi

# Chunk 10 of the raw image (all chunks stored, in order) is corrupted.
cp "$T/raw.spf" "$T/bad.spf"
poke "$T/bad.spf" $((4096 + 10 * 65536 + 777))
if vm_attach paths-raw-bad-attach "$T/bad.spf"; then
	kmsg_mark
	S=/sys/block/${DEV#/dev/}/spf
	if rd "$DEV" 64k 10 1 "$T/out" 2>/dev/null; then
		fail paths-direct-corrupt-eio "a whole corrupt raw chunk read fine"
	else
		pass paths-direct-corrupt-eio
	fi
	if rd "$DEV" 4k 161 1 "$T/out" 2>/dev/null; then
		fail paths-raw-partial-corrupt-eio "4 KiB of a corrupt raw chunk read fine"
	else
		pass paths-raw-partial-corrupt-eio
	fi
	rd "$DEV" 64k 9 1 "$T/out" && dd if="$T/raw.src" of="$T/want" bs=64k skip=9 count=1 status=none
	same paths-direct-corrupt-neighbour-9 "$T/want" "$T/out"
	rd "$DEV" 64k 11 5 "$T/out" && dd if="$T/raw.src" of="$T/want" bs=64k skip=11 count=5 status=none
	same paths-direct-corrupt-neighbours-after "$T/want" "$T/out"
	if kmsg_since | grep -q "chunk 10: checksum mismatch"; then
		pass paths-direct-corrupt-logged
	else
		fail paths-direct-corrupt-logged "no 'chunk 10: checksum mismatch' in the log"
	fi
	vm_detach paths-raw-bad-detach "$DEV" && pass paths-raw-bad-detach
fi

# ---- decoded-chunk cache: one decode for many small reads ----------------------------
# 2 MiB: text (compressible), then zeros.
{ cat /usr/share/common-licenses/* /usr/share/common-licenses/*; } | head -c $((1 << 20)) > "$T/z.src"
truncate -s $((2 << 20)) "$T/z.src"
# Chunks 3 and 7 must be stored data, not zeros: give them random bytes.
rand_bytes paths-z3 65536 | dd of="$T/z.src" bs=64k seek=3 conv=notrunc status=none
rand_bytes paths-z7 65536 | dd of="$T/z.src" bs=64k seek=7 conv=notrunc status=none
"$SPFCTL" create -c zstd -s 64K "$T/z.src" "$T/z.spf" 2>"$T/err" ||
	{ fail paths-zstd-create "$(head -n 2 "$T/err")"; finish; }
# --verify=always: chunks 3 and 7 are raw, which verify-once would read
# straight in once checked.
if vm_attach paths-zstd-attach --verify=always "$T/z.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	m=$(sysval "$S/chunk_cache_misses")
	h=$(sysval "$S/chunk_cache_hits")
	rd_same paths-decoded-sequential-4k-data "$T/z.src" 4k 48 16
	delta paths-decoded-sequential-4k-one-decode "$S/chunk_cache_misses" "$m" 1
	delta paths-decoded-sequential-4k-hits "$S/chunk_cache_hits" "$h" 15

	m=$(sysval "$S/chunk_cache_misses")
	for i in 0 1 2 3; do
		rd "$DEV" 4k $((112 + i * 4)) 4 "$T/par.$i" &
	done
	wait
	ok=1
	for i in 0 1 2 3; do
		dd if="$T/z.src" of="$T/want" bs=4k skip=$((112 + i * 4)) count=4 status=none
		cmp -s "$T/want" "$T/par.$i" || ok=0
	done
	[ "$ok" = 1 ] && pass paths-decoded-parallel-data ||
		fail paths-decoded-parallel-data "a parallel reader got wrong bytes"
	delta paths-decoded-parallel-one-decode "$S/chunk_cache_misses" "$m" 1
	dd if="$DEV" of="$T/out" bs=1M iflag=direct status=none
	same paths-zstd-whole-device "$T/z.src" "$T/out"
	vm_detach paths-zstd-detach "$DEV" && pass paths-zstd-detach
fi

# ---- --no-verify: no crc32c check, any part of a raw chunk read straight in ----------
if vm_attach paths-nv-attach --no-verify "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	[ "$(sysval "$S/verify")" = 0 ] && pass paths-nv-sysfs ||
		fail paths-nv-sysfs "verify is '$(sysval "$S/verify")', expected 0"
	m=$(sysval "$S/chunk_cache_misses")
	rd_same paths-nv-partial-4k "$T/raw.src" 4k 21 1
	# 3 sectors at an odd sector, and 96 KiB across a chunk boundary.
	rd_same paths-nv-partial-sectors "$T/raw.src" 512 1001 3
	dd if="$DEV" of="$T/out" bs=32k skip=3 count=3 iflag=direct status=none
	dd if="$T/raw.src" of="$T/want" bs=32k skip=3 count=3 status=none
	same paths-nv-partial-across-chunks "$T/want" "$T/out"
	delta paths-nv-partial-no-decode "$S/chunk_cache_misses" "$m" 0
	reads_as paths-nv-whole-device "$DEV" "$T/raw.src"
	"$SPFCTL" list --json > "$T/list.json" 2>&1
	if python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))["spfdevices"]; sys.exit(0 if [x["verify"] for x in d if x["device"] == sys.argv[2]] == [False] else 1)' "$T/list.json" "$DEV"; then
		pass paths-nv-list-json
	else
		fail paths-nv-list-json "$(head -c 300 "$T/list.json")"
	fi
	"$SPFCTL" list --bytes > "$T/list.txt" 2>&1
	if head -n 1 "$T/list.txt" | grep -Eq ' ENCRYPTED +VERIFY +VERIFY-MODE +CACHE ' &&
	   awk -v d="$DEV" '$1 == d { print $7 }' "$T/list.txt" | grep -qx 0; then
		pass paths-nv-list
	else
		fail paths-nv-list "$(head -n 3 "$T/list.txt" | tr '\n' '|')"
	fi
	vm_detach paths-nv-detach "$DEV" && pass paths-nv-detach
fi
# The corrupt chunk 10 reads as the file holds it, and nothing is logged.
if vm_attach paths-nv-bad-attach --no-verify "$T/bad.spf"; then
	kmsg_mark
	S=/sys/block/${DEV#/dev/}/spf
	if rd "$DEV" 4k 161 1 "$T/out" 2>/dev/null && rd "$DEV" 64k 10 1 "$T/out2" 2>/dev/null; then
		dd if="$T/bad.spf" of="$T/want" bs=4k skip=$((1 + 161)) count=1 status=none
		dd if="$T/bad.spf" of="$T/want2" bs=64k skip=$((4096 + 10 * 65536)) count=1 iflag=skip_bytes status=none
		if cmp -s "$T/want" "$T/out" && cmp -s "$T/want2" "$T/out2" && ! cmp -s "$T/want2" <(dd if="$T/raw.src" bs=64k skip=10 count=1 status=none); then
			pass paths-nv-corrupt-unchecked
		else
			fail paths-nv-corrupt-unchecked "the corrupt chunk does not read as its stored bytes"
		fi
	else
		fail paths-nv-corrupt-unchecked "reading the corrupt chunk failed with --no-verify"
	fi
	[ "$(sysval "$S/corrupt_chunks")" = 0 ] && ! kmsg_since | grep -q "checksum mismatch" &&
		pass paths-nv-corrupt-not-logged ||
		fail paths-nv-corrupt-not-logged "corrupt_chunks $(sysval "$S/corrupt_chunks"); $(kmsg_since | grep -m1 spfblk)"
	vm_detach paths-nv-bad-detach "$DEV" && pass paths-nv-bad-detach
fi
# A writable device: partial reads of the overlay's raw records.
cp "$T/raw.src" "$T/model"
if wattach paths-nv-writable "$T/nv.spi" "$T/raw.spf" --no-verify; then
	put "$DEV" "$T/model" $((100 * 1024)) 8192
	put "$DEV" "$T/model" $((1 << 20)) 65536
	rd "$DEV" 4k 26 1 "$T/out"
	dd if="$T/model" of="$T/want" bs=4k skip=26 count=1 status=none
	same paths-nv-overlay-partial "$T/want" "$T/out"
	reads_as paths-nv-overlay-device "$DEV" "$T/model"
	"$SPFCTL" detach --discard "$DEV" >/dev/null 2>&1 && pass paths-nv-writable-discard ||
		fail paths-nv-writable-discard "spfctl detach --discard failed"
fi

# ---- --verify=once (the default) and --verify=always ----------------------------------
# Chunk N of raw.spf is 64 KiB at 4 KiB block 16N: block 33 is in chunk 2,
# block 50 in chunk 3.
if vm_attach paths-always-attach --verify=always "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	modes paths-always-sysfs 1/0
	rd "$DEV" 64k 3 1 "$T/out"
	m=$(sysval "$S/chunk_cache_misses")
	k=$(sysval "$S/checks_skipped")
	rd_same paths-always-partial-data "$T/raw.src" 4k 50 1
	delta paths-always-partial-decoded "$S/chunk_cache_misses" "$m" 1
	rd "$DEV" 64k 3 1 "$T/out"
	delta paths-always-never-skips "$S/checks_skipped" "$k" 0
	marks paths-always-marks-nothing 0 0
	vm_detach paths-always-detach "$DEV" && pass paths-always-detach
fi
if vm_attach paths-once-attach "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	modes paths-once-default-sysfs 1/1
	# Chunk 2, never read: a partial read decodes and checks it.
	m=$(sysval "$S/chunk_cache_misses")
	k=$(sysval "$S/checks_skipped")
	v=$(sysval "$S/verified_chunks")
	rd_same paths-once-first-read-data "$T/raw.src" 4k 33 1
	delta paths-once-first-read-decoded "$S/chunk_cache_misses" "$m" 1
	delta paths-once-first-read-checked "$S/checks_skipped" "$k" 0
	delta paths-once-first-read-marked "$S/verified_chunks" "$v" 1
	[ "$(sysval "$S/verified_bytes")" = "$PG" ] && pass paths-once-marks-one-page ||
		fail paths-once-marks-one-page "verified_bytes is $(sysval "$S/verified_bytes"), expected $PG"
	# Chunk 3, checked as it is read whole into the request; then 4 KiB
	# of it, and all of it again, are read straight in, unchecked.
	rd_same paths-once-whole-chunk-data "$T/raw.src" 64k 3 1
	m=$(sysval "$S/chunk_cache_misses")
	k=$(sysval "$S/checks_skipped")
	rd_same paths-once-checked-partial-data "$T/raw.src" 4k 50 1
	delta paths-once-checked-partial-direct "$S/chunk_cache_misses" "$m" 0
	delta paths-once-checked-partial-skipped "$S/checks_skipped" "$k" 1
	rd_same paths-once-checked-whole-data "$T/raw.src" 64k 3 1
	delta paths-once-checked-whole-skipped "$S/checks_skipped" "$k" 2
	# Chunk 2 was checked by its decode: 4 KiB elsewhere in it now
	# comes straight in too.
	m=$(sysval "$S/chunk_cache_misses")
	rd_same paths-once-decoded-then-direct-data "$T/raw.src" 4k 40 1
	delta paths-once-decoded-then-direct "$S/chunk_cache_misses" "$m" 0
	reads_as paths-once-whole-device "$DEV" "$T/raw.src"
	# 64 chunks, each checked once: their marks fill one page.
	marks paths-once-whole-device-marked 64 "$PG"
	# Dropping the extent cache (its shrinker) keeps what was checked:
	# 4 KiB of chunk 3 still comes straight in, unchecked, and neither is
	# a whole read of chunk 5.
	sync; echo 2 > /proc/sys/vm/drop_caches
	if [ "$(sysval "$S/cache_bytes")" = 0 ]; then
		m=$(sysval "$S/chunk_cache_misses")
		k=$(sysval "$S/checks_skipped")
		rd_same paths-once-shrunk-data "$T/raw.src" 4k 51 1
		delta paths-once-shrunk-direct "$S/chunk_cache_misses" "$m" 0
		delta paths-once-shrunk-skipped "$S/checks_skipped" "$k" 1
		rd_same paths-once-shrunk-whole-data "$T/raw.src" 64k 5 1
		delta paths-once-shrunk-whole-skipped "$S/checks_skipped" "$k" 2
		marks paths-once-shrunk-marks-kept 64 "$PG"
	else
		fail paths-once-shrunk-data "drop_caches left cache_bytes at $(sysval "$S/cache_bytes")"
	fi
	"$SPFCTL" list --json > "$T/list.json" 2>&1
	"$SPFCTL" list --bytes > "$T/list.txt" 2>&1
	if python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))["spfdevices"]; sys.exit(0 if [(x["verify"], x["verify-mode"]) for x in d if x["device"] == sys.argv[2]] == [(True, "once")] else 1)' "$T/list.json" "$DEV" &&
	   head -n 1 "$T/list.txt" | grep -Eq ' VERIFY +VERIFY-MODE +CACHE ' &&
	   awk -v d="$DEV" '$1 == d { print $8 }' "$T/list.txt" | grep -qx once; then
		pass paths-once-list
	else
		fail paths-once-list "$(tr -d '\n\t' < "$T/list.json" | head -c 400) $(head -n 3 "$T/list.txt" | tr '\n' '|')"
	fi
	vm_detach paths-once-detach "$DEV" && pass paths-once-detach
fi
# A failed check is not remembered: chunk 10 of bad.spf fails every time,
# whole or in part, and its neighbours read right.
if vm_attach paths-once-bad-attach --verify=once "$T/bad.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	k=$(sysval "$S/checks_skipped")
	v=$(sysval "$S/verified_chunks")
	n=0
	for i in 1 2 3; do
		rd "$DEV" 64k 10 1 "$T/out" 2>/dev/null || n=$((n + 1))
		rd "$DEV" 4k $((160 + i)) 1 "$T/out" 2>/dev/null || n=$((n + 1))
	done
	[ "$n" = 6 ] && pass paths-once-corrupt-always-eio ||
		fail paths-once-corrupt-always-eio "$((6 - n)) of 6 reads of the corrupt chunk succeeded"
	delta paths-once-corrupt-never-skipped "$S/checks_skipped" "$k" 0
	delta paths-once-corrupt-never-marked "$S/verified_chunks" "$v" 0
	rd "$DEV" 64k 11 5 "$T/out" && dd if="$T/raw.src" of="$T/want" bs=64k skip=11 count=5 status=none
	same paths-once-corrupt-neighbours "$T/want" "$T/out"
	vm_detach paths-once-bad-detach "$DEV" && pass paths-once-bad-detach
fi
# A zstd chunk decoded once is not checked again when it is decoded
# again: 40 other chunks' decodes push it out of the 16-slot cache.
# base64 text: each 64 KiB chunk compresses, so each is decoded.
rand_bytes paths-zb $((3 << 20)) | base64 -w 0 | head -c $((3 << 20)) > "$T/zb.src"
"$SPFCTL" create -c zstd -s 64K "$T/zb.src" "$T/zb.spf" 2>"$T/err" ||
	fail paths-once-zstd-create "$(head -n 2 "$T/err")"
if [ -s "$T/zb.spf" ] && vm_attach paths-once-zstd-attach "$T/zb.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	rd "$DEV" 4k 0 1 "$T/out"
	for i in $(seq 1 40); do rd "$DEV" 4k $((i * 16)) 1 "$T/out"; done
	m=$(sysval "$S/chunk_cache_misses")
	k=$(sysval "$S/checks_skipped")
	rd_same paths-once-zstd-again-data "$T/zb.src" 4k 5 1
	delta paths-once-zstd-again-decoded "$S/chunk_cache_misses" "$m" 1
	delta paths-once-zstd-again-skipped "$S/checks_skipped" "$k" 1
	reads_as paths-once-zstd-whole-device "$DEV" "$T/zb.src"
	vm_detach paths-once-zstd-detach "$DEV" && pass paths-once-zstd-detach
fi
# The marks follow the index, not the disk: 1 MiB at 1, 17, 33 and 49
# GiB of a 64 GiB sparse disk are 64 index entries in a row, whose marks
# share one page, where a bit per chunk of the disk would take four.
truncate -s 64G "$T/sp.src"
for g in 1 17 33 49; do
	rand_bytes paths-sp-$g $((1 << 20)) |
		dd of="$T/sp.src" bs=1M seek=$((g << 10)) conv=notrunc status=none
done
"$SPFCTL" create -c none -s 64K "$T/sp.src" "$T/sp.spf" 2>"$T/err" ||
	fail paths-once-sparse-create "$(head -n 2 "$T/err")"
if [ -s "$T/sp.spf" ] && vm_attach paths-once-sparse-attach "$T/sp.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	v=$(sysval "$S/verified_chunks")
	for g in 1 17 33 49; do
		rd_same paths-once-sparse-data-$g "$T/sp.src" 1M $((g << 10)) 1
	done
	delta paths-once-sparse-marked "$S/verified_chunks" "$v" 64
	[ "$(sysval "$S/verified_bytes")" = "$PG" ] && pass paths-once-sparse-one-page ||
		fail paths-once-sparse-one-page "verified_bytes is $(sysval "$S/verified_bytes"), expected $PG"
	vm_detach paths-once-sparse-detach "$DEV" && pass paths-once-sparse-detach
fi
rm -f "$T/sp.src" "$T/sp.spf"
# A writable device: a chunk of the chain, once checked, is not checked
# again, but its overlay record, once written, is checked at every read
# and never marked.
cp "$T/raw.src" "$T/model"
if wattach paths-once-writable "$T/once.spi" "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	rd_same paths-once-writable-chain-data "$T/raw.src" 64k 7 1
	k=$(sysval "$S/checks_skipped")
	rd_same paths-once-writable-chain-again "$T/raw.src" 64k 7 1
	delta paths-once-writable-chain-skipped "$S/checks_skipped" "$k" 1
	put "$DEV" "$T/model" $((7 * 65536 + 8192)) 4096
	v=$(sysval "$S/verified_chunks")
	k=$(sysval "$S/checks_skipped")
	for i in 1 2; do rd_same paths-once-writable-record-data-$i "$T/model" 64k 7 1; done
	delta paths-once-writable-record-checked "$S/checks_skipped" "$k" 0
	delta paths-once-writable-record-unmarked "$S/verified_chunks" "$v" 0
	reads_as paths-once-writable-device "$DEV" "$T/model"
	"$SPFCTL" detach --discard "$DEV" >/dev/null 2>&1 && pass paths-once-writable-discard ||
		fail paths-once-writable-discard "spfctl detach --discard failed"
fi
# Bad modes, and --verify=once with a --no-verify: the last one counts.
"$SPFCTL" attach --verify=sometimes "$T/raw.spf" >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" = 2 ] && grep -q "invalid --verify 'sometimes' (always, once or never)" "$T/err"; then
	pass paths-verify-bad-mode
else
	fail paths-verify-bad-mode "exit $rc: $(head -n 2 "$T/err")"
fi
if vm_attach paths-verify-last-attach --verify=once --no-verify "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	modes paths-verify-last-wins 0/0
	vm_detach paths-verify-last-detach "$DEV" && pass paths-verify-last-detach
fi

# ---- leaf fill -----------------------------------------------------------------------------
# 4 KiB chunks of random bytes: every chunk stored, leaves of 84 chunks.
# The incremental rewrites chunk 5 only.
rand_bytes paths-leaf $((2 << 20)) > "$T/l0.src"
cp "$T/l0.src" "$T/l1.src"
rand_bytes paths-leaf5 4096 | dd of="$T/l1.src" bs=4k seek=5 conv=notrunc status=none
"$SPFCTL" create -c lz4 -s 4K "$T/l0.src" "$T/l0.spf" 2>"$T/err" &&
	"$SPFCTL" create -p "$T/l0.spf" "$T/l1.src" "$T/l1.spi" 2>>"$T/err" ||
	{ fail paths-leaf-create "$(head -n 2 "$T/err")"; finish; }
if vm_attach paths-leaf-attach "$T/l1.spi"; then
	S=/sys/block/${DEV#/dev/}/spf
	rd "$DEV" 4k 4 1 "$T/out"
	m=$(sysval "$S/cache_misses")
	rd "$DEV" 4k 0 84 "$T/out"
	dd if="$T/l1.src" of="$T/want" bs=4k count=84 status=none
	same paths-leaf-fill-data "$T/want" "$T/out"
	# Chunk 5 is the incremental's: the fill must not have cached the
	# full image's entry for it, so it is the one miss.
	delta paths-leaf-fill-one-miss "$S/cache_misses" "$m" 1
	dd if="$DEV" of="$T/out" bs=1M iflag=direct status=none
	same paths-leaf-whole-device "$T/l1.src" "$T/out"
	vm_detach paths-leaf-detach "$DEV" && pass paths-leaf-detach
fi
finish
