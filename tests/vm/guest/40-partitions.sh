#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Partitions and file systems: a GPT disk with ext4, xfs, vfat and NTFS
# partitions, as a full image and an incremental that adds a file to the
# vfat and NTFS partitions.  /dev/spfNp1..4 exist as soon as spfctl attach
# returns, with the right offsets and sizes; each mounts read-only (NTFS
# with ntfs3 where the kernel has it, 6.12; ntfs-3g otherwise, 6.1) and
# every file's sha256 matches.
. "$(dirname "$0")/../../lib.sh"

p=$SPF_FIX/parts
m=$p/parts.meta
vm_attach parts-attach "$p/$(meta "$m" top)" || finish
pass parts-attach
n=${DEV#/dev/}

missing=
for i in 1 2 3 4; do
	[ -b "${DEV}p$i" ] || missing="$missing ${DEV}p$i"
done
[ -b "${DEV}p5" ] && missing="$missing (and an unexpected ${DEV}p5)"
[ -z "$missing" ] && pass parts-nodes-on-return ||
	fail parts-nodes-on-return "not there when spfctl attach returned:$missing"

bad=
for i in 1 2 3 4; do
	s=$(sysval "/sys/block/$n/${n}p$i/start")
	z=$(sysval "/sys/block/$n/${n}p$i/size")
	[ "$s" = "$(meta "$m" p${i}_start)" ] && [ "$z" = "$(meta "$m" p${i}_sectors)" ] ||
		bad="$bad p$i: start $s size $z;"
done
[ -z "$bad" ] && pass parts-geometry || fail parts-geometry "$bad"

t=$SECONDS
sha=$(sha_of "$DEV")
echo "# sha256 of the 64 MiB device: $((SECONDS - t)) s"
[ "$sha" = "$(meta "$m" sha)" ] && pass parts-device-sha ||
	fail parts-device-sha "sha256 $sha, source $(meta "$m" sha)"

ntfs_mount() {	# ntfs_mount DEV DIR
	if modprobe ntfs3 2>/dev/null && grep -qw ntfs3 /proc/filesystems; then
		NTFS_DRV=ntfs3
		mount -t ntfs3 -o ro "$1" "$2"
	else
		NTFS_DRV=ntfs-3g
		modprobe fuse 2>/dev/null
		ntfs-3g -o ro "$1" "$2"
	fi
}

i=0
for fs in $(meta "$m" fstypes); do
	i=$((i + 1))
	t=parts-p$i-$fs
	dir=/mnt/spf-p$i
	mkdir -p "$dir"
	case $fs in
	ntfs) ntfs_mount "${DEV}p$i" "$dir" 2>"$T/mount.err"; rc=$?; t=$t-$NTFS_DRV ;;
	*) mount -t "$fs" -o ro "${DEV}p$i" "$dir" 2>"$T/mount.err"; rc=$? ;;
	esac
	if [ "$rc" -ne 0 ]; then
		fail "$t" "mount -t $fs -o ro ${DEV}p$i: $(head -n 2 "$T/mount.err" | tr '\n' ' ') $(dmesg | tail -n 2 | tr '\n' ' ')"
		continue
	fi
	if out=$(cd "$dir" && sha256sum -c --quiet "$p/p$i.sha256" 2>&1); then
		pass "$t"
	else
		fail "$t" "files differ: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	fi
	umount "$dir" || fail "$t-umount" "umount $dir failed"
	echo "# $t: done at $SECONDS s"
done

vm_detach parts-detach "$DEV" || finish
left=
for i in 1 2 3 4; do [ -e "${DEV}p$i" ] && left="$left ${DEV}p$i"; done
[ -z "$left" ] && pass parts-detach || fail parts-detach "partition nodes left:$left"
finish
