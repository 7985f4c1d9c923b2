#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Device benchmark (issue 4): /dev/spfN against loop and qemu-nbd, side by
# side in one qemu guest (TCG, 2 vCPUs) per kernel, on the same source disk.
# See tests/bench/README.md for what is measured and docs/performance.md
# for the methodology and results.
#
# Host side: builds (or reuses) the images under build/bench/data-KEY,
# where KEY is a hash of the generators (mkimages.sh, mkbench.py and
# tests/tools/spfpatch.py) and the sizes, builds spfblk.ko from the
# current tree for each kernel, boots the guest that runs guest-bench.sh,
# then report.py writes build/bench/results-KVER.{md,json}.
#
# Usage: tests/bench/bench-device.sh
# Environment:
#   BENCH_KERNELS   kernel series or KVERs (default: "6.1 6.12"; empty:
#                   only build the images)
#   BENCH_RUNTIME   seconds per fio run (default 10; 3 with BENCH_QUICK=1)
#   BENCH_QUICK=1   small disks, short runs: for testing the harness
#   BENCH_DEPTHS    chain depths of the sweep (default "1 16 256 1024")
#   BENCH_MEM       guest memory in MiB (default 5120; 2048 quick)
#   BENCH_PHASES    what the guest runs (default "systems chunks sweep big
#                   writes")
#   BENCH_CHUNK_SIZES   the chunk sizes of the chunks phase (default
#                   "64K 16K 4K"; each codec's default size, 64K for
#                   none and 16K for the others, is its systems image)
#   BENCH_CHUNK_CODECS  its codecs (default "none deflate zstd")
#   BENCH_WRITE_CODECS  images the writes phase attaches writable (default
#                   "zstd"; "zstd none" adds the uncompressed image)
#   BENCH_STRICT=1  exit 1 when a target is missed
#   BENCH_PARALLEL=1  run the systems in one guest and the sweep, the
#                   big disk and the writes in a second guest at the same time
#   BENCH_TAG       suffix of the run folder and results (run-KVER-TAG)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/bench
cd "$top"

quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	src_mb=128 sweep_mb=32 big_size=$((1 << 40)) big_mb=64
	runtime=${BENCH_RUNTIME:-3} mem=${BENCH_MEM:-2048}
else
	src_mb=1024 sweep_mb=64 big_size=$((16 << 40)) big_mb=1024
	runtime=${BENCH_RUNTIME:-10} mem=${BENCH_MEM:-5120}
fi
depths=${BENCH_DEPTHS:-1 16 256 1024}
kernels=${BENCH_KERNELS-6.1 6.12}
sweep_pct=1
phases=${BENCH_PHASES:-systems chunks sweep big writes}
csizes=${BENCH_CHUNK_SIZES:-64K 16K 4K}
ccodecs=${BENCH_CHUNK_CODECS:-none deflate zstd}
wcodecs=${BENCH_WRITE_CODECS:-zstd}
spfctl=$top/tools/spfctl/spfctl

die() { echo "bench-device: $*" >&2; exit 1; }
for t in qemu-img qemu-nbd fio mke2fs openssl python3 qemu-system-x86_64; do
	command -v "$t" >/dev/null || die "$t is missing (scripts/install-deps)"
done
make -s -C tools/spfctl
[ -x "$spfctl" ] || die "$spfctl is missing"

maxdepth=0
for d in $depths; do [ "$d" -gt "$maxdepth" ] && maxdepth=$d; done
# The images depend on these scripts, the sizes and spfctl create's
# defaults (codec, levels, chunk sizes), which its --help states.
key=$({ cat "$here/mkimages.sh" "$here/mkbench.py" tests/tools/spfpatch.py; "$spfctl" create --help; } |
	{ sha256sum; echo "$src_mb $sweep_mb $big_size $big_mb $sweep_pct $depths"; } |
	sha256sum | cut -c1-12)
data=$top/build/bench/data-$key
mkdir -p "$top/build/bench"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

if [ ! -f "$data/.done" ]; then
	"$here/mkimages.sh" "$data" "$src_mb" "$sweep_mb" "$big_size" "$big_mb" "$maxdepth" "$sweep_pct" "$depths"
else
	echo "bench: reusing the images in $data"
fi
# The depths the guest runs must be in the cached sums.
for d in $depths; do
	grep -q "^SUM $d " "$data/chain/sums" || { rm -f "$data/.done"; die "depth $d is not in $data/chain/sums; run again to rebuild"; }
done

# dcs[CODEC]: the chunk size of the systems image spf-CODEC.spf, i.e.
# spfctl create's default for CODEC ("16K").
declare -A dcs
for c in $ccodecs; do
	cshift=$(python3 tests/tools/spfpatch.py "$data/spf-$c.spf" get h.chunk_shift) ||
		die "cannot read the chunk size of spf-$c.spf"
	dcs[$c]=$((1 << (cshift - 10)))K
done

# The chunks phase's images: the source disk written with each codec at
# each chunk size but its default (the systems image), spf-CODEC-cSIZE.spf
# beside the others (built once; a new one means a new pack).
csystems=
case " $phases " in
*" chunks "*)
	for cs in $csizes; do
		for c in $ccodecs; do
			[ "$cs" = "${dcs[$c]}" ] && continue
			csystems="$csystems${csystems:+ }spf-$c-c$cs"
			f=$data/spf-$c-c$cs.spf
			[ -f "$f" ] && continue
			echo "bench: writing $(basename "$f")"
			"$spfctl" create --compress "$c" --chunk-size "$cs" "$data/source.raw" "$f.tmp" >/dev/null ||
				die "spfctl create --chunk-size $cs --compress $c failed"
			mv "$f.tmp" "$f"
			rm -f "$data/pack.idx"
		done
	done ;;
esac

# The images reach the guest as one read-only virtio-blk disk: pack.img
# holds each file (and a tar of the chain) at a 1 MiB-aligned offset,
# pack.idx lists "NAME OFFSET LENGTH".  The guest copies each one onto its
# tmpfs with dd when it needs it: the 9p share is far too slow for
# gigabytes under TCG.
if [ ! -f "$data/pack.idx" ]; then
	echo "bench: packing the images for the guest"
	python3 - "$data" <<'EOF'
import glob, os, sys, tarfile
d = sys.argv[1]
names = ["source.raw"] + sorted(os.path.basename(p) for p in
                                glob.glob(d + "/*.spf") + glob.glob(d + "/*.qcow2"))
idx = []
with open(d + "/pack.img.tmp", "wb") as out:
    def align():
        out.seek((out.tell() + (1 << 20) - 1) & ~((1 << 20) - 1))
    for n in names:
        align()
        off = out.tell()
        with open(os.path.join(d, n), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            left = size
            while left:
                left -= os.copy_file_range(f.fileno(), out.fileno(), left)
        out.seek(off + size)
        idx.append((n, off, size))
    align()
    off = out.tell()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for p in sorted(glob.glob(d + "/chain/*.sp?")):
            t.add(p, arcname=os.path.basename(p))
    out.seek(0, 2)
    idx.append(("chain.tar", off, out.tell() - off))
    align()
    out.truncate(out.tell() + (1 << 20))
with open(d + "/pack.idx.tmp", "w") as f:
    for n, o, l in idx:
        f.write("%s %d %d\n" % (n, o, l))
os.rename(d + "/pack.img.tmp", d + "/pack.img")
os.rename(d + "/pack.idx.tmp", d + "/pack.idx")
EOF
fi
# shellcheck disable=SC2054 # the commas are qemu's
if grep -qw constant_tsc /proc/cpuinfo; then
	vmdisk=(--machine microvm --qemu -device --qemu virtio-blk-device,drive=spfbench)
else
	vmdisk=(--machine q35 --qemu -device --qemu virtio-blk-pci,drive=spfbench)
fi
vmdisk+=(--qemu -drive --qemu "file=$data/pack.img,if=none,id=spfbench,format=raw,readonly=on")

# build_module KVER: build spfblk.ko from the current tree with
# scripts/build-module and copy it to build/bench/ (other builds may
# rewrite build/kmod/ while the guest runs; a build racing with another
# one is retried).  Prints the copy's path.
build_module() {
	local _ ko
	for _ in 1 2 3; do
		if scripts/build-module "$1" >"$top/build/bench/build-module.out" 2>"$top/build/bench/build-module.err" &&
			ko=$(tail -n 1 "$top/build/bench/build-module.out") && [ -f "$ko" ] && modinfo -F vermagic "$ko" 2>/dev/null | grep -q "^$1 "; then
			cp "$ko" "$top/build/bench/spfblk-$1.ko"
			echo "$top/build/bench/spfblk-$1.ko"
			return 0
		fi
		sleep 5
	done
	echo "bench-device: cannot build spfblk.ko for $1: $(tail -n 3 "$top/build/bench/build-module.err")" >&2
	return 1
}

# run_guest SCRATCH PHASES MEM: one guest running guest-bench.sh.
run_guest() {
	rm -rf "$1"
	mkdir -p "$1"
	tests/vm/run-vm -q --kver "$kver" --smp 2 --mem "$3" --timeout 5400 "${vmdisk[@]}" \
		--scratch "$1" -- "$here/guest-bench.sh" "$ko" "$data" "$runtime" "$depths" "$2" "$wcodecs" \
		"$csystems" || {
		echo "bench: the guest ($2) failed on $kver; the end of its log:" >&2
		tail -n 30 "$1/guest.log" >&2
		return 1
	}
}

status=0
for s in $kernels; do
	kver=$(tests/vm/kernels --kver "$s") || die "no kernel for '$s'"
	ko=$(build_module "$kver") || { status=1; continue; }
	scratch=$top/build/bench/run-$kver${BENCH_TAG:+-$BENCH_TAG}
	results=$top/build/bench/results-$kver${BENCH_TAG:+-$BENCH_TAG}
	rm -rf "$scratch"
	mkdir -p "$scratch"
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	t=$(now)
	if [ "${BENCH_PARALLEL:-0}" = 1 ]; then
		# The systems in one guest, the sweep, the big disk and the
		# writes (whose overlays need the room) in a second one at the
		# same time (halves the wall time; the two share the host's
		# CPUs).  BENCH_PHASES picks which of them run.
		pa_ph='' pb_ph=''
		for p in $phases; do
			case $p in
			systems | chunks) pa_ph="$pa_ph${pa_ph:+ }$p" ;;
			*) pb_ph="$pb_ph${pb_ph:+ }$p" ;;
			esac
		done
		echo "bench: Linux $kver, two guests (${pa_ph:-none}: 3072 MiB; ${pb_ph:-none}: ${mem} MiB), ${runtime} s per fio run, load average $load"
		pa=
		if [ -n "$pa_ph" ]; then
			run_guest "$scratch/a" "$pa_ph" 3072 &
			pa=$!
		fi
		if [ -n "$pb_ph" ]; then
			run_guest "$scratch/b" "$pb_ph" "$mem" || status=1
		fi
		if [ -n "$pa" ]; then wait "$pa" || status=1; fi
		dirs=$scratch/a:$scratch/b
		gmem="3072 + $mem"
	else
		echo "bench: Linux $kver, guest ${mem} MiB, ${runtime} s per fio run, load average $load"
		run_guest "$scratch" "$phases" "$mem" || status=1
		dirs=$scratch
		gmem=$mem
	fi
	{
		echo "kver $kver"
		echo "runtime $runtime"
		echo "phases $phases"
		echo "write_codecs $wcodecs"
		echo "chunk_sizes $csizes"
		echo "chunk_codecs $ccodecs"
		echo "chunk_systems $csystems"
		for c in $ccodecs; do echo "default_chunk_$c ${dcs[$c]}"; done
		echo "quick $quick"
		echo "guest_mem_mb $gmem"
		echo "parallel_guests ${BENCH_PARALLEL:-0}"
		echo "load_before $load"
		echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "host_cpus $(nproc)"
		echo "host_cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
		echo "wall_seconds $(since "$t")"
		echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
		echo "qemu $(qemu-img --version | head -n 1 | awk '{ print $3 }')"
		echo "fio $(fio --version)"
		echo "ko_srcversion $(sha256sum "$ko" | cut -c1-12)"
		echo "tree $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$top" diff --quiet -- drivers 2>/dev/null || echo +changes)"
	} >"$scratch/host.txt"
	# A failed guest still leaves what it measured: report it.
	python3 "$here/report.py" "$scratch/host.txt" "$dirs" "$data" "$results" || status=1
	cat "$results.md"
done
exit $status
