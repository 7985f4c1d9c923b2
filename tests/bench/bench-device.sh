#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Device benchmark: the same realistic disk read through spfblk (an SPF
# chain), loop (the raw file) and qemu-nbd (a qcow2 file with the same
# codec), side by side in one qemu guest per kernel.  fio, O_DIRECT:
#   randread 4 KiB, 4 jobs x iodepth 32     (IOPS)
#   seqread 1 MiB, 1 job x iodepth 8        (MiB/s)
# Under TCG the absolute figures are far below real hardware; the ratios
# are what this measures.
#
# Usage: tests/bench/bench-device.sh [SERIES...]   (default: 6.1 6.12)
#   BENCH_MB=256 BENCH_RUNTIME=10 BENCH_CODEC=zstd
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
mb=${BENCH_MB:-256}
runtime=${BENCH_RUNTIME:-10}
codec=${BENCH_CODEC:-zstd}
work=$top/build/bench-device
spfctl=$top/tools/spfctl/spfctl
series=${*:-6.1 6.12}

make -s -C tools/spfctl
mkdir -p "$work"
if [ ! -f "$work/disk.raw" ] || [ "$(stat -c %s "$work/disk.raw")" -ne $((mb << 20)) ]; then
	echo "bench: making a ${mb} MiB ext4 disk from /usr"
	rm -f "$work/disk.raw"
	tree=$(mktemp -d)
	cp -a /usr/share /usr/lib/x86_64-linux-gnu "$tree/" 2>/dev/null || true
	truncate -s "${mb}M" "$work/disk.raw"
	# Fill what fits; mke2fs -d fails when the tree is larger than the fs.
	du -sm "$tree" >/dev/null
	mke2fs -q -F -t ext4 -d "$tree/share" "$work/disk.raw" 2>/dev/null ||
		mke2fs -q -F -t ext4 -d "$tree/share/doc" "$work/disk.raw"
	rm -rf "$tree"
fi
rm -f "$work/disk.spf" "$work/disk.qcow2"
"$spfctl" create --compress "$codec" "$work/disk.raw" "$work/disk.spf"
qemu-img convert -c -O qcow2 -o compression_type="$([ "$codec" = deflate ] && echo zlib || echo "$codec")" \
	"$work/disk.raw" "$work/disk.qcow2"

cat > "$work/guest.sh" <<EOG
#!/bin/bash
set -eu
cp "$work/disk.raw" "$work/disk.spf" "$work/disk.qcow2" /tmp/
ko=\$1
for m in \$(modinfo -F depends "\$ko" | tr ',' ' '); do modprobe "\$m"; done
insmod "\$ko"
modprobe nbd nbds_max=2
spf=\$("$spfctl" attach /tmp/disk.spf)
loop=\$(losetup -f --show -r /tmp/disk.raw)
qemu-nbd -r -f qcow2 -c /dev/nbd0 /tmp/disk.qcow2
sleep 1
bench() {
	local name=\$1 dev=\$2 out
	out=\$(fio --name=rr --filename="\$dev" --readonly --direct=1 --ioengine=libaio \
		--rw=randread --bs=4k --iodepth=32 --numjobs=4 --group_reporting \
		--time_based --runtime=$runtime --output-format=terse --terse-version=3 2>/dev/null)
	local iops=\$(echo "\$out" | cut -d';' -f8)
	out=\$(fio --name=sr --filename="\$dev" --readonly --direct=1 --ioengine=libaio \
		--rw=read --bs=1M --iodepth=8 --numjobs=1 \
		--time_based --runtime=$runtime --output-format=terse --terse-version=3 2>/dev/null)
	local bw=\$(echo "\$out" | cut -d';' -f7)
	echo "RESULT \$name \$iops \$((bw / 1024))"
}
echo 3 > /proc/sys/vm/drop_caches
bench spfblk "\$spf"
bench loop "\$loop"
bench qemu-nbd /dev/nbd0
grep -E 'cache_(bytes|hits|misses)' /dev/null \$(ls /sys/block/\${spf#/dev/}/spf/cache_* 2>/dev/null) || true
qemu-nbd -d /dev/nbd0 >/dev/null
losetup -d "\$loop"
"$spfctl" detach "\$spf"
EOG
chmod +x "$work/guest.sh"

for s in $series; do
	kver=$(tests/vm/kernels --kver "$s")
	ko=$(scripts/build-module "$kver" | tail -n 1)
	echo "bench: Linux $kver, ${mb} MiB disk, $codec, 64 KiB chunks, ${runtime}s per run"
	tests/vm/run-vm -q --kver "$kver" --smp 2 --mem 2048 --timeout 900 \
		--scratch "$work/vm-$s" -- "$work/guest.sh" "$ko" || { echo "bench: guest failed"; cat "$work/vm-$s/guest.log"; exit 1; }
	awk '/^RESULT/ { iops[$2] = $3; bw[$2] = $4; order[n++] = $2 }
	     END {
		printf "  %-10s %12s %12s %10s %10s\n", "device", "4k IOPS", "seq MiB/s", "IOPS x", "seq x"
		for (i = 0; i < n; i++) { d = order[i]
			printf "  %-10s %12d %12d %10.2f %10.2f\n", d, iops[d], bw[d],
				iops[d] / (iops["qemu-nbd"] ? iops["qemu-nbd"] : 1),
				bw[d] / (bw["qemu-nbd"] ? bw["qemu-nbd"] : 1) }
		print "  (x = relative to qemu-nbd on the qcow2 file)"
	     }' "$work/vm-$s/guest.log"
	grep -E 'cache_' "$work/vm-$s/guest.log" | sed 's/^/  /' || true
done
