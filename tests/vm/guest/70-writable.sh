#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Writable attach (issue 7, docs/format.md §11): `spfctl attach --writable
# --overlay NEW.spi` on a full + incremental chain built here whose files
# are immutable (chattr +i: any open for writing fails), so the chain is
# provably never opened for writing.
#  - reads see the latest write: unaligned 512 B / 4 KiB / 100 KiB writes,
#    O_DIRECT and buffered, across chunk boundaries, over each other, in
#    the chain's zero stretch, whole chunks and the last sector, compared
#    byte for byte with a model (the source disk with the same writes);
#  - mkfs.ext4 (12 MiB of the 16 MiB device: the tail keeps the writes),
#    a file tree, fsck -fn clean; a mounted device refuses detach with the
#    usual message, `detach --lazy` is refused;
#  - detach seals: NEW.spi is a sealed incremental on the chain (info,
#    verify), attaches read-only and reads exactly what the writable device
#    had (a dd taken before detach), `spfctl export` agrees, the files match
#    their manifest and fsck is clean;
#  - `detach --discard`: the overlay is gone and the chain reads as before;
#  (qemu-io, discard and zeroout: 72-writable-qemu.sh)
#  - the chain's files are byte-identical at the end (sha256).
. "$(dirname "$0")/../../lib.sh"
need_spfctl

W=$T/w
M=/mnt/spf-writable
CS=65536
MB=1048576
SIZE=$((16 * MB))
mkdir -p "$W" "$M"
t0=$SECONDS
tnote() { echo "# 70-writable: $1 at $((SECONDS - t0)) s"; }

# ---- the chain: full (zstd) + incremental ------------------------------------------
{
	head -c $((6 * MB)) /dev/urandom
	head -c $((4 * MB)) /dev/zero
	yes "spfblk writable test line" | head -c $((4 * MB))
	head -c $((2 * MB)) /dev/urandom
} > "$W/l0.raw"
cp "$W/l0.raw" "$W/l1.raw"
for c in 2 9 100 200; do
	dd if=/dev/urandom of="$W/l1.raw" bs=$CS seek=$c count=1 conv=notrunc status=none
done
dd if=/dev/urandom of="$W/l1.raw" bs=512 seek=$((230 * CS / 512 + 7)) count=1 conv=notrunc status=none
if ! "$SPFCTL" create -c zstd "$W/l0.raw" "$W/full.spf" >/dev/null 2>"$T/err" ||
   ! "$SPFCTL" create --parent "$W/full.spf" "$W/l1.raw" "$W/i1.spi" >/dev/null 2>>"$T/err"; then
	fail wr-chain "spfctl create: $(head -n 3 "$T/err" | tr '\n' ' ')"
	finish
fi
(cd "$W" && sha256sum full.spf i1.spi) > "$T/chain.sha256"
sha_l1=$(sha_of "$W/l1.raw")
tnote "chain built"

# Immutable chain files: an open for writing fails with EPERM.  Removed on
# any exit (tests/lib.sh's trap).
cleanup_add "chattr -i '$W/full.spf' '$W/i1.spi' 2>/dev/null"
if ! err=$(chattr +i "$W/full.spf" "$W/i1.spi" 2>&1); then
	fail wr-immutable "chattr +i: $err"
elif (: >> "$W/i1.spi") 2>/dev/null; then
	fail wr-immutable "chattr +i did not make i1.spi immutable"
else
	pass wr-immutable
fi

chain_unchanged() {	# chain_unchanged NAME
	local out
	if out=$(cd "$W" && sha256sum -c --quiet "$T/chain.sha256" 2>&1); then
		pass "$1"
	else
		fail "$1" "chain files changed: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	fi
}




# files_match NAME DIR MANIFEST
files_match() {
	local out have want
	have=$(cd "$2" && find . -type f ! -path './lost+found/*' | sort)
	want=$(awk '{ print $2 }' "$3" | sort)
	if [ "$have" != "$want" ]; then
		fail "$1" "file list differs: $(diff <(echo "$want") <(echo "$have") | head -n 4 | tr '\n' ' ')"
	elif out=$(cd "$2" && sha256sum -c --quiet "$3" 2>&1); then
		pass "$1"
	else
		fail "$1" "$(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	fi
}

# ---- attach writable -------------------------------------------------------------------
if ! wattach wr-attach "$W/new.spi" "$W/i1.spi"; then
	chain_unchanged wr-chain-unchanged
	finish
fi
[ -f "$W/new.spi" ] && [ "$(stat -c %a "$W/new.spi")" = 600 ] && pass wr-overlay-created ||
	fail wr-overlay-created "$(ls -l "$W/new.spi" 2>&1)"
sha=$(sha_of "$DEV")
[ "$sha" = "$sha_l1" ] && pass wr-reads-chain || fail wr-reads-chain "sha256 $sha, the source $sha_l1"

# ---- reads see the latest write -------------------------------------------------------
cp "$W/l1.raw" "$W/model"
# offset size how
writes="$((3 * CS + 1536)) 512 direct
$((5 * CS - 2048)) 4096 direct
$((7 * CS + 13 * 512)) 102400 direct
$((100 * CS + 5 * 512)) 4096 direct
$((64 * CS)) $((2 * CS)) direct
$((3 * CS + 1024)) 4096 direct
$((MB + 77 * 512)) 512 buffered
$((2 * MB + 3 * 4096)) 4096 buffered
$((3 * MB - 51200)) 102400 buffered
$((13 * MB + 999 * 512)) 102400 direct
$((15 * MB + 4096 * 7)) 4096 buffered
$((SIZE - 512)) 512 direct"
werr=
while read -r off len how; do
	head -c "$len" /dev/urandom > "$T/pat"
	fl=seek_bytes
	[ "$how" = direct ] && fl=seek_bytes,direct
	if ! err=$(dd if="$T/pat" of="$DEV" bs="$len" count=1 seek="$off" oflag=$fl conv=notrunc status=none 2>&1); then
		werr="$werr dd $len@$off ($how): $err;"
	fi
	dd if="$T/pat" of="$W/model" bs="$len" count=1 seek="$off" oflag=seek_bytes conv=notrunc status=none
done <<< "$writes"
[ -z "$werr" ] && pass wr-writes || fail wr-writes "$werr"
# Buffered writes out, the page cache dropped: what follows reads the driver.
blockdev --flushbufs "$DEV"
reads_as wr-reads-latest "$DEV" "$W/model"
tnote "writes checked"

# ---- a file system ------------------------------------------------------------------------
if ! err=$(mkfs.ext4 -q -F -L spfw "$DEV" 12M 2>&1); then
	fail wr-mkfs "$err"
else
	pass wr-mkfs
fi
# mkfs wrote only 12 MiB: the rest is still the writes above.
if out=$(dd if="$DEV" iflag=direct bs=1M skip=12 status=none | cmp - <(tail -c $((4 * MB)) "$W/model") 2>&1); then
	pass wr-mkfs-tail
else
	fail wr-mkfs-tail "past mkfs's 12 MiB: $out"
fi
if ! err=$(mount -t ext4 "$DEV" "$M" 2>&1); then
	fail wr-mount "$err"
else
	pass wr-mount
	mkdir -p "$M/doc" "$M/data/deep/er"
	for d in /usr/share/doc/bash /usr/share/doc/coreutils /usr/share/doc/e2fsprogs; do
		[ -d "$d" ] && cp -a "$d" "$M/doc/"
	done
	head -c $((MB + 333)) /dev/urandom > "$M/data/random1"
	head -c $((2 * MB + 4097)) /dev/urandom > "$M/data/deep/random2"
	head -c $((MB / 2)) /dev/zero > "$M/data/zeros"
	yes "a line of text written through the writable device" | head -c 300000 > "$M/data/deep/er/text"
	(cd "$M" && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 sha256sum) > "$T/manifest"
	sync
	if ! err=$(umount "$M" 2>&1); then
		fail wr-umount "$err"
	fi
fi
tnote "file tree written ($(wc -l < "$T/manifest") files)"
if out=$(fsck.ext4 -fn "$DEV" 2>&1); then
	pass wr-fsck
else
	fail wr-fsck "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')"
fi
# What the writable device holds, for after the seal.
dd if="$DEV" of="$W/w.img" iflag=direct bs=1M status=none

# ---- busy: a mounted writable device refuses detach --------------------------------------
if mount -t ext4 -o ro "$DEV" "$M" 2>"$T/err"; then
	expect_error_re wr-detach-busy 1 "^spfctl: $DEV: detach failed: device is in use \(a writable device is detached, and its overlay sealed, once nothing uses it\)$" "$SPFCTL" detach "$DEV"
	[ -b "$DEV" ] && [ -f "$W/new.spi" ] && pass wr-detach-busy-kept ||
		fail wr-detach-busy-kept "$DEV or the overlay vanished after a refused detach"
	umount "$M"
else
	fail wr-detach-busy "mount -o ro: $(head -n 1 "$T/err")"
fi
"$SPFCTL" detach --lazy "$DEV" >/dev/null 2>"$T/err" && rc=0 || rc=$?
if [ "$rc" = 2 ] && [ -b "$DEV" ] &&
   grep -qxF "spfctl: /dev/spf$IDX is writable: --lazy would leave its overlay unsealed; detach it when it is no longer in use" "$T/err"; then
	pass wr-detach-lazy-refused
else
	fail wr-detach-lazy-refused "exit $rc (want 2), device $( [ -b "$DEV" ] && echo kept || echo gone), stderr: $(head -n 2 "$T/err" | tr '\n' ' ')"
fi

# ---- detach seals ------------------------------------------------------------------------

tnote "sealing"
if vm_detach wr-detach-seal "$DEV"; then
	pass wr-detach-seal
fi
tnote "sealed"
# shellcheck disable=SC2010
left=$(cd "$W" && ls -A | grep -vxE 'l0.raw|l1.raw|full.spf|i1.spi|new.spi|model|w.img' | tr '\n' ' ')
[ -z "$left" ] && pass wr-seal-no-temp || fail wr-seal-no-temp "left in the folder: $left"
if "$SPFCTL" info --json "$W/new.spi" > "$T/info.json" 2>"$T/err"; then
	v="$(json_get "$T/info.json" type) $(json_get "$T/info.json" state) $(json_get "$T/info.json" parent_name) $(json_get "$T/info.json" depth)"
	[ "$v" = '"incremental" "sealed" "i1.spi" 2' ] && pass wr-seal-info ||
		fail wr-seal-info "type state parent depth: $v"
else
	fail wr-seal-info "spfctl info: $(head -n 2 "$T/err" | tr '\n' ' ')"
fi
expect_ok wr-seal-verify "$SPFCTL" verify "$W/new.spi"
chain_unchanged wr-chain-unchanged

if vm_attach wr-sealed-attach "$W/new.spi"; then
	pass wr-sealed-attach
	v="ro=$(sysval "/sys/block/spf$IDX/ro") writable=$(sysval "/sys/block/spf$IDX/spf/writable")"
	[ "$v" = "ro=1 writable=0" ] && pass wr-sealed-readonly || fail wr-sealed-readonly "$v"
	reads_as wr-sealed-reads "$DEV" "$W/w.img"
	if "$SPFCTL" export "$W/new.spi" "$T/exp.raw" 2>"$T/err"; then
		same_bytes wr-sealed-export "$T/exp.raw" "$W/w.img"
		# The device read-only and the export: the same bytes.
		reads_as wr-sealed-export-device "$DEV" "$T/exp.raw"
	else
		fail wr-sealed-export "$(head -n 2 "$T/err" | tr '\n' ' ')"
	fi
	rm -f "$T/exp.raw"
	if mount -t ext4 -o ro "$DEV" "$M" 2>"$T/err"; then
		files_match wr-sealed-files "$M" "$T/manifest"
		umount "$M"
	else
		fail wr-sealed-files "mount -o ro: $(head -n 1 "$T/err")"
	fi
	if out=$(fsck.ext4 -fn "$DEV" 2>&1); then
		pass wr-sealed-fsck
	else
		fail wr-sealed-fsck "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')"
	fi
	vm_detach wr-sealed-detach "$DEV"
fi
tnote "sealed image checked"

# ---- detach --discard ------------------------------------------------------------------------
(cd "$W" && sha256sum new.spi) >> "$T/chain.sha256"
if wattach wr-discard-attach "$W/d.spi" "$W/new.spi"; then
	head -c $((MB + 4096)) /dev/urandom | dd of="$DEV" bs=1M seek=0 oflag=direct iflag=fullblock status=none 2>"$T/err"
	dd if="$DEV" iflag=direct bs=1M count=1 status=none | cmp -s - "$W/w.img" &&
		fail wr-discard-written "the write did not change the device"
	if err=$("$SPFCTL" detach --discard "$DEV" 2>&1 >/dev/null) && wait_gone "$DEV"; then
		pass wr-discard-detach
	else
		fail wr-discard-detach "$err"
	fi
	[ ! -e "$W/d.spi" ] && pass wr-discard-overlay-gone || fail wr-discard-overlay-gone "d.spi still exists"
	chain_unchanged wr-discard-chain-unchanged
	if vm_attach wr-discard-reattach "$W/new.spi"; then
		reads_as wr-discard-old-data "$DEV" "$W/w.img"
		vm_detach wr-discard-reattach-detach "$DEV"
	fi
fi
tnote "discard checked"


chattr -i "$W/full.spf" "$W/i1.spi"
chain_unchanged wr-chain-unchanged-end
no_devices wr-no-devices
finish
