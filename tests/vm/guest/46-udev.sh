#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# contrib/udev/60-spfblk.rules with a real udevd: the guest has none, so
# this starts systemd-udevd, installs the rule in /run/udev/rules.d (the
# guest's /etc is the host's, read-only), and checks that as soon as
# spfctl attach returns, /dev/disk/by-id/spf-<top image uuid> and
# -part1..4 point to /dev/spfN and its partitions, and that they go with
# the device.  A second rule delays the disk's event by a second, so the
# links are there on return only because spfctl attach waited for udev
# (udevadm settle).  Stops udevd at the end.
#
# The guest's root is a chroot of /init's: systemd's tools ignore requests
# in a chroot (udevadm settle would return at once) unless
# SYSTEMD_IGNORE_CHROOT=1, which spfctl's udevadm inherits from here.
. "$(dirname "$0")/../../lib.sh"

RULE=$ROOT/contrib/udev/60-spfblk.rules
UDEVD=/lib/systemd/systemd-udevd
p=$SPF_FIX/parts
top=$p/$(meta "$p/parts.meta" top)

if [ ! -x "$UDEVD" ] || ! command -v udevadm >/dev/null; then
	skip udev "no $UDEVD or udevadm"
	finish
fi
if [ -e /run/udev/control ]; then
	skip udev "a udevd is already running"
	finish
fi
export SYSTEMD_IGNORE_CHROOT=1

UPID=
stop_udevd() {
	[ -n "$UPID" ] || return 0
	udevadm control --exit 2>/dev/null
	for _ in $(seq 50); do kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
	kill "$UPID" 2>/dev/null && wait "$UPID" 2>/dev/null
	UPID=
	rm -f /run/udev/rules.d/60-spfblk.rules /run/udev/rules.d/61-spf-slow.rules \
		/run/udev/control
}
cleanup_add stop_udevd

mkdir -p /run/udev/rules.d
cp "$RULE" /run/udev/rules.d/ || { fail udev-rule "cannot copy $RULE"; finish; }
echo 'KERNEL=="spf[0-9]*", ENV{DEVTYPE}=="disk", ACTION=="add", PROGRAM="/bin/sleep 1"' \
	> /run/udev/rules.d/61-spf-slow.rules
"$UDEVD" >"$T/udevd.err" 2>&1 </dev/null &
UPID=$!
for _ in $(seq 100); do [ -S /run/udev/control ] && break; sleep 0.1; done
if [ ! -S /run/udev/control ]; then
	fail udevd-start "$(head -n 3 "$T/udevd.err" | tr '\n' ' ')"
	finish
fi
pass udevd-start

uuid=$("$SPFCTL" info "$top" | awk '$1 == "uuid:" { print $2 }')
link=/dev/disk/by-id/spf-$uuid
t=$SECONDS
vm_attach udev-attach "$top" || finish
pass udev-attach
echo "# attach with udevd: $((SECONDS - t)) s"

bad=
[ "$(readlink -f "$link")" = "$DEV" ] || bad="$bad $link -> $(readlink "$link");"
for i in 1 2 3 4; do
	[ "$(readlink -f "$link-part$i")" = "${DEV}p$i" ] ||
		bad="$bad $link-part$i -> $(readlink "$link-part$i");"
done
[ -e "$link-part5" ] && bad="$bad unexpected $link-part5;"
[ -z "$bad" ] && pass udev-by-id-links || fail udev-by-id-links "$bad $(ls -l /dev/disk/by-id 2>&1 | tr '\n' ' ')"

# The link is usable: the same bytes as the device.
[ "$(head -c 1M "$link-part1" | sha_of /dev/stdin)" = "$(head -c 1M "${DEV}p1" | sha_of /dev/stdin)" ] &&
	pass udev-link-reads || fail udev-link-reads "different bytes through $link-part1"

vm_detach udev-detach "$DEV" || finish
udevadm settle --timeout=10
left=$(for l in /dev/disk/by-id/spf-*; do [ -e "$l" ] || [ -L "$l" ] && printf '%s ' "$l"; done)
[ -z "$left" ] && pass udev-links-gone || fail udev-links-gone "left: $left"

# The control: an attach that cannot run udevadm (not in PATH) returns
# before the delayed event is done, so the link is not there yet.
out=$(PATH=/nonexistent "$SPFCTL" attach "$top" 2>&1) && rc=0 || rc=$?
if [ "$rc" = 0 ] && [[ $out =~ ^/dev/spf[0-9]+$ ]]; then
	[ ! -e "$link" ] && pass udev-wait-matters ||
		fail udev-wait-matters "$link existed at once without udevadm settle: the test proves nothing"
	udevadm settle --timeout=10
	vm_detach udev-detach-2 "$out"
else
	fail udev-wait-matters "attach without udevadm: exit $rc: $out"
fi
udevadm settle --timeout=10

pid=$UPID
stop_udevd
[ ! -e /run/udev/control ] && ! kill -0 "$pid" 2>/dev/null && pass udevd-stop ||
	fail udevd-stop "udevd still runs"
finish
