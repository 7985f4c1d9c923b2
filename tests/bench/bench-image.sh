#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# spfctl image benchmark against qemu-img (issue 2, section 6).
#
# On one realistic source disk (default 1 GiB: an ext4 filesystem filled by
# mke2fs -d with files from /usr, a region of incompressible data and free
# space, i.e. zeros), for zlib/deflate and zstd:
#   spfctl create --compress C      vs  qemu-img convert -c -O qcow2
#                                         -o compression_type=C
#   spfctl export IMAGE OUT         vs  qemu-img convert -O raw QCOW2 OUT
#   and the compressed sizes.
# Both use their defaults: spfctl's chunk size (16 KiB for a codec; 64 KiB
# until 2026-11-23) and qcow2's cluster (64 KiB), levels (zlib 6, zstd 3)
# and threading.  Everything
# lives on a tmpfs (/dev/shm) so the disk adds no noise; each timing is the
# best of BENCH_RUNS runs.  Every export is compared with the source.
#
# Targets: create >= 2x as fast as qemu-img, image <= 5% larger, export
# >= 1.5x as fast.
#
# Usage: tests/bench/bench-image.sh
# Environment:
#   BENCH_SIZE_MB   source size in MiB (default 1024)
#   BENCH_DIR       scratch folder (default: a new folder in /dev/shm)
#   BENCH_RUNS      timed runs per measurement, best kept (default 2)
#   BENCH_STRICT=1  exit 1 when a target is missed
#   SPFCTL          the spfctl binary (default tools/spfctl/spfctl)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPFCTL=${SPFCTL:-$ROOT/tools/spfctl/spfctl}
SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNS=${BENCH_RUNS:-2}

die() { echo "bench-image: $*" >&2; exit 1; }
[ -x "$SPFCTL" ] || die "$SPFCTL is missing (make -C tools/spfctl)"
command -v qemu-img >/dev/null || die "qemu-img is missing (apt-get install qemu-utils)"
command -v mke2fs >/dev/null || die "mke2fs is missing (apt-get install e2fsprogs)"
qemu-img create -q -f qcow2 -o compression_type=zstd /dev/shm/.spfbench-probe.qcow2 1M 2>/dev/null ||
	die "this qemu-img cannot write zstd-compressed qcow2"
rm -f /dev/shm/.spfbench-probe.qcow2

if [ -n "${BENCH_DIR:-}" ]; then
	W=$BENCH_DIR
	mkdir -p "$W"
else
	base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	W=$(mktemp -d "$base/spfbench.XXXXXX")
	trap 'rm -rf "$W"' EXIT
fi
need=$((SIZE_MB * 4 + 256))
avail=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
[ "$avail" -ge "$need" ] || die "$W has $avail MiB free, needs about $need MiB"

now() { date +%s.%N; }
calc() { awk "BEGIN { print ($1) }"; }
# best KEY CMD...: run CMD RUNS times; R[KEY] = the fastest wall time,
# C[KEY] = that run's CPU time (user + system), both in seconds.
best() {
	local key=$1 i d c b="" bc=""
	shift
	for i in $(seq 1 "$RUNS"); do
		TIMEFORMAT='%R %U %S'
		{ time "$@" 2>"$W/cmd.err"; } 2>"$W/time.out" ||
			die "$* failed: $(head -n 2 "$W/cmd.err")"
		d=$(awk '{ print $1 }' "$W/time.out")
		c=$(awk '{ print $2 + $3 }' "$W/time.out")
		if [ -z "$b" ] || [ "$(calc "$d < $b")" = 1 ]; then b=$d bc=$c; fi
	done
	R[$key]=$b
	C[$key]=$bc
}

# --- the source disk -------------------------------------------------------------
echo "== building a ${SIZE_MB} MiB source disk in $W"
src=$W/source.raw
tree=$W/tree
mkdir -p "$tree/data"
# Files from /usr up to ~55% of the disk: whole entries of a few folders,
# in a fixed order.
budget=$((SIZE_MB * 1024 * 55 / 100))
for d in share/doc share/man share/locale include bin sbin lib/x86_64-linux-gnu lib/python3 lib/gcc share lib; do
	[ -d "/usr/$d" ] && du -sk /usr/"$d"/* 2>/dev/null | sort -k2
done | awk -v b="$budget" '!seen[$2]++ { if (s + $1 <= b) { s += $1; print $2 } }' |
	while read -r path; do
		cp -a --parents "$path" "$tree" 2>/dev/null || true
	done
# About 10% incompressible data (media, archives, encrypted files).
openssl enc -aes-128-ctr -nosalt -pass pass:spfbench -pbkdf2 -iter 1 -in /dev/zero 2>/dev/null |
	head -c $((SIZE_MB * 1024 * 1024 / 10)) > "$tree/data/random.bin"
truncate -s "${SIZE_MB}M" "$src"
mke2fs -q -F -t ext4 -d "$tree" -L spfbench "$src" >/dev/null 2>"$W/mke2fs.err" ||
	die "mke2fs failed: $(cat "$W/mke2fs.err")"
rm -rf "$tree"
echo "   ext4 with $(( budget / 1024 )) MiB of /usr files and $((SIZE_MB / 10)) MiB of random data; rest free (zeros)"

# --- measurements ----------------------------------------------------------------------
declare -A R C
fail_targets=0
for algo in zlib zstd; do
	codec=$([ $algo = zlib ] && echo deflate || echo zstd)
	q=$W/img.$algo.qcow2 s=$W/img.$algo.spf
	echo "== $algo"
	best $algo.qc bash -c "rm -f '$q'; qemu-img convert -c -O qcow2 -o compression_type=$algo '$src' '$q'"
	best $algo.sc bash -c "rm -f '$s'; '$SPFCTL' create --compress $codec '$src' '$s'"
	R[$algo.qs]=$(stat -c %s "$q")
	R[$algo.ss]=$(stat -c %s "$s")
	best $algo.qe bash -c "rm -f '$W/q.raw'; qemu-img convert -O raw '$q' '$W/q.raw'"
	cmp -s "$src" "$W/q.raw" || die "qemu-img's $algo export differs from the source"
	rm -f "$W/q.raw"
	best $algo.se bash -c "rm -f '$W/s.raw'; '$SPFCTL' export '$s' '$W/s.raw'"
	cmp -s "$src" "$W/s.raw" || die "spfctl's $codec export differs from the source"
	rm -f "$W/s.raw" "$q" "$s"
done

# --- the table ----------------------------------------------------------------------------
mib() { awk "BEGIN { printf \"%.1f\", $1 / 1048576 }"; }
row() {	# row ALGO WHAT QEMU SPF RATIO TARGET OK
	printf '%-5s %-7s %20s %20s %9s %9s  %s\n' "$@"
}
t() { printf '%.2f s (cpu %.1f)' "${R[$1]}" "${C[$1]}"; }
echo
echo "spfctl vs qemu-img on a ${SIZE_MB} MiB disk ($(nproc) CPUs, best of $RUNS; qemu-img $(qemu-img --version | head -n 1 | awk '{print $3}'); load average $(cut -d' ' -f1-3 /proc/loadavg))"
row algo step qemu-img spfctl ratio target met
for algo in zlib zstd; do
	c=$(calc "${R[$algo.qc]} / ${R[$algo.sc]}")
	e=$(calc "${R[$algo.qe]} / ${R[$algo.se]}")
	z=$(calc "(${R[$algo.ss]} - ${R[$algo.qs]}) * 100 / ${R[$algo.qs]}")
	ok_c=$([ "$(calc "$c >= 2")" = 1 ] && echo yes || echo NO)
	ok_z=$([ "$(calc "$z <= 5")" = 1 ] && echo yes || echo NO)
	ok_e=$([ "$(calc "$e >= 1.5")" = 1 ] && echo yes || echo NO)
	row "$algo" create "$(t $algo.qc)" "$(t $algo.sc)" "$(printf '%.2fx' "$c")" ">=2x" "$ok_c"
	row "$algo" size "$(mib "${R[$algo.qs]}") MiB" "$(mib "${R[$algo.ss]}") MiB" "$(printf '%+.1f%%' "$z")" "<=+5%" "$ok_z"
	row "$algo" export "$(t $algo.qe)" "$(t $algo.se)" "$(printf '%.2fx' "$e")" ">=1.5x" "$ok_e"
	for ok in $ok_c $ok_z $ok_e; do [ "$ok" = yes ] || fail_targets=$((fail_targets + 1)); done
done
echo
if [ "$fail_targets" -eq 0 ]; then
	echo "all targets met"
else
	echo "$fail_targets target(s) missed"
	[ "${BENCH_STRICT:-0}" = 1 ] && exit 1
fi
exit 0
