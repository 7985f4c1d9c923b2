#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Corrupt-image storm: the cases tests/storm/mkstorm made on the host
# (tests/vm/suite: SPF_STORM is their manifest; seed SPF_STORM_SEED,
# default 1, SPF_STORM_COUNT cases, default 200) are attached one by one
# through the raw SPF_IOC_ATTACH by spfstorm, staged on a tmpfs.  Each
# attach must be refused with an errno, or the whole device must read
# back as the good chain's bytes or EIO (EIO only on the damaged chunks
# when the damage is limited to chunk data); no hang (150 s a case: the first encrypted attach
# instantiates gcm(aes), which is slow under TCG on a busy host), and no
# oops, WARN, BUG or hung task in the kernel log.  One PASS/FAIL line per
# damage class, with its counts; FAIL lines name the case (its id, and
# what was damaged) so that `mkstorm --seed S --count N` rebuilds it.
# SPF_STORM_TIME bounds the run (default 40 s): cases left are not run
# (and counted in the "# spfstorm:" line).
. "$(dirname "$0")/../../lib.sh"

m=${SPF_STORM:-}
if [ -z "$m" ] || [ ! -r "$m" ]; then
	fail storm "no storm manifest (SPF_STORM='$m'; tests/vm/suite makes it)"
	finish
fi
log=$T/storm.log
[ -d /scratch ] && [ -w /scratch ] && log=/scratch/storm.log
echo "# storm: $(grep -m1 '^# mkstorm' "$m"), manifest $m, log $log"
dmesg_before=$(dmesg | wc -l)

# The checker itself must be able to fail: a good chain passes, the same
# chain compared with another disk is wrong data, a flipped chunk that the
# manifest does not list is EIO in the wrong place.
st=${m%/*}/manifest.selftest
if [ -r "$st" ]; then
	out=$("$SPF_TOOLS/spfstorm" -s "$T/stage" -t 150 "$st" 2>&1)
	rc=$?
	if [ "$rc" = 1 ] &&
		grep -q '^PASS storm-selftest-good: 1 cases' <<<"$out" &&
		grep -q '^FAIL storm-selftest-wrong-9001: WRONG DATA at [0-9]*+4096 ' <<<"$out" &&
		grep -q '^FAIL storm-selftest-eio-9002: EIO at [0-9]*+4096, outside the damaged chunks [0-9]*-[0-9]* ' <<<"$out"; then
		pass storm-checker-can-fail
	else
		fail storm-checker-can-fail "spfstorm $st exited $rc: $(printf '%s' "$out" | grep -v '^#' | tr '\n' '|')"
	fi
else
	fail storm-checker-can-fail "no $st"
fi

"$SPF_TOOLS/spfstorm" -s "$T/stage" -t 150 -T "${SPF_STORM_TIME:-40}" -l "$log" "$m"
rc=$?
case $rc in
0 | 1) ;;
*) fail storm "spfstorm exited $rc (setup error or a hang)" ;;
esac
if splat=$(dmesg | tail -n +"$((dmesg_before + 1))" |
	grep -E 'Oops|WARNING:|BUG:|KASAN:|UBSAN:|general protection|Call Trace|blocked for more than|soft lockup|rcu_sched self-detected|stall' |
	head -n 5) && [ -n "$splat" ]; then
	fail storm-kernel-log "$(printf '%s' "$splat" | tr '\n' ' ')"
else
	pass storm-kernel-log
fi
left=$(for x in /sys/block/spf*; do [ -e "$x" ] && echo "${x##*/}"; done)
[ -z "$left" ] && pass storm-no-device-left || fail storm-no-device-left "left attached: $left"
finish
