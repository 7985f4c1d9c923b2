#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Memory safety of spfctl:
#  1. a representative set of commands (every codec, encryption, chains,
#     stdin/stdout, and the main failure paths) under valgrind
#     --leak-check=full --error-exitcode=99;
#  2. the userspace suite's spfctl scripts re-run with the ASan+UBSan build
#     (tools/spfctl/spfctl-asan), leaks on, halting on the first report.
# Each re-run script counts as one result here.
#
# SPF_MEMCHECK_SCRIPTS overrides the list of re-run scripts (names under
# tests/user, without .sh); SPF_MEMCHECK_JOBS the parallel re-runs (2).
. "$(dirname "$0")/../lib.sh"
need_spfctl

# --- 1. valgrind ----------------------------------------------------------------------
vg() {	# vg NAME STATUS CMD ARGS... : spfctl ARGS under valgrind, exit STATUS
	local name=$1 want=$2 rc; shift 2
	local log=$T/vg.$((++vgn)).log
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
		--track-fds=no --log-file="$log" "$SPFCTL" "$@" >"$T/vg.out" 2>"$T/vg.err" \
		<"${VG_STDIN:-/dev/null}" && rc=0 || rc=$?
	if [ "$rc" = 99 ] || grep -q '^==[0-9]*== [A-Z]' "$log"; then
		fail "valgrind: $name" "$(grep -m 6 '^==' "$log" | tr '\n' ' ')"
	elif [ "$rc" != "$want" ]; then
		fail "valgrind: $name" "exit $rc, expected $want: $(head -n 2 "$T/vg.err" | tr '\n' ' ')"
	else
		pass "valgrind: $name"
	fi
}
vgn=0

if [ "${SPF_MEMCHECK_VALGRIND:-1}" = 0 ]; then
	skip "valgrind" "SPF_MEMCHECK_VALGRIND=0"
elif command -v valgrind >/dev/null; then
	# valgrind costs over a second per run: a few runs that cover every
	# command, codec, encryption, chains, pipes and the failure paths.
	mkkey "$T/key"
	mkkey "$T/wrong" nope
	mkdisk_mixed "$T/l0.raw" 256 vg
	cp "$T/l0.raw" "$T/l1.raw"; modify_chunks "$T/l1.raw" 4096 vg1 5 >/dev/null
	{ cat "$T/l1.raw"; rand_bytes vggrow 10000; } > "$T/l2.raw"
	mkdir "$T/v" "$T/ve"
	K=(--key-file "$T/key")
	"$SPFCTL" create --compress lz4 --chunk-size 4K "$T/l0.raw" "$T/v/a.spf" 2>/dev/null
	VG_STDIN=$T/l1.raw vg "create deflate incremental from stdin" 0 \
		create --threads 2 --compress deflate --parent "$T/v/a.spf" - "$T/v/b.spi"
	vg "create zstd grown incremental" 0 create --parent "$T/v/b.spi" "$T/l2.raw" "$T/v/c.spi"
	vg "create encrypted to stdout" 0 create --encrypt "${K[@]}" $KDF_FAST --chunk-size 4K "$T/l0.raw" -
	"$SPFCTL" create --encrypt "${K[@]}" $KDF_FAST --chunk-size 4K "$T/l0.raw" "$T/ve/a.spf" 2>/dev/null
	vg "create encrypted incremental" 0 create "${K[@]}" --parent "$T/ve/a.spf" "$T/l1.raw" "$T/ve/b.spi"
	vg "info --json --key-file" 0 info --json "${K[@]}" "$T/ve/b.spi"
	vg "verify encrypted chain" 0 verify "${K[@]}" "$T/ve/b.spi"
	vg "export chain to stdout" 0 export "$T/v/c.spi" -
	vg "export encrypted chain" 0 export "${K[@]}" "$T/ve/b.spi" "$T/ve/b.out"
	mkdir "$T/vm"
	vg "merge plain run, recompressed" 0 merge --compress zstd "$T/v/b.spi" "$T/v/c.spi" "$T/vm/bc.spi"
	vg "merge encrypted chain from the full" 0 merge "${K[@]}" "$T/ve/a.spf" "$T/ve/b.spi" "$T/vm/ab.spf"
	vg "merge: FROM after TO" 1 merge "$T/v/c.spi" "$T/v/b.spi" "$T/vm/x.spi"
	# failure paths
	cp "$T/v/c.spi" "$T/v/c.keep"
	spfpatch "$T/v/c.spi" flip --raw "c[$(spfpatch "$T/v/c.spi" get 'b[0].e[1].chunk')]+2"
	poke "$T/v/b.spi" $(( $(spfpatch "$T/v/b.spi" get t.index_offset) + 100 ))
	vg "damaged chunk and index (verify)" 1 verify "$T/v/c.spi"
	vg "wrong passphrase" 1 export --key-file "$T/wrong" "$T/ve/b.spi" "$T/ve/w.out"
	rm "$T/v/a.spf"
	vg "missing parent" 1 export "$T/v/c.keep" "$T/v/c.out"
	{ printf 'SPFI\0'; head -c 5000 /dev/zero; } > "$T/sp.spi"
	vg "ShadowProtect file" 1 info "$T/sp.spi"
	vg "usage error" 2 create --chunk-size 3K "$T/l0.raw" "$T/v/x.spf"
else
	skip "valgrind" "valgrind is not installed (scripts/install-deps)"
fi

# --- 2. the suite under ASan + UBSan ------------------------------------------------------------
# Always (re)build: a stale ASan binary would test yesterday's spfctl.
ASAN_BIN=$ROOT/tools/spfctl/spfctl-asan
make -s -C "$ROOT/tools/spfctl" asan >"$T/asan-build.log" 2>&1 ||
	{ fail "ASan build" "$(tail -n 3 "$T/asan-build.log" | tr '\n' ' ')"; finish; }
scripts=${SPF_MEMCHECK_SCRIPTS:-"10-cli 20-roundtrip 30-chain 40-info 50-verify 55-merge 60-badinput 70-create-safety 87-overlay"}
jobs=${SPF_MEMCHECK_JOBS:-2}

# asan_run NAME: re-run tests/user/NAME.sh with the ASan binary; results in
# $T/asan-NAME.{out,logs/}
asan_run() {
	local name=$1 dir=$T/asan-$1
	mkdir -p "$dir/logs"
	SPFCTL=$ASAN_BIN SPF_TEST_QUICK=1 \
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:log_path=$dir/logs/asan" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$dir/logs/ubsan" \
	LSAN_OPTIONS="log_path=$dir/logs/lsan" \
		bash "$TESTS_DIR/user/$name.sh" >"$dir/out" 2>&1
	echo $? >"$dir/rc"
}

running=0
for s in $scripts; do
	[ -f "$TESTS_DIR/user/$s.sh" ] || { fail "asan: $s" "no tests/user/$s.sh"; continue; }
	asan_run "$s" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

for s in $scripts; do
	dir=$T/asan-$s
	[ -f "$dir/out" ] || continue
	np=$(grep -c '^PASS ' "$dir/out")
	nf=$(grep -c '^FAIL ' "$dir/out")
	logs=$(ls "$dir/logs" 2>/dev/null)
	if [ -n "$logs" ]; then
		first=$(ls "$dir"/logs/* | head -n 1)
		fail "asan: $s" "sanitizer report(s): $logs: $(grep -m 4 -E 'ERROR|runtime error|SUMMARY|#[0-3] ' "$first" | tr '\n' ' ')"
	elif [ "$nf" -ne 0 ]; then
		# Failures the normal run of the script (tests/run's log) also
		# had are spfctl or test bugs reported there, not memory errors.
		normal=$ROOT/build/test-logs/$s.log
		new=$(grep '^FAIL ' "$dir/out" | cut -c1-45 | while read -r l; do
			[ -f "$normal" ] && grep -qF -- "$l" "$normal" || echo "$l"
		done)
		if [ -n "$new" ]; then
			fail "asan: $s" "$nf of $((np + nf)) failed under ASan: $(grep -m 3 '^FAIL ' "$dir/out" | tr '\n' ' ')"
		else
			pass "asan: $s ($np checks clean; its $nf failures are the normal run's too)"
		fi
	elif [ "$(cat "$dir/rc")" != 0 ] || [ "$np" -eq 0 ]; then
		fail "asan: $s" "exit $(cat "$dir/rc"), $np passed: $(tail -n 3 "$dir/out" | tr '\n' ' ')"
	else
		pass "asan: $s ($np checks clean)"
	fi
done

finish
