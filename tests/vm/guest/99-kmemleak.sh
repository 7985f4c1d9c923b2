#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# kmemleak, on a kernel that has it (the debug kernel of `make check-debug`;
# the Debian kernels do not, and this script SKIPs there).  Runs last, with
# spfblk still loaded so that leaked objects' backtraces name it:
#   kmemleak-suite   after every other guest script: two scans find no
#                    unreferenced object whose report mentions spfblk (an
#                    object leaked by the rest of the kernel is listed as a
#                    note, and then cleared: it is not ours to fix);
#   kmemleak-cycles  200 attach/detach cycles through the ioctl (spfioc
#                    cycle: attach, read the first and last 64 KiB and each
#                    partition's first 4 KiB, detach) over plain,
#                    partitioned, encrypted and zstd/lz4/deflate chains,
#                    then two scans: zero reports of any kind.
# A scan that finds something also logs "N new suspected memory leaks",
# which makes tests/vm/run-vm fail the run on its own.
. "$(dirname "$0")/../../lib.sh"

KL=/sys/kernel/debug/kmemleak
if [ ! -e "$KL" ]; then
	skip kmemleak "this kernel has no kmemleak ($KL; see make check-debug)"
	finish
fi
if ! grep -q '^spfblk ' /proc/modules; then
	fail kmemleak "spfblk is not loaded"
	finish
fi

# scan OUT: two scans (an object is reported only once it has stayed
# unreferenced through a whole scan and is older than 5 s), the report to
# OUT.
scan() {
	echo scan > "$KL" || return 1
	sleep 6
	echo scan > "$KL" || return 1
	cat "$KL" > "$1"
}
# nobj FILE: number of reported objects.
nobj() { grep -c '^unreferenced object' "$1"; }
# spf_objs FILE: the reports (each starts with "unreferenced object") that
# mention spfblk (the module's frames in the backtrace read "[spfblk]").
spf_objs() {
	awk '/^unreferenced object/ { if (r ~ /spfblk/) printf "%s", r; r = "" }
	     { r = r $0 "\n" }
	     END { if (r ~ /spfblk/) printf "%s", r }' "$1"
}

# ---- after the whole suite ---------------------------------------------------------
if ! scan "$T/suite"; then
	fail kmemleak-suite "cannot scan: $(tail -n 3 "$T/suite" 2>/dev/null)"
	finish
fi
n=$(nobj "$T/suite")
spf_objs "$T/suite" > "$T/suite.spf"
if [ -s "$T/suite.spf" ]; then
	fail kmemleak-suite "$(grep -c '^unreferenced object' "$T/suite.spf") of $n leaked objects mention spfblk; the first:
$(head -n 40 "$T/suite.spf")"
else
	pass kmemleak-suite
fi
if [ "$n" -gt 0 ]; then
	echo "# kmemleak: $n objects leaked by the kernel outside spfblk before the cycles; the first:"
	head -n 20 "$T/suite" | sed 's/^/#   /'
fi
echo clear > "$KL"

# ---- 200 attach/detach cycles --------------------------------------------------------
t=$SECONDS
k=$SPF_FIX/ctl
rc=0
: > "$T/cyc"
# cyc N ARGS...: N cycles of the chain ARGS (files, or -p KEY files).
cyc() {
	local n=$1; shift
	"$SPFIOC" cycle "$n" "$@" >> "$T/cyc" 2>&1 || { echo "cycle $*: failed" >> "$T/cyc"; rc=1; }
}
files() {	# files DIR TOP: the chain's files, base first, one a line
	local d=$SPF_FIX/$1 top=$2 f
	for f in "$d"/base.spf "$d"/l[0-9][0-9][0-9].spi; do
		[ -e "$f" ] || continue
		echo "$f"
		[ "${f##*/}" = "$top" ] && break
	done
}
mapfile -t zp < <(files data/zstd-plain-4k-depth100 l009.spi)
mapfile -t lp < <(files data/lz4-plain-4k-depth10 l009.spi)
mapfile -t ze < <(files data/zstd-enc-4k-depth10 l009.spi)
mapfile -t dp < <(files data/deflate-plain-1m-depth10 l009.spi)
# Two streams in parallel, so that attach and detach also race each other.
(
	cyc 50 "$k/gpt.spf" "$k/gpt1.spi"
	cyc 25 "${zp[@]}"
	cyc 25 "${lp[@]}"
	[ "$rc" = 0 ]
) &
bg=$!
cyc 50 -p "$SPF_FIX/key" "$k/enc.spf"
cyc 25 -p "$SPF_FIX/key" "${ze[@]}"
cyc 25 "${dp[@]}"
wait "$bg" || rc=1
done_cycles=$(awk '/^[0-9]+ cycles$/ { s += $1 } END { print s + 0 }' "$T/cyc")
echo "# kmemleak: $done_cycles attach/detach cycles in $((SECONDS - t)) s"
if [ "$rc" != 0 ] || [ "$done_cycles" != 200 ]; then
	fail kmemleak-cycles "the cycles failed ($done_cycles of 200 done): $(grep -v 'cycles$' "$T/cyc" | head -n 5 | tr '\n' ' ')"
	finish
fi
if ! scan "$T/cycles"; then
	fail kmemleak-cycles "cannot scan"
	finish
fi
n=$(nobj "$T/cycles")
if [ "$n" -eq 0 ]; then
	pass kmemleak-cycles
else
	fail kmemleak-cycles "$n unreferenced objects after 200 attach/detach cycles; the first:
$(head -n 40 "$T/cycles")"
fi
finish
