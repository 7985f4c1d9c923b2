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
#     chunks an upper layer holds, which still read from that layer.
. "$(dirname "$0")/../../lib.sh"

# rd DEV BS SKIP COUNT OUT: O_DIRECT read of COUNT blocks of BS.
rd() { dd if="$1" of="$5" bs="$2" skip="$3" count="$4" iflag=direct status=none; }
# same NAME A B: PASS if files A and B are equal.
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(cmp "$2" "$3" 2>&1 | head -n 1)"; fi
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
if vm_attach paths-raw-attach "$T/raw.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	m=$(sysval "$S/chunk_cache_misses")
	rd "$DEV" 1M 0 4 "$T/out"
	same paths-direct-whole-chunks "$T/raw.src" "$T/out"
	delta paths-direct-no-decode "$S/chunk_cache_misses" "$m" 0
	m=$(sysval "$S/chunk_cache_misses")
	rd "$DEV" 4k 21 1 "$T/out"
	dd if="$T/raw.src" of="$T/want" bs=4k skip=21 count=1 status=none
	same paths-raw-partial-read "$T/want" "$T/out"
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
if vm_attach paths-zstd-attach "$T/z.spf"; then
	S=/sys/block/${DEV#/dev/}/spf
	m=$(sysval "$S/chunk_cache_misses")
	h=$(sysval "$S/chunk_cache_hits")
	rd "$DEV" 4k 48 16 "$T/out"
	dd if="$T/z.src" of="$T/want" bs=4k skip=48 count=16 status=none
	same paths-decoded-sequential-4k-data "$T/want" "$T/out"
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
