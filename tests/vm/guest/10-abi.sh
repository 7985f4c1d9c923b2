#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The control ABI in C (tests/vm/abi/spf_abi_test.c, kselftest harness):
# its TAP output becomes one abi/NAME result per test case.  Includes the
# raw-descriptor bad chains the kernel must refuse by itself, each with one
# kernel log line.
. "$(dirname "$0")/../../lib.sh"

bin=$SPF_TOOLS/spf_abi_test
if [ ! -x "$bin" ]; then
	fail abi "$bin is not built (make -C tests/vm/abi)"
	finish
fi

SPF_FIX=$SPF_FIX timeout -k 5 180 "$bin" > "$T/tap" 2>&1
rc=$?
cat "$T/tap" | sed 's/^/    /'

planned=0 seen=0 why=()
while IFS= read -r line; do
	case "$line" in
	1..*)
		planned=${line#1..} ;;
	"#  RUN "*)
		why=() ;;
	"# "*)
		if [[ ! "$line" =~ ^#\ +(OK|FAIL|SKIP)\ |^#\ (PASSED|FAILED|Totals|Starting) ]]; then
			l=${line#\# }; why+=("${l#spf_abi_test.c:}")
		fi ;;
	"ok "*)
		seen=$((seen + 1))
		rest=${line#ok * }
		name=${rest%% *}
		name=abi/${name#ctl.}
		if [[ "$rest" == *"# SKIP"* ]]; then
			skip "$name" "${rest#*# SKIP}"
		else
			pass "$name"
		fi ;;
	"not ok "*)
		seen=$((seen + 1))
		rest=${line#not ok * }
		name=${rest%% *}
		name=abi/${name#ctl.}
		fail "$name" "$(printf '%s; ' "${why[@]:0:4}")" ;;
	esac
done < "$T/tap"

if [ "$seen" -eq 0 ]; then
	fail abi "no TAP results (exit $rc): $(tail -n 3 "$T/tap" | tr '\n' ' ')"
elif [ "$planned" -ne "$seen" ]; then
	fail abi "$planned tests planned, $seen reported (exit $rc): the test program died half-way"
elif [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$T/tap"; then
	fail abi "exit $rc with every test passing"
fi
finish
