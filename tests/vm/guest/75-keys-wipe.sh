#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Keys are wiped in the kernel.  A scan of the slab pages of physical
# memory (/proc/kpageflags + /proc/kcore) finds the data key while the
# device is attached (inside the gcm(aes) transform's key schedule, which
# starts with the raw key) and nowhere once it is detached, whichever way
# the key came.  (75-keys-core.sh: spfctl's own memory.)
. "$(dirname "$0")/../../lib.sh"

keys_setup || finish

# ---- the data key (spfkeys wipes its copies; the first scan checks it) ------------
kenc=$("$SPFKEYS" datakey "$key" "$enc") || { fail keys-wipe-datakey "spfkeys datakey $enc failed"; finish; }

# ---- wiped in the kernel on detach: a scan of physical memory ------------------------------
# scan: the number of copies of $kenc in the slab pages of RAM, where every
# kernel copy lives (the gcm(aes) transform's context, the attach call's
# key array, the logon key's payload: all kmalloc()ed; a copy freed without
# a wipe stays in its slab page).  A scan of all 2 GiB through /proc/kcore
# takes minutes under TCG; `spfkeys scan -a` does it by hand.
scan() {
	local out
	out=$("$SPFKEYS" scan "$kenc" 2> "$T/scan.err") ||
		{ echo "error: $(head -n 1 "$T/scan.err")"; return; }
	printf '%s\n' "$out" | grep '^at ' | sed 's/^/# /' >&2
	printf '%s\n' "$out" | grep 'MiB scanned' | sed 's/^/# /' >&2
	printf '%s\n' "$out" | tail -n 1 | cut -d' ' -f1
}
if [ ! -r /proc/kcore ] || [ ! -r /proc/kpageflags ]; then
	skip keys-kcore "/proc/kcore or /proc/kpageflags is not readable"
else
	# Before: nothing (spfkeys datakey wiped its copies).  Keyring attach:
	# found (the control: the scan sees the transform's key schedule,
	# whose first 32 bytes are the raw AES-256 key).  Then detach, an
	# ioctl-way attach and detach: gone.
	t=$SECONDS
	before=$(scan)
	during=x after=x
	if vm_attach keys-kcore-keyring --key-via keyring -k "$key" "$enc"; then
		got=$(sha_of "$DEV")
		[ "$got" = "$enc_sha" ] || fail keys-kcore-keyring "$DEV reads sha256 $got, want $enc_sha"
		during=$(scan)
		vm_detach keys-kcore-keyring "$DEV"
		if vm_attach keys-kcore-ioctl --key-via ioctl -k "$key" "$enc"; then
			got=$(sha_of "$DEV")
			[ "$got" = "$enc_sha" ] || fail keys-kcore-ioctl "$DEV reads sha256 $got, want $enc_sha"
			vm_detach keys-kcore-ioctl "$DEV"
			after=$(scan)
		fi
	fi
	echo "# keys-kcore: copies of the data key in slab memory: $before before attach, $during attached, $after after detach of a keyring-way and an ioctl-way attach ($((SECONDS - t)) s)"
	if [ "$before" != 0 ]; then
		fail keys-kcore-before "$before copies before attach (spfkeys leaves copies, or the scan is broken)"
	else
		pass keys-kcore-before
	fi
	if [ "$during" -gt 0 ] 2>/dev/null; then
		pass keys-kcore-found-attached
	else
		fail keys-kcore-found-attached "the scan finds no copy while attached ($during): it would prove nothing"
	fi
	[ "$after" = 0 ] && pass keys-kcore-wiped ||
		fail keys-kcore-wiped "$after copies of the data key in slab memory after detach"
fi

[ -z "$(spf_devices)" ] || fail keys-cleanup "devices left: $(spf_devices)"
finish
