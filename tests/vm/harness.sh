#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks of the VM harness itself (tests/vm/run-vm), on the newest 6.12
# kernel (or the series given):
#   early-death-retry  a guest kernel that dies before it runs /init is
#                      booted once more (the first console kept as
#                      console-1.log), and a second death is still a
#                      failure: status 125, "guest did not finish COMMAND"
#                      and the panic as the splat.  The death is forced with
#                      rdinit= naming no file, so each boot panics with
#                      "VFS: Unable to mount root fs" in about 3 s.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
series=${1:-6.12}
nfail=0
pass() { echo "PASS harness-$1"; }
fail() { echo "FAIL harness-$1: $2"; nfail=$((nfail + 1)); }

if ! kver=$("$here/kernels" --kver "$series" 2>&1); then
	fail kernel "$kver"
	exit 1
fi
scratch=$ROOT/build/vm/harness-$kver
mkdir -p "$scratch"
"$here/run-vm" --kver "$kver" --mem 512 --timeout 300 --scratch "$scratch" -q \
	--append rdinit=/spf-no-such-init -- true 2>"$scratch.stderr"
rc=$?
reason=$(grep -m1 '^run-vm: FAILED' "$scratch.stderr" | sed 's/^run-vm: FAILED on [^:]*: //')
if [ "$rc" != 125 ]; then
	fail early-death-retry "run-vm status $rc, expected 125; $(tail -n 3 "$scratch.stderr" | tr '\n' ' ')"
elif ! grep -q '^run-vm: .*: the guest kernel stopped before init; booting again' "$scratch.stderr"; then
	fail early-death-retry "no second boot announced on stderr; $(head -n 3 "$scratch.stderr" | tr '\n' ' ')"
elif ! grep -q 'Kernel panic - not syncing: VFS: Unable to mount root fs' "$scratch/console-1.log" 2>/dev/null; then
	fail early-death-retry "console-1.log does not hold the first boot's panic"
elif ! grep -q 'Kernel panic - not syncing: VFS: Unable to mount root fs' "$scratch/console.log"; then
	fail early-death-retry "console.log does not hold the second boot's panic"
elif [ "$reason" != "guest did not finish COMMAND (crash or panic; no exit-status); kernel splat in the guest log:" ]; then
	fail early-death-retry "unexpected verdict: $reason"
else
	pass early-death-retry
fi
[ "$nfail" -eq 0 ]
