#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of tests/bench/bench-device.sh: runs inside the qemu guest
# (tests/vm/run-vm).  Not meant to be run by hand.
#
# Usage: guest-bench.sh KO DATA RUNTIME DEPTHS [PHASES [WCODECS [CSYSTEMS]]]
#   KO       spfblk.ko to insmod
#   DATA     the host folder with the images (build/bench/data-KEY)
#   RUNTIME  seconds per fio run
#   DEPTHS   chain depths of the sweep ("1 16 256 1024")
#   PHASES   which parts run (default "systems sweep big writes")
#   WCODECS  the images the writes phase attaches writable (default "zstd":
#            spf-zstd.spf; "zstd none" adds spf-none.spf)
#   CSYSTEMS the chunks phase's images, spf-CODEC-cSIZE (the host lists
#            them: each codec at each size but its default)
#
# Writes to /scratch (the host's run folder):
#   metrics.txt   "KEY VALUE" lines (attach times, memory, cache figures,
#                 data checks)
#   fio/NAME.json one fio JSON report per run
# Image files are copied onto a tmpfs in the guest, one system at a time.
set -eu
ko=$1 data=$2 runtime=$3 depths=$4 phases=${5:-systems chunks sweep big writes} wcodecs=${6:-zstd}
csystems=${7:-}
spfctl=$(cd "$(dirname "$0")/../.." && pwd)/tools/spfctl/spfctl
out=/scratch
work=/mnt/bench
metrics=$out/metrics.txt
mkdir -p "$out/fio" "$work"
: >"$metrics"
mount -t tmpfs -o size=85% tmpfs "$work"

log() { echo "guest: $*"; }
put() { echo "$*" >>"$metrics"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.4f", b - a }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# memkb: Slab + VmallocUsed in KiB.
memkb() { awk '/^Slab:|^VmallocUsed:/ { s += $2 } END { print s }' /proc/meminfo; }
# settle [IMAGE]: drop caches twice and let RCU-freed slab objects go.
# With IMAGE, then run `spfctl info IMAGE`, so that a timed attach of it
# does not include paging spfctl and its libraries (libcrypto, its
# config) back in over the 9p root: up to 1.7 s under TCG, an artefact of
# this guest.
settle() {
	drop; sleep 1; drop
	[ -z "${1:-}" ] || "$spfctl" info "$1" >/dev/null
}

# fetch NAME DEST: copy NAME out of the pack disk (bench-device.sh) to
# DEST, or from DATA over 9p when there is no pack disk.  chain.tar is
# unpacked into the folder DEST.
modprobe virtio_blk 2>/dev/null || true
pack=
for _ in $(seq 1 50); do
	[ -b /dev/vda ] && { pack=/dev/vda; break; }
	sleep 0.1
done
fetch() {
	local off len
	if [ -z "$pack" ]; then
		if [ "$1" = chain.tar ]; then
			cp "$data"/chain/*.spf "$data"/chain/*.spi "$2/"
		else
			cp "$data/$1" "$2"
		fi
		return
	fi
	read -r off len <<<"$(awk -v n="$1" '$1 == n { print $2, $3 }' "$data/pack.idx")"
	[ -n "$len" ] || { log "$1 is not in the pack"; return 1; }
	if [ "$1" = chain.tar ]; then
		dd if="$pack" bs=1M skip=$((off >> 20)) count="$len" iflag=count_bytes status=none |
			tar -x -C "$2"
	else
		dd if="$pack" of="$2" bs=1M skip=$((off >> 20)) count="$len" iflag=count_bytes status=none
	fi
}

# Its dependencies and soft dependencies (crc32c, gcm, aes: the CPU's
# crypto drivers, which udev loads on a real system), as modprobe would.
for m in $(modinfo -F depends "$ko" | tr ',' ' ') \
	 $(modinfo -F softdep "$ko" | sed -n 's/^pre: *//p'); do
	modprobe "$m" 2>/dev/null || echo "bench: modprobe $m failed (built in?)" >&2
done
insmod "$ko"
modprobe nbd nbds_max=2
modprobe loop
put "guest_kernel $(uname -r)"
put "guest_cpus $(nproc)"
put "guest_mem_kb $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
put "pack ${pack:-none (9p)}"
put "module_cache_mb $(cat /sys/module/spfblk/parameters/cache_mb 2>/dev/null || echo ?)"

# spf_check NAME DEV: record the cache figures; cache_bytes must stay
# within cache_budget.
spf_check() {
	local s=/sys/block/${2#/dev/}/spf b u
	b=$(cat "$s/cache_bytes")
	u=$(cat "$s/cache_budget")
	put "cache $1 $b $u $(cat "$s/cache_hits") $(cat "$s/cache_misses")"
}

# run_fio NAME DEV WORKLOAD: one fio run, JSON to fio/NAME.json.  wseq and
# wrand write fio's default buffers (random bytes that compress by 5-8%);
# wseqz writes buffers that compress by half, refilled for every write.
run_fio() {
	local name=$1 dev=$2 wl=$3 args ro=--readonly
	case $wl in
	seq) args=(--rw=read --bs=1M --iodepth=16 --numjobs=1) ;;
	rand) args=(--rw=randread --bs=4k --iodepth=32 --numjobs=4 --group_reporting) ;;
	lat) args=(--rw=randread --bs=4k --iodepth=1 --numjobs=1) ;;
	wseq) args=(--rw=write --bs=1M --iodepth=16 --numjobs=1) ro= ;;
	wseqz) args=(--rw=write --bs=1M --iodepth=16 --numjobs=1
		     --buffer_compress_percentage=50 --refill_buffers) ro= ;;
	wrand) args=(--rw=randwrite --bs=4k --iodepth=32 --numjobs=4 --group_reporting) ro= ;;
	esac
	fio --name="$name" --filename="$dev" ${ro:+"$ro"} --direct=1 --ioengine=libaio \
		--time_based --runtime="$runtime" "${args[@]}" \
		--output-format=json --output="$out/fio/$name.json" >/dev/null 2>"$out/fio/$name.err" || {
		log "fio $name failed: $(head -n 3 "$out/fio/$name.err")"
		return 1
	}
}

# wait_size DEV: until the block device has a size (qemu-nbd -c).
wait_size() {
	local _
	for _ in $(seq 1 100); do
		[ "$(cat "/sys/block/${1#/dev/}/size" 2>/dev/null || echo 0)" -gt 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# phase NAME: whether NAME is in PHASES.
phase() { case " $phases " in *" $1 "*) return 0 ;; esac; return 1; }

# --- 1. the systems, one at a time, on the same disk -------------------------------
phase systems && systems="loop spf-none spf-none-fa spf-none-va spf-none-nv spf-zstd nbd-zstd spf-deflate nbd-zlib spf-zstd-aes nbd-luks spf-lz4"
# The chunks phase: the same workloads on images with other chunk sizes
# (spf-CODEC-cSIZE), compared in the report with the systems above, which
# have spfctl's default.
if phase chunks && [ -n "$csystems" ]; then
	systems="${systems:-}${systems:+ }$csystems"
fi
for sys in ${systems:-}; do
	log "$sys"
	case $sys in
	loop) f=source.raw ;;
	spf-none-fa | spf-none-nv | spf-none-va) f=spf-none.spf ;;
	spf-*) f=$sys.spf ;;
	nbd-*) f=$sys.qcow2 ;;
	esac
	t=$(now)
	fetch "$f" "$work/$f"
	put "fetch $sys $(since "$t")"
	settle
	m0=$(memkb)
	t=$(now)
	case $sys in
	loop) dev=$(losetup -f --show -r "$work/$f") ;;
	spf-zstd-aes) dev=$("$spfctl" attach -P -k "$data/key" "$work/$f") ;;
	spf-none-nv) dev=$("$spfctl" attach -P --no-verify "$work/$f") ;;
	spf-none-va) dev=$("$spfctl" attach -P --verify=always "$work/$f") ;;
	spf-*) dev=$("$spfctl" attach -P "$work/$f") ;;
	nbd-luks)
		qemu-nbd -r -c /dev/nbd0 --object secret,id=sec0,file="$data/key" \
			--image-opts "driver=qcow2,file.filename=$work/$f,encrypt.key-secret=sec0"
		dev=/dev/nbd0 ;;
	nbd-*) qemu-nbd -r -f qcow2 -c /dev/nbd0 "$work/$f"; dev=/dev/nbd0 ;;
	esac
	wait_size "$dev"
	put "attach $sys $(since "$t")"
	put "mem $sys attach $(($(memkb) - m0))"
	# spf-none-fa: 4 KiB random reads right after the attach, before any
	# other run has read (and so checked) the chunks: every chunk's first
	# read in the run pays its check, as after a fresh attach.
	wls="seq rand lat"
	[ "$sys" = spf-none-fa ] && wls=rand
	for wl in $wls; do
		drop
		run_fio "$sys-$wl" "$dev" "$wl"
		case $sys in spf-*) spf_check "$sys-$wl" "$dev" ;; esac
	done
	case $sys in
	loop) losetup -d "$dev" ;;
	spf-*) "$spfctl" detach "$dev" ;;
	nbd-*) qemu-nbd -d "$dev" >/dev/null; sleep 0.5 ;;
	esac
	rm -f "${work:?}/$f"
done

# --- 2. chain depth sweep -----------------------------------------------------------
if phase sweep; then
log "chain sweep: copying"
mkdir -p "$work/chain"
t=$(now)
fetch chain.tar "$work/chain"
put "fetch chain $(since "$t")"
# Two passes, the depths in order and then in reverse, each attaching
# afresh: under TCG a run's speed drifts with the host over minutes, and
# the report takes the mean of the two passes, so that no depth is
# favoured by its place in the order.  The first pass also checks the data.
# shellcheck disable=SC2086 # split on purpose
rdepths=$(printf "%s\n" $depths | tac | tr "\n" " ")
for pass in 1 2; do
dl=$depths
[ "$pass" = 2 ] && dl=$rdepths
for d in $dl; do
	n=depth-$d
	[ "$pass" = 2 ] && n=depth-$d.2
	log "depth $d (pass $pass)"
	top=$work/chain/$d.spi
	[ "$d" = 0 ] && top=$work/chain/0.spf
	settle "$top"
	m0=$(memkb)
	t=$(now)
	dev=$("$spfctl" attach -P "$top")
	put "attach $n $(since "$t")"
	put "mem $n attach $(($(memkb) - m0))"
	put "layers $n $(cat "/sys/block/${dev#/dev/}/spf/nr_layers")"
	spf_check "$n-attach" "$dev"
	if [ "$pass" = 1 ]; then
		want=$(awk -v d="$d" '$1 == "SUM" && $2 == d { print $3 }' "$data/chain/sums")
		got=$(sha256sum <"$dev" | cut -d' ' -f1)
		put "datacheck $n $([ "$got" = "$want" ] && echo ok || echo MISMATCH)"
		spf_check "$n-sha" "$dev"
	else
		cat "$dev" >/dev/null
	fi
	for wl in seq rand; do
		run_fio "$n-$wl-warmup" "$dev" "$wl"
		run_fio "$n-$wl" "$dev" "$wl"
		spf_check "$n-$wl" "$dev"
	done
	put "mem $n end $(($(memkb) - m0))"
	"$spfctl" detach "$dev"
	# Three more attaches, without the cache drop: the first one's time
	# swings by seconds under TCG after a drop (1.2 to 5.9 s at depth
	# 1024), these by much less; the report gives their median too.
	for k in 1 2 3; do
		t=$(now)
		dev=$("$spfctl" attach -P "$top")
		put "attach $n.again$k $(since "$t")"
		"$spfctl" detach "$dev"
	done
done
done
rm -rf "${work:?}/chain"
fi

# --- 3. the big sparse disk ---------------------------------------------------------------
if phase big; then
log "big disk"
# A reference: the same attach for a one-chunk disk, i.e. what any device
# costs (gendisk, blk-mq tag set, ...) apart from its chunk metadata.
head -c 16384 /dev/zero >"$work/tiny.raw"
"$spfctl" create --compress zstd --chunk-size 16K "$work/tiny.raw" "$work/tiny.spf" >/dev/null
settle
m0=$(memkb)
dev=$("$spfctl" attach -P "$work/tiny.spf")
put "mem tiny attach $(($(memkb) - m0))"
"$spfctl" detach "$dev"
rm -f "$work/tiny.raw" "$work/tiny.spf"
fetch big.spf "$work/big.spf"
settle "$work/big.spf"
m0=$(memkb)
t=$(now)
dev=$("$spfctl" attach -P "$work/big.spf")
put "attach big $(since "$t")"
put "mem big attach $(($(memkb) - m0))"
spf_check big-attach "$dev"
put "big_dev_bytes $(blockdev --getsize64 "$dev")"
put "big_chunk_cache_bytes $(cat "/sys/block/${dev#/dev/}/spf/chunk_cache_bytes")"
t=$(now)
# Read only the data ranges (O_DIRECT, 1 MiB each), hash them in order.
got=$(python3 - "$dev" "$data/big.ranges" <<'EOF'
import hashlib, mmap, os, sys
dev, ranges = sys.argv[1], sys.argv[2]
h = hashlib.sha256()
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)
for line in open(ranges):
    w = line.split()
    if w[0] != "RANGE":
        continue
    off, ln = int(w[1]), int(w[2])
    assert ln == 1 << 20
    n = os.preadv(fd, [buf], off)
    assert n == ln, (off, n)
    h.update(buf[:n])
print(h.hexdigest())
EOF
)
put "big_read_seconds $(since "$t")"
want=$(awk '$1 == "SUM" { print $2 }' "$data/big.ranges")
put "datacheck big $([ "$got" = "$want" ] && echo ok || echo MISMATCH)"
put "mem big read $(($(memkb) - m0))"
spf_check big-read "$dev"
"$spfctl" detach "$dev"
rm -f "$work/big.spf"
fi

# --- 4. writes (issue 7) ------------------------------------------------------------
# For each workload, on the same image: spfblk with the image attached
# writable on a fresh overlay next to it, then qemu-nbd serving a fresh
# qcow2 overlay whose backing file is the same image attached read-only
# (/dev/spfM), with the systems phase's qemu-nbd settings (its defaults).
# Records "w NAME KEY VALUE" lines: overlay_bytes / overlay_records (sysfs,
# after the run), overlay_file (the overlay's or qcow2's size), alloc
# (its allocated bytes), detach_s (spfctl detach = detach + seal; qemu-nbd
# -d), sealed_bytes (the incremental the overlay was sealed into) and seal
# (ok / FAILED).
# wdetach DEV: spfctl detach DEV, retried while qemu-nbd lets go of it.
wdetach() {
	local _
	for _ in $(seq 1 50); do
		"$spfctl" detach "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	"$spfctl" detach "$1"
}
if phase writes; then
for c in $wcodecs; do
	img=spf-$c.spf
	t=$(now)
	fetch "$img" "$work/$img"
	put "fetch spfw-$c $(since "$t")"
	for wl in wseq wseqz wrand; do
		name=spfw-$c-$wl
		log "$name"
		ov=$work/overlay-$wl.spi
		rm -f "$ov"
		settle
		t=$(now)
		if dev=$("$spfctl" attach -P --writable --overlay "$ov" "$work/$img" 2>"$out/$name.attach.err"); then
			dev=${dev%%$'\n'*}
			put "attach $name $(since "$t")"
			run_fio "$name" "$dev" "$wl" || true
			s=/sys/block/${dev#/dev/}/spf
			put "w $name overlay_bytes $(cat "$s/overlay_bytes")"
			put "w $name overlay_records $(cat "$s/overlay_records")"
			put "w $name overlay_file $(stat -c %s "$ov")"
			put "w $name alloc $(($(stat -c %b "$ov") * 512))"
			spf_check "$name" "$dev"
			t=$(now)
			if "$spfctl" detach "$dev" >"$out/$name.seal" 2>&1; then
				put "w $name detach_s $(since "$t")"
				put "w $name sealed_bytes $(stat -c %s "$ov")"
				put "w $name seal ok"
			else
				put "w $name seal FAILED"
				log "$name: detach/seal failed: $(head -n 3 "$out/$name.seal")"
			fi
		else
			log "$name: attach failed: $(head -n 3 "$out/$name.attach.err")"
		fi
		rm -f "$ov"

		name=nbdw-$c-$wl
		log "$name"
		q=$work/overlay-$wl.qcow2
		rm -f "$q"
		ro=$("$spfctl" attach -P "$work/$img")
		qemu-img create -q -f qcow2 -b "$ro" -F raw "$q"
		settle
		t=$(now)
		qemu-nbd -f qcow2 -c /dev/nbd0 "$q"
		wait_size /dev/nbd0
		put "attach $name $(since "$t")"
		run_fio "$name" /dev/nbd0 "$wl" || true
		t=$(now)
		qemu-nbd -d /dev/nbd0 >/dev/null
		put "w $name detach_s $(since "$t")"
		wdetach "$ro"
		put "w $name overlay_file $(stat -c %s "$q")"
		put "w $name alloc $(($(stat -c %b "$q") * 512))"
		rm -f "$q"
	done
	rm -f "${work:?}/$img"
done
fi
umount "$work"
log "done"
