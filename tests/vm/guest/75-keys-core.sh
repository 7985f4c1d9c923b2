#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Keys are wiped in spfctl: a core dump of spfctl attach at exit holds
# neither the data key nor the passphrase, while one taken at the attach
# ioctl holds the key (the control).  gdb stops at syscall catchpoints
# and loads no symbols, which is slow under TCG.
. "$(dirname "$0")/../../lib.sh"

keys_setup || finish

# ---- the data key (spfkeys wipes its copies; the first scan checks it) ------------
kenc=$("$SPFKEYS" datakey "$key" "$enc") || { fail keys-wipe-datakey "spfkeys datakey $enc failed"; finish; }

# ---- wiped in spfctl: a core dump at exit_group ------------------------------------------
# core_at CATCH VIA: run spfctl attach under gdb, dump its memory at the
# first stop at CATCH (a syscall catchpoint and condition: no symbols to
# load, which is slow under TCG), let it finish; prints the copies of the
# data key and of the passphrase in the core.
core_at() {
	local catch=$1 via=$2 dev
	rm -f "$T/core"
	timeout 200 gdb -q -batch -nx -ex 'set auto-solib-add off' \
		-ex "catch syscall $catch" -ex "condition 1 ${3:-1}" \
		-ex run -ex "gcore $T/core" -ex 'delete' -ex continue \
		--args "$SPFCTL" attach -P --key-via "$via" -k "$key" "$enc" \
		> "$T/gdb.out" 2>&1
	dev=$(grep -o '^/dev/spf[0-9]*$' "$T/gdb.out")
	[ -n "$dev" ] && "$SPFCTL" detach "$dev"
	if [ ! -s "$T/core" ]; then
		echo "no-core"
		return
	fi
	echo "$("$SPFKEYS" scan "$kenc" "$T/core" | tail -n 1 | cut -d' ' -f1) $("$SPFKEYS" scan "$pwhex" "$T/core" | tail -n 1 | cut -d' ' -f1)"
}
pwhex=$(od -An -tx1 < "$key" | tr -d ' \n')
if ! command -v gdb > /dev/null; then
	skip keys-spfctl-core "no gdb"
else
	t=$SECONDS
	# Control: at SPF_IOC_ATTACH (0xc048f500) the key is in memory, so the
	# scan of a core taken there must find it.
	read -r kn pn <<< "$(core_at ioctl keyring '$rsi == 0xc048f500')"
	if [ "$kn" = no-core ]; then
		fail keys-spfctl-core-control "gdb made no core: $(tail -n 3 "$T/gdb.out" | tr '\n' ' ')"
	elif [ "$kn" -gt 0 ] 2>/dev/null; then
		pass keys-spfctl-core-control
	else
		fail keys-spfctl-core-control "no copy of the data key in a core taken during the attach call"
	fi
	# At exit, keys passed in the attach call (the way with one more
	# buffer; tests/user/75-keys.sh checks verify, export and info).
	for via in ioctl; do
		read -r kn pn <<< "$(core_at exit_group "$via")"
		if [ "$kn" = no-core ]; then
			fail "keys-spfctl-core-$via" "gdb made no core: $(tail -n 3 "$T/gdb.out" | tr '\n' ' ')"
		elif [ "$kn" != 0 ] || [ "$pn" != 0 ]; then
			fail "keys-spfctl-core-$via" "at exit spfctl (keys via $via) still holds $kn copies of the data key and $pn of the passphrase"
		else
			pass "keys-spfctl-core-$via"
		fi
	done
	echo "# spfctl cores: $((SECONDS - t)) s"
fi
[ -z "$(spf_devices)" ] || fail keys-cleanup "devices left: $(spf_devices)"
finish
