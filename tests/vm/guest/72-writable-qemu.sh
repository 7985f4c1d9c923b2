#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Writable attach, part 3 (issue 7; 70-writable.sh, 71-writable-replay.sh):
# qemu's block layer straight on the writable device, with no qcow2
# overlay: qemu-io -f raw writes patterns (512 B at an unaligned offset,
# 4 KiB across a chunk boundary, 64 KiB, 100 KiB, 128 KiB, the last 4 KiB)
# and write -z, and reads each pattern back; blkdiscard of whole chunks and
# of part of a chunk, and blkdiscard -z (zeroout) at an unaligned offset,
# read as zeros; with --log-compress, chunks of random bytes, of text, and
# of 4 KiB random then text are stored raw, compressed and raw (the codec
# probe, compress.c).  Without it (the default) every record is raw, and
# the seal compresses the text chunk.  The device equals a model (the source disk with the same
# changes) byte for byte; detach seals, verify passes, and the sealed image
# attached read-only reads like the model and passes qemu-io -r's pattern
# reads.  The chain's files are unchanged (sha256).
. "$(dirname "$0")/../../lib.sh"
need_spfctl

W=$T/w
CS=65536
MB=1048576
SIZE=$((16 * MB))
mkdir -p "$W"
t0=$SECONDS
tnote() { echo "# 72-writable-qemu: $1 at $((SECONDS - t0)) s"; }

{
	head -c $((8 * MB)) /dev/urandom
	head -c $((4 * MB)) /dev/zero
	head -c $((4 * MB)) /dev/urandom
} > "$W/l0.raw"
cp "$W/l0.raw" "$W/l1.raw"
for c in 1 16 80 180; do
	dd if=/dev/urandom of="$W/l1.raw" bs=$CS seek=$c count=1 conv=notrunc status=none
done
if ! "$SPFCTL" create -c deflate -s 64K "$W/l0.raw" "$W/full.spf" >/dev/null 2>"$T/err" ||
   ! "$SPFCTL" create --parent "$W/full.spf" "$W/l1.raw" "$W/i1.spi" >/dev/null 2>>"$T/err"; then
	fail wr-qemu-chain "spfctl create: $(head -n 3 "$T/err" | tr '\n' ' ')"
	finish
fi
(cd "$W" && sha256sum full.spf i1.spi) > "$T/chain.sha256"
tnote "chain built"

# last_states OVERLAY CHUNK...: "chunk:state/length" of each chunk's last
# record.  Each record: le32 magic, u8 state, ..., le64 chunk at 16, le32
# length at 24; 64 bytes, then its stored bytes (docs/format.md 11).
last_states() {
	python3 - "$@" <<'EOP'
import struct, sys
d = open(sys.argv[1], 'rb').read()
pos, last = 4096, {}
while pos + 64 <= len(d):
    magic, state = struct.unpack_from('<IB', d, pos)
    chunk, length = struct.unpack_from('<QI', d, pos + 16)
    if magic != 0x57465053:
        break
    last[chunk] = (state, length)
    pos += 64 + length
print(' '.join('%d:%d/%d' % (c, *last.get(c, (0, 0))) for c in map(int, sys.argv[2:])))
EOP
}


# ---- qemu-io on the writable device (raw, no qcow2) ------------------------------------------
if ! command -v qemu-io >/dev/null; then
	skip wr-qemu-io "qemu-io is not installed"
elif wattach wr-qemu-attach "$W/q.spi" "$W/i1.spi" --log-compress; then
	v=$(sysval "/sys/block/spf$IDX/spf/log_compress")
	[ "$v" = 1 ] && pass wr-log-compress-sysfs ||
		fail wr-log-compress-sysfs "spf/log_compress is '$v' with --log-compress, want 1"
	cp "$W/l1.raw" "$W/model"
	# pattern offset length
	pats="0xab $MB 65536
0x5a 1536 512
0x11 $((2 * CS - 512)) 4096
0x22 $((5 * MB)) 102400
0x33 $((9 * MB + 4096)) 131072
0x44 $((SIZE - 4096)) 4096"
	args=()
	while read -r p o l; do
		args+=(-c "write -P $p $o $l")
		head -c "$l" /dev/zero | tr '\0' "\\$(printf '%03o' "$p")" |
			dd of="$W/model" bs="$l" seek="$o" oflag=seek_bytes conv=notrunc status=none
	done <<< "$pats"
	args+=(-c "write -z $((6 * MB)) $((3 * CS))")
	dd if=/dev/zero of="$W/model" bs=$CS seek=$((6 * MB / CS)) count=3 conv=notrunc status=none
	while read -r p o l; do
		args+=(-c "read -P $p $o $l")
	done <<< "$pats"
	out=$(qemu-io -f raw "${args[@]}" "$DEV" 2>&1)
	nw=$(grep -c '^wrote ' <<< "$out")
	nr=$(grep -c '^read ' <<< "$out")
	if [ "$nw" = 7 ] && [ "$nr" = 6 ] && ! grep -qi 'fail\|error' <<< "$out"; then
		pass wr-qemu-io
	else
		fail wr-qemu-io "$nw writes, $nr reads: $(grep -i 'fail\|error' <<< "$out" | head -n 3 | tr '\n' ' ')"
	fi
	# Discard: whole chunks and a partial one read as zeros; zeroout too.
	if err=$(blkdiscard -o $((10 * MB)) -l $((2 * CS)) "$DEV" 2>&1) &&
	   err=$(blkdiscard -o $((11 * MB + 4096)) -l 8192 "$DEV" 2>&1) &&
	   err=$(blkdiscard -z -o $((12 * MB + 512 * 3)) -l 10240 "$DEV" 2>&1); then
		pass wr-discard-zeroout
	else
		fail wr-discard-zeroout "$err"
	fi
	dd if=/dev/zero of="$W/model" bs=$CS seek=$((10 * MB / CS)) count=2 conv=notrunc status=none
	dd if=/dev/zero of="$W/model" bs=8192 seek=$((11 * MB + 4096)) count=1 oflag=seek_bytes conv=notrunc status=none
	dd if=/dev/zero of="$W/model" bs=10240 seek=$((12 * MB + 512 * 3)) count=1 oflag=seek_bytes conv=notrunc status=none
	# The codec probe (compress.c): a chunk of random bytes is stored
	# raw, a chunk of text compressed, a chunk whose first 4 KiB are
	# random raw, although the rest is text (the probe's trade-off), and
	# a chunk that deflate shrinks by about 9% (bytes 0..159: 7.25 bits
	# of entropy each) raw, as saving less than 1/8 is not worth the
	# codec; the overlay's last records say so.  The seal compresses the
	# last two (tests/user/87-overlay.sh).
	head -c $CS /dev/urandom > "$T/rand.chunk"
	yes 'the quick brown fox jumps over the lazy dog' | head -c $CS > "$T/text.chunk"
	{ head -c 4096 "$T/rand.chunk"; head -c $((CS - 4096)) "$T/text.chunk"; } > "$T/mixed.chunk"
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(b % 160 for b in open(sys.argv[1], "rb").read()))' \
		"$T/rand.chunk" > "$T/marg.chunk"
	for f in rand:220 text:221 mixed:222 marg:223; do
		dd if="$T/${f%:*}.chunk" of="$DEV" bs=$CS seek="${f#*:}" oflag=direct conv=notrunc status=none
		dd if="$T/${f%:*}.chunk" of="$W/model" bs=$CS seek="${f#*:}" conv=notrunc status=none
	done
	states=$(last_states "$W/q.spi" 220 221 222 223)
	if [[ "$states" =~ ^220:2/65536\ 221:3/([0-9]+)\ 222:2/65536\ 223:2/65536$ ]] &&
	   [ "${BASH_REMATCH[1]}" -lt 4096 ]; then
		pass wr-codec-probe
	else
		fail wr-codec-probe "last records (chunk:state/length) $states; want 220 raw (2/65536), 221 compressed (3/<4096), 222 and 223 raw (2/65536)"
	fi
	reads_as wr-qemu-reads "$DEV" "$W/model"
	vm_detach wr-qemu-detach "$DEV" && expect_ok wr-qemu-verify "$SPFCTL" verify "$W/q.spi"
	if vm_attach wr-qemu-sealed "$W/q.spi"; then
		reads_as wr-qemu-sealed-reads "$DEV" "$W/model"
		args=()
		while read -r p o l; do
			args+=(-c "read -P $p $o $l")
		done <<< "$pats"
		out=$(qemu-io -r -f raw "${args[@]}" "$DEV" 2>&1)
		nr=$(grep -c '^read ' <<< "$out")
		[ "$nr" = 6 ] && ! grep -qi 'fail\|error' <<< "$out" && pass wr-qemu-sealed-patterns ||
			fail wr-qemu-sealed-patterns "$nr reads: $(grep -i 'fail\|error' <<< "$out" | head -n 3 | tr '\n' ' ')"
		vm_detach wr-qemu-sealed-detach "$DEV"
	fi
fi
tnote "qemu-io checked"

# ---- the default: records raw as written, compressed by the seal --------------------------
if wattach wr-raw-attach "$W/r.spi" "$W/i1.spi"; then
	v=$(sysval "/sys/block/spf$IDX/spf/log_compress")
	[ "$v" = 0 ] && pass wr-raw-sysfs ||
		fail wr-raw-sysfs "spf/log_compress is '$v' without --log-compress, want 0"
	cp "$W/l1.raw" "$W/rmodel"
	head -c $CS /dev/urandom > "$T/rand.chunk"
	yes 'the quick brown fox jumps over the lazy dog' | head -c $CS > "$T/text.chunk"
	for f in rand:220 text:221; do
		dd if="$T/${f%:*}.chunk" of="$DEV" bs=$CS seek="${f#*:}" oflag=direct conv=notrunc status=none
		dd if="$T/${f%:*}.chunk" of="$W/rmodel" bs=$CS seek="${f#*:}" conv=notrunc status=none
	done
	# 4 KiB of text into chunk 150 (a zero chunk of the chain): its
	# read-modify-write is stored raw too.
	yes 'spfblk' | head -c 4096 | dd of="$DEV" bs=4096 seek=$((150 * CS / 4096)) oflag=direct conv=notrunc status=none
	yes 'spfblk' | head -c 4096 | dd of="$W/rmodel" bs=4096 seek=$((150 * CS / 4096)) conv=notrunc status=none
	states=$(last_states "$W/r.spi" 220 221 150)
	[ "$states" = "220:2/65536 221:2/65536 150:2/65536" ] && pass wr-raw-records ||
		fail wr-raw-records "last records (chunk:state/length) $states; want all three raw (2/65536)"
	reads_as wr-raw-reads "$DEV" "$W/rmodel"
	out=$("$SPFCTL" detach "$DEV" 2>&1) && rc=0 || rc=$?
	[ "$rc" = 0 ] && [[ "$out" == *"(3 records, 0 superseded dropped, 2 raw compressed)"* ]] &&
		pass wr-raw-seal ||
		fail wr-raw-seal "spfctl detach exited $rc: $out (want the text chunk and chunk 150 compressed by the seal)"
	expect_ok wr-raw-verify "$SPFCTL" verify "$W/r.spi"
	if "$SPFCTL" export "$W/r.spi" "$W/r.raw" 2>"$T/err"; then
		same_bytes wr-raw-export "$W/r.raw" "$W/rmodel"
	else
		fail wr-raw-export "spfctl export: $(head -n 3 "$T/err" | tr '\n' ' ')"
	fi
	rm -f "$W/r.raw"
fi
tnote "raw records checked"

out=$(cd "$W" && sha256sum -c --quiet "$T/chain.sha256" 2>&1) && pass wr-qemu-chain-unchanged ||
	fail wr-qemu-chain-unchanged "$out"
left=$(spf_devices | tr '\n' ' ')
[ -z "$left" ] && pass wr-qemu-no-devices || fail wr-qemu-no-devices "devices left: $left"
finish
