#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A real crash of a VM with writable spfblk devices (issue 7: "the VM is
# killed in the middle of writes, and recovery keeps everything flushed
# before the kill"), on each kernel series given (default: 6.1 6.12).
#
# Usage: tests/vm/crash.sh [SERIES...]
#
# Per kernel, two boots of tests/vm/run-vm with the same two raw disk
# images (virtio-blk, build/vm/crash-KVER/vd[ab].img; ext4 in the guest, so
# the overlays live in a guest page cache that a crash really loses):
#   boot 1 (tests/vm/crash-guest 1) writes and flushes data set A, writes
#          more without flushing, and resets the VM with sysrq 'b' in the
#          middle of the writes: qemu (-no-reboot) exits, run-vm must
#          report exactly "guest did not finish COMMAND" and no splat;
#   boot 2 (tests/vm/crash-guest 2) replays the overlays and checks A byte
#          for byte, the unflushed blocks, the file system, the seal.
# The guest's PASS/FAIL lines are relayed as SERIES/NAME; the run folder
# (scratch, both consoles) is build/vm/crash-KVER/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
cd "$ROOT" || exit 1
[ $# -gt 0 ] || set -- 6.1 6.12

nfail=0
fail() { echo "FAIL $1: ${2:-failed}"; nfail=$((nfail + 1)); }
pass() { echo "PASS $1"; }
note() { echo "# crash: $*"; }

# relay SERIES LOG: the guest's result lines, prefixed.
relay() {
	local line
	[ -f "$2" ] || return 0
	while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		"PASS "* | "SKIP "*) echo "${line%% *} $1/${line#* }" ;;
		"FAIL "*) fail "$1/${line#FAIL }" ;;
		"# "*) echo "$line" ;;
		esac
	done < "$2"
}

if grep -qw constant_tsc /proc/cpuinfo; then
	machine=microvm blk=virtio-blk-device
else
	machine=q35 blk=virtio-blk-pci
fi
[ -x tools/spfctl/spfctl ] || make -s -C tools/spfctl >/dev/null 2>&1

for series in "$@"; do
	t0=$SECONDS
	if ! kver=$("$here/kernels" --kver "$series" 2>&1); then
		fail "$series/crash-kernel" "$kver"
		continue
	fi
	dir=$ROOT/build/vm/crash-$kver
	mkdir -p "$dir"
	if ! out=$(scripts/build-module "$kver" 2>"$dir/build.log"); then
		fail "$series/crash-build" "scripts/build-module $kver: $(grep -E 'error' "$dir/build.log" | head -n 5)"
		continue
	fi
	cp "${out##*$'\n'}" "$dir/spfblk.ko" && cp tools/spfctl/spfctl "$dir/spfctl" ||
		{ fail "$series/crash-build" "cannot copy the module or spfctl"; continue; }
	rm -rf "$dir/scratch" "$dir"/vd?.img "$dir"/boot?.*
	mkdir -p "$dir/scratch"
	# Sparse, so the size costs nothing until written.  Each disk holds
	# an overlay that grows at the writers' speed until the crash (117
	# MB on vdb in one 6.12 run) and, at detach, the sealed image beside
	# it: 128 MiB once ran out of space there.
	truncate -s 512M "$dir/vda.img"
	truncate -s 512M "$dir/vdb.img"
	# cache=writeback: what the guest wrote to the disk survives qemu's
	# exit (the host's page cache); what the guest kept in its own page
	# cache does not.
	qargs=()
	for d in a b; do
		qargs+=(--qemu -drive --qemu "file=$dir/vd$d.img,if=none,format=raw,cache=writeback,id=vd$d"
			--qemu -device --qemu "$blk,drive=vd$d")
	done
	for phase in 1 2; do
		tb=$SECONDS
		"$here/run-vm" --kver "$kver" --machine "$machine" --smp 2 --mem 1024 \
			--timeout "${SPF_CRASH_TIMEOUT:-600}" --scratch "$dir/scratch" -q \
			--env "SPF_MODULE=$dir/spfblk.ko" --env "SPFCTL=$dir/spfctl" \
			"${qargs[@]}" -- "$here/crash-guest" "$phase" 2>"$dir/boot$phase.stderr"
		rc=$?
		for f in console.log guest.log dmesg.log; do
			[ -f "$dir/scratch/$f" ] && cp "$dir/scratch/$f" "$dir/boot$phase.$f"
		done
		note "$series: boot $phase: $((SECONDS - tb)) s, run-vm status $rc"
		relay "$series" "$dir/boot$phase.guest.log"
		reason=$(grep -m1 '^run-vm: FAILED' "$dir/boot$phase.stderr" | sed 's/^run-vm: FAILED on [^:]*: //')
		if [ "$phase" = 1 ]; then
			# The crash: run-vm's verdict must be "no exit status", with
			# no kernel splat, after the guest said it was crashing.
			if [ "$rc" = 125 ] &&
			   [ "$reason" = "guest did not finish COMMAND (crash or panic; no exit-status)" ] &&
			   ! grep -q 'kernel splat' "$dir/boot1.stderr" &&
			   grep -q '^crash-guest: crashing now' "$dir/scratch/crash-marker" &&
			   grep -q 'sysrq: Resetting' "$dir/boot1.console.log"; then
				pass "$series/crash-killed-mid-write"
			else
				fail "$series/crash-killed-mid-write" "run-vm status $rc, '$reason'; $(grep -A5 'kernel splat' "$dir/boot1.stderr" | head -n 6 | tr '\n' ' ')"
				tail -n 20 "$dir/boot1.console.log" 2>/dev/null | sed 's/^/    /'
				break
			fi
		elif [ "$rc" = 0 ]; then
			pass "$series/crash-recovery-boot"
		else
			fail "$series/crash-recovery-boot" "run-vm status $rc: ${reason:-see $dir/boot2.stderr}"
			tail -n 20 "$dir/boot2.console.log" 2>/dev/null | sed 's/^/    /'
		fi
	done
	note "$series: $((SECONDS - t0)) s in all (logs in $dir)"
	rm -f "$dir"/vd?.img
done
[ "$nfail" -eq 0 ]
