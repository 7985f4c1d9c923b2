#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Writable attach, part 2 (issue 7, docs/format.md §11; part 1 is
# 70-writable.sh):
#  - fio --verify (crc32c) with mixed write sizes (512 B to 256 KiB, 512 B
#    aligned, libaio iodepth 4, O_DIRECT) over the whole writable device;
#    detach seals; the sealed image attached read-only (a dd copy of it:
#    fio cannot open a read-only device for a write job) passes
#    fio --verify_only with the same job, and equals spfctl export;
#  - replay: an overlay copied while attached (after a sync: a consistent
#    prefix), then cut in the middle of its last record, attaches again:
#    the kernel logs the torn tail (bytes, record, offset), truncates the
#    file at the last good record, and the device holds everything before
#    it byte for byte; another copy with garbage appended is sealed by
#    `spfctl recover`; an attached overlay is refused by recover;
#  - refusals, each with its message, no device left and the files
#    unchanged: --writable without --overlay and the reverse (usage, exit
#    2), an overlay of another chain, of another parent in the same chain,
#    a sealed image as the overlay, a chain file as the overlay, an overlay
#    on a read-only bind mount;
#  (an encrypted chain: 73-writable-enc.sh)
. "$(dirname "$0")/../../lib.sh"
need_spfctl

W=$T/w
CS=65536
MB=1048576
SIZE=$((8 * MB))
mkdir -p "$W"
t0=$SECONDS
tnote() { echo "# 71-writable-replay: $1 at $((SECONDS - t0)) s"; }
mkkey "$T/key"

{
	head -c $((3 * MB)) /dev/urandom
	head -c $((2 * MB)) /dev/zero
	yes "spfblk writable replay test" | head -c $((2 * MB))
	head -c $((1 * MB)) /dev/urandom
} > "$W/l0.raw"
cp "$W/l0.raw" "$W/l1.raw"
for c in 3 50 100; do
	dd if=/dev/urandom of="$W/l1.raw" bs=$CS seek=$c count=1 conv=notrunc status=none
done
mkdir "$W/o"
head -c $((2 * MB)) /dev/urandom > "$W/o/other.raw"
if ! "$SPFCTL" create -c lz4 "$W/l0.raw" "$W/full.spf" >/dev/null 2>"$T/err" ||
   ! "$SPFCTL" create --parent "$W/full.spf" "$W/l1.raw" "$W/i1.spi" >/dev/null 2>>"$T/err" ||
   ! "$SPFCTL" create "$W/o/other.raw" "$W/o/other.spf" >/dev/null 2>>"$T/err"; then
	fail wrr-chain "spfctl create: $(head -n 3 "$T/err" | tr '\n' ' ')"
	finish
fi
(cd "$W" && sha256sum full.spf i1.spi o/other.spf) > "$T/chain.sha256"
tnote "chains built"

chain_unchanged() {
	local out
	if out=$(cd "$W" && sha256sum -c --quiet "$T/chain.sha256" 2>&1); then
		pass "$1"
	else
		fail "$1" "chain files changed: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	fi
}

# ---- fio --verify with mixed sizes ------------------------------------------------------------
if ! command -v fio >/dev/null; then
	skip wrr-fio "fio is not installed"
elif wattach wrr-fio-attach "$W/f.spi" "$W/i1.spi"; then
	job=(--name=spfwrite --rw=randwrite --bssplit=512/20:4k/30:16k/20:100k/15:256k/15
		"--size=$SIZE" --verify=crc32c --verify_fatal=1 --randrepeat=1 --randseed=1234
		--output-format=terse --terse-version=3)
	out=$(fio "${job[@]}" --filename="$DEV" --ioengine=libaio --iodepth=4 --direct=1 --do_verify=1 2>&1) && rc=0 || rc=$?
	IFS=';' read -r -a f <<< "$(grep '^3;' <<< "$out" | tail -n 1)"
	# terse v3 (0-based): 4 error, 5 read KiB, 46 write KiB
	if [ "$rc" = 0 ] && [ "${f[4]:-x}" = 0 ] && [ "${f[46]:-0}" = $((SIZE / 1024)) ]; then
		pass wrr-fio-verify
		echo "# 71-writable-replay: fio wrote ${f[46]} KiB, read back ${f[5]} KiB"
	else
		fail wrr-fio-verify "exit $rc, error ${f[4]:-?}: $(grep -v '^3;' <<< "$out" | tail -n 3 | tr '\n' ' ')"
	fi
	dd if="$DEV" of="$W/f.img" iflag=direct bs=1M status=none
	tnote "fio done"
	vm_detach wrr-fio-seal "$DEV" && expect_ok wrr-fio-sealed-verify "$SPFCTL" verify "$W/f.spi"
	tnote "fio overlay sealed"
	if vm_attach wrr-fio-sealed-attach "$W/f.spi"; then
		reads_as wrr-fio-sealed-reads "$DEV" "$W/f.img"
		dd if="$DEV" of="$T/ro.img" iflag=direct bs=1M status=none
		out=$(fio "${job[@]}" --filename="$T/ro.img" --ioengine=psync --verify_only 2>&1) && rc=0 || rc=$?
		IFS=';' read -r -a f <<< "$(grep '^3;' <<< "$out" | tail -n 1)"
		if [ "$rc" = 0 ] && [ "${f[4]:-x}" = 0 ] && [ "${f[5]:-0}" -gt 0 ]; then
			pass wrr-fio-verify-only
		else
			fail wrr-fio-verify-only "exit $rc: $(grep -v '^3;' <<< "$out" | grep -i 'verify\|err' | head -n 3 | tr '\n' ' ')"
		fi
		# ... and the check can fail: one flipped byte in a copy.
		poke "$T/ro.img" $((5 * MB + 100))
		fio "${job[@]}" --filename="$T/ro.img" --ioengine=psync --verify_only >/dev/null 2>&1 &&
			fail wrr-fio-verify-only-can-fail "fio --verify_only passed a damaged copy" ||
			pass wrr-fio-verify-only-can-fail
		rm -f "$T/ro.img"
		if "$SPFCTL" export "$W/f.spi" "$T/exp.raw" 2>"$T/err"; then
			same_bytes wrr-fio-sealed-export "$T/exp.raw" "$W/f.img"
		else
			fail wrr-fio-sealed-export "$(head -n 2 "$T/err" | tr '\n' ' ')"
		fi
		rm -f "$T/exp.raw"
		vm_detach wrr-fio-sealed-detach "$DEV"
	fi
	rm -f "$W/f.img"
fi
tnote "fio checked"

# ---- replay of a copied overlay -----------------------------------------------------------------
if wattach wrr-replay-attach "$W/t.spi" "$W/i1.spi"; then
	cp "$W/l1.raw" "$W/mx"
	put "$DEV" "$W/mx" $((3 * CS + 512)) 512 &&
	put "$DEV" "$W/mx" $((20 * CS - 4096)) 8192 &&
	put "$DEV" "$W/mx" $((90 * CS + 1024)) 102400 &&
	put "$DEV" "$W/mx" $((110 * CS)) $((2 * CS)) || fail wrr-replay-writes "dd to $DEV failed"
	cp "$W/mx" "$W/mxz"
	# The last record: one 4 KiB write into chunk 40 (random: stored raw).
	put "$DEV" "$W/mxz" $((40 * CS + 8192)) 4096
	sync
	records=$(sysval "/sys/block/spf$IDX/spf/overlay_records")
	obytes=$(sysval "/sys/block/spf$IDX/spf/overlay_bytes")
	cp "$W/t.spi" "$W/cut.spi"
	cp "$W/t.spi" "$W/garbage.spi"
	cp "$W/t.spi" "$W/exact.spi"
	sz=$(stat -c %s "$W/t.spi")
	echo "# 71-writable-replay: overlay of $sz bytes, sysfs: $records records, $obytes bytes"
	# At least one record per chunk written (8 chunks), the last one chunk 40's.
	[ "${records:-0}" -ge 8 ] && pass wrr-replay-records || fail wrr-replay-records "overlay_records '$records', want 8 or more"
	expect_error wrr-recover-attached 1 "spfctl: $W/t.spi: is attached as $DEV: detach it, which seals it" "$SPFCTL" recover "$W/t.spi"
	# Writes after the copy are not in it.
	put "$DEV" "$T/junk" 0 $((2 * CS))
	if err=$("$SPFCTL" detach --discard "$DEV" 2>&1 >/dev/null) && wait_gone "$DEV" && [ ! -e "$W/t.spi" ]; then
		pass wrr-replay-discard
	else
		fail wrr-replay-discard "detach --discard: $err; $(ls "$W")"
	fi

	# Cut 100 bytes off: the last record (chunk 40's) is torn.
	truncate -s $((sz - 100)) "$W/cut.spi"
	kmsg_mark
	if wattach wrr-replay-cut-attach "$W/cut.spi" "$W/i1.spi"; then
		pass wrr-replay-cut-attach
		log=$(kmsg_since | grep 'OVERLAY: dropped torn tail')
		re="spf$IDX: OVERLAY: dropped torn tail of ([0-9]+) bytes after record ([0-9]+) \(offset ([0-9]+)\): "
		if [[ "$log" =~ $re ]]; then
			n=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]} o=${BASH_REMATCH[3]}
			nsz=$(stat -c %s "$W/cut.spi")
			if [ "$s" = $((records - 1)) ] && [ $((o + n)) = $((sz - 100)) ] && [ "$nsz" = "$o" ] &&
			   [ "$(sysval "/sys/block/spf$IDX/spf/overlay_records")" = "$s" ]; then
				pass wrr-replay-torn-tail
			else
				fail wrr-replay-torn-tail "'$log'; file now $nsz bytes, was $((sz - 100)); records $(sysval "/sys/block/spf$IDX/spf/overlay_records")"
			fi
		else
			fail wrr-replay-torn-tail "no torn-tail line in the kernel log: $(kmsg_since | grep -i overlay | head -n 3 | tr '\n' ' ')"
		fi
		reads_as wrr-replay-cut-data "$DEV" "$W/mx"
		# It goes on appending after the cut: a new write, then seal.
		put "$DEV" "$W/mx" $((60 * CS + 4096)) 4096
		reads_as wrr-replay-cut-append "$DEV" "$W/mx"
		if vm_detach wrr-replay-cut-seal "$DEV"; then
			expect_ok wrr-replay-cut-verify "$SPFCTL" verify "$W/cut.spi"
			if vm_attach wrr-replay-cut-sealed "$W/cut.spi"; then
				reads_as wrr-replay-cut-sealed-data "$DEV" "$W/mx"
				vm_detach wrr-replay-cut-sealed-detach "$DEV"
			fi
		fi
	fi

	# Garbage after the last record: spfctl recover seals it.
	head -c 1000 /dev/urandom >> "$W/garbage.spi"
	if out=$("$SPFCTL" recover "$W/garbage.spi" 2>&1); then
		echo "# 71-writable-replay: recover said: $(printf '%s' "$out" | tr '\n' '|')"
		if grep -q "torn tail" <<< "$out" && grep -q "1000 bytes" <<< "$out"; then
			pass wrr-recover
		else
			fail wrr-recover "no '1000 bytes' torn tail in its report: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
		fi
		expect_ok wrr-recover-verify "$SPFCTL" verify "$W/garbage.spi"
		if vm_attach wrr-recover-attach "$W/garbage.spi"; then
			reads_as wrr-recover-data "$DEV" "$W/mxz"
			vm_detach wrr-recover-detach "$DEV"
		fi
	else
		fail wrr-recover "$(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	fi
fi
chain_unchanged wrr-replay-chain-unchanged
no_devices wrr-replay-no-devices
tnote "replay checked"

# ---- refusals ----------------------------------------------------------------------------------
[ -f "$W/exact.spi" ] && (cd "$W" && sha256sum exact.spi) >> "$T/chain.sha256"
[ -f "$W/garbage.spi" ] && (cd "$W" && sha256sum garbage.spi) >> "$T/chain.sha256"
expect_error wrr-bad-no-overlay 2 "spfctl: --writable needs --overlay FILE" "$SPFCTL" attach --writable "$W/i1.spi"
expect_error wrr-bad-no-writable 2 "spfctl: --overlay needs --writable" "$SPFCTL" attach --overlay "$W/x.spi" "$W/i1.spi"
[ ! -e "$W/x.spi" ] && pass wrr-bad-no-writable-nofile || fail wrr-bad-no-writable-nofile "x.spi was created"
if [ -f "$W/exact.spi" ]; then
	expect_error wrr-bad-other-chain 1 "spfctl: $W/exact.spi: cannot use as overlay: belongs to another chain" \
		"$SPFCTL" attach --writable --overlay "$W/exact.spi" "$W/o/other.spf"
	expect_error_re wrr-bad-other-parent 1 "^spfctl: $W/exact\.spi: cannot use as overlay: its parent is not .*full\.spf: " \
		"$SPFCTL" attach --writable --overlay "$W/exact.spi" "$W/full.spf"
fi
if [ -f "$W/garbage.spi" ]; then
	expect_error wrr-bad-sealed-image 1 "spfctl: $W/garbage.spi: cannot use as overlay: is already a sealed image; choose a new overlay name" \
		"$SPFCTL" attach --writable --overlay "$W/garbage.spi" "$W/i1.spi"
fi
expect_error wrr-bad-chain-file 1 "spfctl: $W/i1.spi: cannot use as overlay: is an image of the chain" \
	"$SPFCTL" attach --writable --overlay "$W/i1.spi" "$W/i1.spi"
expect_error wrr-bad-chain-file-below 1 "spfctl: $W/full.spf: cannot use as overlay: is an image of the chain" \
	"$SPFCTL" attach --writable --overlay "$W/full.spf" "$W/i1.spi"
mkdir -p "$T/rosrc" "$T/ro"
if mount --bind "$T/rosrc" "$T/ro" 2>"$T/err" && mount -o remount,bind,ro "$T/ro" 2>>"$T/err"; then
	cleanup_add "umount '$T/ro'"
	expect_error_re wrr-bad-readonly-dir 1 "^spfctl: $T/ro/new\.spi: .*: Read-only file system$" \
		"$SPFCTL" attach --writable --overlay "$T/ro/new.spi" "$W/i1.spi"
	[ -z "$(ls -A "$T/rosrc")" ] && pass wrr-bad-readonly-nofile ||
		fail wrr-bad-readonly-nofile "files appeared: $(ls -A "$T/rosrc")"
	umount "$T/ro"
else
	fail wrr-bad-readonly-dir "read-only bind mount: $(head -n 1 "$T/err")"
fi
no_devices wrr-bad-no-devices
chain_unchanged wrr-bad-files-unchanged
tnote "refusals checked"

no_devices wrr-no-devices
finish
