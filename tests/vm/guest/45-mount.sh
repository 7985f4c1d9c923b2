#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# spfctl mount / umount on the GPT fixture (ext4 p1, xfs p2, vfat p3, ntfs
# p4; full + incremental): the ext4 and vfat partitions mount read-only
# (nosuid, nodev), as does a vfat whole disk made here,
# list exactly the source's files and match them byte for byte (sha256
# manifests); the device is autoclear and umount leaves none; umount also
# detaches a device attached without autoclear; every refusal has its exact
# message and leaves no device behind.
. "$(dirname "$0")/../../lib.sh"

p=$SPF_FIX/parts
top=$p/$(meta "$p/parts.meta" top)
M=/mnt/spf-mount

no_devices() {	# no_devices NAME: PASS if no /dev/spfN is left
	local left
	left=$(spf_devices | tr '\n' ' ')
	[ -z "$left" ] && pass "$1" || fail "$1" "devices left: $left"
}

# files_match NAME DIR MANIFEST: the files under DIR are exactly those of
# MANIFEST, with its sha256s.
files_match() {
	local name=$1 dir=$2 man=$3 have want out
	have=$(cd "$dir" && find . -type f | sed 's|^\./||' | sort)
	want=$(awk '{ print $2 }' "$man" | sort)
	if [ "$have" != "$want" ]; then
		fail "$name" "files: $(echo $have) instead of $(echo $want)"
	elif out=$(cd "$dir" && sha256sum -c --quiet "$man" 2>&1); then
		pass "$name"
	else
		fail "$name" "contents differ: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	fi
}

# mount_one NAME PART MANIFEST FSTYPE [spfctl mount options]
mount_one() {
	local name=$1 part=$2 man=$3 fs=$4 out rc dev n; shift 4
	out=$("$SPFCTL" mount "$@" "$top" "$part" "$M" 2>"$T/err") && rc=0 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name" "spfctl mount exited $rc: $(head -n 3 "$T/err" | tr '\n' ' ')"
		return 1
	fi
	dev=${out%% *}
	n=${dev#/dev/}
	n=${n%p*}
	if [ "$out" != "$dev on $M type $fs (ro, partition $part of /dev/$n)" ]; then
		fail "$name" "printed '$out'"
		return 1
	fi
	if ! awk -v d="$dev" -v m="$M" '$1 == d && $2 == m && $4 ~ /^ro,/ && $4 ~ /(^|,)nosuid(,|$)/ && $4 ~ /(^|,)nodev(,|$)/ { f = 1 } END { exit !f }' /proc/mounts; then
		fail "$name" "$dev is not mounted ro,nosuid,nodev on $M: $(grep "$M" /proc/mounts)"
		return 1
	fi
	[ "$(sysval "/sys/block/$n/spf/autoclear")" = 1 ] ||
		{ fail "$name" "/dev/$n is not autoclear"; return 1; }
	pass "$name"
	files_match "$name-files" "$M" "$man"
	DEV=/dev/$n
}

umount_one() {	# umount_one NAME: spfctl umount $M; $DEV must go
	local err
	if ! err=$("$SPFCTL" umount "$M" 2>&1); then
		fail "$1" "spfctl umount: $err"
		return 1
	fi
	if grep -q " $M " /proc/mounts; then
		fail "$1" "$M still mounted"
	elif [ -e "$DEV" ] || [ -e "/sys/block/${DEV#/dev/}" ]; then
		fail "$1" "$DEV still exists"
	else
		pass "$1"
	fi
}

rmdir "$M" 2>/dev/null
# ---- refusals before anything is attached -------------------------------------
expect_error mount-no-mountpoint 1 \
	"spfctl: $M: mount point missing (--mkdir creates it): No such file or directory" \
	"$SPFCTL" mount "$top" 1 "$M"
no_devices mount-no-mountpoint-nodev

# ---- ext4 (partition 1), into a folder --mkdir creates ---------------------------
if mount_one mount-ext4 1 "$p/p1.sha256" ext4 --mkdir; then
	umount_one umount-ext4
fi
no_devices umount-ext4-nodev

# ---- vfat (partition 3, changed by the incremental) --------------------------------
mkdir -p "$M"
if mount_one mount-vfat 3 "$p/p3.sha256" vfat; then
	grep -q added "$p/p3.sha256" || fail mount-vfat-incremental "manifest lacks added.txt"
	umount_one umount-vfat
fi
no_devices umount-vfat-nodev

# ---- choosing needs PARTITION: four file systems --------------------------------------
"$SPFCTL" mount "$top" "$M" >/dev/null 2>"$T/err" && rc=0 || rc=$?
want=$(cat <<'EOF'
spfctl: /dev/spfX: cannot choose a partition: 4 hold a file system; give PARTITION, one of:
  1  /dev/spfXp1      ext4
  2  /dev/spfXp2      xfs
  3  /dev/spfXp3      vfat
  4  /dev/spfXp4      ntfs
EOF
)
have=$(sed -E 's/spf[0-9]+/spfX/g' "$T/err")
[ "$rc" = 1 ] && [ "$have" = "$want" ] && pass mount-choose-lists ||
	fail mount-choose-lists "exit $rc, stderr: $(tr '\n' '|' < "$T/err")"
no_devices mount-choose-nodev

"$SPFCTL" mount "$top" 9 "$M" >/dev/null 2>"$T/err" && rc=0 || rc=$?
have=$(sed -E 's/spf[0-9]+/spfX/g' "$T/err" | head -n 2)
[ "$rc" = 1 ] && [ "$have" = "spfctl: /dev/spfX: no partition 9; it has:
  1  /dev/spfXp1      ext4" ] && pass mount-bad-partition ||
	fail mount-bad-partition "exit $rc, stderr: $(tr '\n' '|' < "$T/err")"
no_devices mount-bad-partition-nodev

# A wrong --type: the kernel's refusal, and the device is detached.
"$SPFCTL" mount -t xfs "$top" 1 "$M" >/dev/null 2>"$T/err" && rc=0 || rc=$?
have=$(sed -E 's/spf[0-9]+/spfX/g' "$T/err")
[ "$rc" = 1 ] && [ "$have" = "spfctl: /dev/spfXp1: mount on $M as xfs failed: Invalid argument" ] &&
	pass mount-wrong-type || fail mount-wrong-type "exit $rc, stderr: $(tr '\n' '|' < "$T/err")"
no_devices mount-wrong-type-nodev

# No partitions and no file system: a data chain.
d=$(awk 'NR == 1 { print $2 "/" $3 }' "$SPF_FIX/data.list")
"$SPFCTL" mount "$SPF_FIX/$d" "$M" >/dev/null 2>"$T/err" && rc=0 || rc=$?
have=$(sed -E 's/spf[0-9]+/spfX/g' "$T/err")
[ "$rc" = 1 ] && [ "$have" = "spfctl: /dev/spfX: cannot mount: no partitions and no file system on the whole disk" ] &&
	pass mount-no-fs || fail mount-no-fs "exit $rc, stderr: $(tr '\n' '|' < "$T/err")"
no_devices mount-no-fs-nodev

# A file system on the whole disk (no partition table): made here.
truncate -s 4M "$T/whole.raw"
rand_bytes whole 300000 > "$T/whole.bin"
if mkfs.vfat -n WHOLE "$T/whole.raw" >/dev/null &&
   MTOOLS_SKIP_CHECK=1 mcopy -i "$T/whole.raw" "$T/whole.bin" ::/whole.bin &&
   "$SPFCTL" create -c lz4 "$T/whole.raw" "$T/whole.spf" >/dev/null 2>"$T/err"; then
	out=$("$SPFCTL" mount "$T/whole.spf" "$M" 2>"$T/err") && rc=0 || rc=$?
	dev=${out%% *}
	if [ "$rc" = 0 ] && [ "$out" = "$dev on $M type vfat (ro, whole disk)" ] &&
	   [[ $dev =~ ^/dev/spf[0-9]+$ ]]; then
		pass mount-whole-disk
		cmp -s "$M/whole.bin" "$T/whole.bin" && [ "$(ls "$M")" = whole.bin ] &&
			pass mount-whole-disk-files || fail mount-whole-disk-files "$(ls "$M")"
		DEV=$dev
		umount_one umount-whole-disk
	else
		fail mount-whole-disk "exit $rc, printed '$out': $(head -n 2 "$T/err" | tr '\n' ' ')"
	fi
else
	fail mount-whole-disk "cannot make the image: $(head -n 2 "$T/err")"
fi
no_devices mount-whole-disk-nodev

# ---- umount refusals -------------------------------------------------------------------
expect_error umount-not-mounted 1 "spfctl: $M: umount failed: not a mount point" \
	"$SPFCTL" umount "$M"
mount -t tmpfs spf-not-a-device "$M"
expect_error umount-not-spf 1 "spfctl: $M: umount refused: spf-not-a-device is not an spf device" \
	"$SPFCTL" umount "$M"
grep -q " $M tmpfs " /proc/mounts && pass umount-not-spf-left ||
	fail umount-not-spf-left "the tmpfs was unmounted"
umount "$M"

# ---- umount of a device attached without autoclear -----------------------------------
if vm_attach umount-plain-attach "$top"; then
	if mount -t vfat -o ro "${DEV}p3" "$M"; then
		umount_one umount-plain
	else
		fail umount-plain "mount ${DEV}p3 failed"
		vm_detach umount-plain-detach "$DEV"
	fi
fi
no_devices umount-plain-nodev
rmdir "$M"
finish
