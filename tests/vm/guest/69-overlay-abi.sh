#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Writable attach through the raw ioctl (tests/vm/abi/spfovl.c), on chains
# of every codec and chunk size, plain and encrypted, one with a disk size
# that is not a multiple of its chunk size: spfovl makes the overlay
# itself, encrypted when the chain is, under its own key (format.md
# section 11), checks the refusals of bad overlay descriptors, writes
# (buffered, O_DIRECT partial chunks read back at once, write zeroes,
# discard), compares the whole device byte for byte, re-attaches (replay),
# cuts the last record in half and checks the torn tail is dropped with its
# log line and the overlay truncated; for an encrypted overlay it checks
# ENOKEY/EKEYREJECTED and opens every record in user space.
# Results: overlay-abi-CHAIN-CHECK.
. "$(dirname "$0")/../../lib.sh"

bin=$SPF_TOOLS/spfovl
[ -x "$bin" ] || { fail overlay-abi "$bin is not built (make -C tests/vm/abi)"; finish; }
[ -s "$SPF_FIX/data.list" ] || { fail overlay-abi "no $SPF_FIX/data.list"; finish; }

# The plain chains; 69-overlay-abi-enc.sh runs the encrypted ones (each
# script has its own time limit in run-all).  No 1 MiB deflate chain: under
# TCG each partial-chunk write re-encodes a whole 1 MiB chunk, and the
# script took 100-130 s on it alone.
for name in ${SPF_OVL_CHAINS:-none-plain-4k-depth1 lz4-plain-4k-depth10 \
	    zstd-plain-4k-depth100 grow-to-12m-plus-1536}; do
	line=$(awk -v n="$name" '$1 == n' "$SPF_FIX/data.list")
	[ -n "$line" ] || { skip "overlay-abi-$name" "not in data.list"; continue; }
	read -r _ dir top _ _ _ _ _ _ enc <<< "$line"
	layers=("$SPF_FIX/$dir/base.spf")
	for f in "$SPF_FIX/$dir"/l*.spi; do
		[ -e "$f" ] || continue
		layers+=("$f")
		[ "$(basename "$f")" = "$top" ] && break
	done
	ovl=$T/$name.ovl
	start=$SECONDS
	keys=()
	if [ "$enc" = 1 ]; then
		if ! "$SPFIOC" datakey "$SPF_FIX/key" "${layers[@]}" > "$T/keys" 2> "$T/err"; then
			fail "overlay-abi-$name" "spfioc datakey: $(head -n 2 "$T/err")"
			continue
		fi
		keys=(-k "$T/keys")
	fi
	timeout -k 5 300 "$bin" "${keys[@]}" "$ovl" "${layers[@]}" > "$T/out" 2>&1
	rc=$?
	n=0
	while IFS= read -r l; do
		case "$l" in
		"ok "*) pass "overlay-abi-$name-${l#ok }"; n=$((n + 1)) ;;
		"not ok "*)
			l=${l#not ok }
			fail "overlay-abi-$name-${l%%: *}" "${l#*: }"; n=$((n + 1)) ;;
		*) echo "    $l" ;;
		esac
	done < "$T/out"
	[ "$n" -gt 0 ] || fail "overlay-abi-$name" "spfovl printed nothing (exit $rc)"
	[ "$rc" -eq 0 ] || grep -q '^not ok' "$T/out" ||
		fail "overlay-abi-$name" "spfovl exit $rc with every check passing"
	rm -f "$ovl"
	echo "# $name: $((SECONDS - start)) s"
done
finish
