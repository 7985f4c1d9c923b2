#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# qemu's block layer on /dev/spfN: qemu-img convert gives the source disk;
# a qcow2 overlay backed by the device (-b /dev/spfN -F raw) takes writes
# through qemu-io and reads them back, and reads the device through
# everywhere else; the device and the image files are unchanged afterwards.
. "$(dirname "$0")/../../lib.sh"

chain=lz4-plain-4k-depth10
line=$(fixline "$chain") &&
	read -r name dir top sha_src sha_exp size layers cs codec enc <<< "$line" ||
	{ fail qemu "no chain $chain in data.list"; finish; }
(cd "$SPF_FIX" && grep " \./$dir/" images.sha256) > "$T/images.sha256"
vm_attach qemu-attach "$SPF_FIX/$dir/$top" || finish
pass qemu-attach

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
	skip qemu "qemu-img or qemu-io is not installed"
	vm_detach qemu-detach "$DEV"
	finish
fi

# convert
if out=$(qemu-img convert -f raw -O raw "$DEV" "$T/out.raw" 2>&1); then
	sha=$(sha_of "$T/out.raw")
	[ "$sha" = "$sha_src" ] && pass qemu-img-convert ||
		fail qemu-img-convert "sha256 of the converted disk $sha, source $sha_src"
else
	fail qemu-img-convert "$(printf '%s' "$out" | head -n 2 | tr '\n' ' ')"
fi
rm -f "$T/out.raw"

# a qcow2 overlay on the device
ov=$T/ov.qcow2
if ! out=$(qemu-img create -q -f qcow2 -b "$DEV" -F raw "$ov" 2>&1); then
	fail qemu-overlay-create "$(printf '%s' "$out" | head -n 2 | tr '\n' ' ')"
else
	pass qemu-overlay-create
	w=$(qemu-io -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k' "$ov" 2>&1)
	if [[ "$w" != *"wrote 65536/65536 bytes"* ]]; then
		fail qemu-overlay-write "$(printf '%s' "$w" | head -n 2 | tr '\n' ' ')"
	elif [[ "$w" != *"read 65536/65536 bytes"* ]] || [[ "$w" == *"verification failed"* ]]; then
		fail qemu-overlay-write "read back: $(printf '%s' "$w" | head -n 3 | tr '\n' ' ')"
	else
		pass qemu-overlay-write
	fi
	# The whole overlay: 64 KiB of 0xab, then the device.
	if out=$(qemu-img convert -f qcow2 -O raw "$ov" "$T/ov.raw" 2>&1); then
		head -c 65536 /dev/zero | tr '\0' '\253' > "$T/ab"
		if ! cmp -s -n 65536 "$T/ov.raw" "$T/ab"; then
			fail qemu-overlay-read-through "the first 64 KiB are not the written 0xab"
		elif ! cmp -s -i 65536 "$T/ov.raw" "$DEV"; then
			fail qemu-overlay-read-through "past 64 KiB the overlay differs from $DEV: $(cmp -i 65536 "$T/ov.raw" "$DEV" 2>&1 | head -n 1)"
		else
			pass qemu-overlay-read-through
		fi
	else
		fail qemu-overlay-read-through "$(printf '%s' "$out" | head -n 2 | tr '\n' ' ')"
	fi
	rm -f "$T/ov.raw"
fi

sha=$(sha_of "$DEV")
[ "$sha" = "$sha_src" ] && pass qemu-device-unchanged ||
	fail qemu-device-unchanged "sha256 of $DEV is now $sha, was $sha_src"
out=$(cd "$SPF_FIX" && sha256sum -c --quiet "$T/images.sha256" 2>&1) &&
	pass qemu-images-unchanged ||
	fail qemu-images-unchanged "$(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
vm_detach qemu-detach "$DEV" && pass qemu-detach
finish
