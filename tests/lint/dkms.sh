#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Packaging: dkms add/build/install works for both test kernels, and the
# module DKMS installed loads (modprobe, by name) in a guest.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v dkms >/dev/null; then
	skip dkms "needs root and dkms"
	finish
fi
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$ROOT/dkms.conf")
src=/usr/src/spfblk-$ver
undo() {
	dkms remove -m spfblk -v "$ver" --all >/dev/null 2>&1 || true
	rm -rf "$src"
}
undo
cleanup_add undo

mkdir -p "$src"
cp -a "$ROOT/dkms.conf" "$ROOT/Kbuild" "$ROOT/drivers" "$ROOT/include" "$src/"
find "$src" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' -o -name '*.mod*' \) -delete
check dkms-add dkms add -m spfblk -v "$ver"

for series in 6.1 6.12; do
	kver=$("$ROOT/tests/vm/kernels" --kver "$series") || { fail "dkms-$series" "$kver"; continue; }
	if ! out=$(dkms build -m spfblk -v "$ver" -k "$kver" 2>&1); then
		fail "dkms-build-$series" "$(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"
		continue
	fi
	pass "dkms-build-$series"
	check "dkms-install-$series" dkms install -m spfblk -v "$ver" -k "$kver" --force
	if out=$("$ROOT/tests/vm/run-vm" -q --kver "$kver" --timeout 300 --scratch "$T/vm-$series" -- \
		sh -c 'modprobe spfblk && modinfo -n spfblk && test -c /dev/spf-control && rmmod spfblk' 2>&1) &&
	   grep -q "/updates/dkms/spfblk.ko" "$T/vm-$series/guest.log"; then
		pass "dkms-modprobe-$series"
	else
		fail "dkms-modprobe-$series" "$(tail -n 5 "$T/vm-$series/guest.log" 2>/dev/null | tr '\n' ' ') $out"
	fi
done
finish
