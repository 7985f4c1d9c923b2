#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fuzzing: build the libFuzzer harness on the shared parser (tests/fuzz),
# make the seed corpus with spfctl, replay it, and run the short fuzzing
# session (FUZZ_SHORT_TIME seconds, default 60).  Any crash, sanitizer
# report or invariant failure is a FAIL naming the reproducer file.
. "$(dirname "$0")/../lib.sh"
need_spfctl

FUZZ=$ROOT/tests/fuzz
log=$T/fuzz.log

if ! command -v clang >/dev/null; then
	fail "fuzz harness builds" "clang is not installed (scripts/install-deps)"
	finish
fi
if make -C "$FUZZ" >"$log" 2>&1; then
	pass "fuzz harness builds"
else
	if grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$log"; then
		fail "fuzz harness builds" "no libFuzzer runtime (install libclang-rt-14-dev): $(grep -m 1 error "$log")"
	else
		fail "fuzz harness builds" "$(grep -m 3 -i error "$log" | tr '\n' ' ')"
	fi
	finish
fi

if make -C "$FUZZ" seeds >"$log" 2>&1; then
	n=$(ls "$ROOT/build/fuzz/seeds" | wc -l)
	[ "$n" -ge 10 ] && pass "seed corpus ($n images)" || fail "seed corpus" "only $n seeds"
else
	fail "seed corpus" "$(tail -n 3 "$log" | tr '\n' ' ')"
	finish
fi

# Every seed must parse far enough: the harness finds the real images valid
# (a sanity check that the harness reaches the index walk at all).
if make -C "$FUZZ" regress >"$log" 2>&1; then
	pass "seeds and corpus replay cleanly"
else
	fail "seeds and corpus replay cleanly" "$(grep -m 3 -E 'ERROR|invariant|runtime error|Test unit written' "$log" | tr '\n' ' ')"
fi

if make -C "$FUZZ" fuzz-short >"$log" 2>&1; then
	stats=$(grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tr '\n' ' ')
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
	pass "short fuzzing run clean ($cov; $stats)"
else
	fail "short fuzzing run clean" "$(grep -m 4 -E 'ERROR|invariant|runtime error|Test unit written|SUMMARY' "$log" | tr '\n' ' ')"
	cp "$log" "$ROOT/build/fuzz/fuzz-short.log" 2>/dev/null &&
		echo "# full log: build/fuzz/fuzz-short.log"
fi

finish
