#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Bad chains: spfctl attach refuses each with the same message as export
# (wrong key, missing parent, swapped parent, corrupt index, truncated
# image, ShadowProtect file) and leaves no device behind.  The kernel's own
# refusal of the same files passed as raw descriptors is in 10-abi
# (abi/bad_chain_*).  A corrupt data chunk (bad crc, not a zstd frame, a
# failed GCM tag) gives EIO on that chunk's range only, every other sector
# still reads, corrupt_chunks counts them, and the log names the device,
# the file and the chunk.
. "$(dirname "$0")/../../lib.sh"

b=$SPF_FIX/bad
bm=$b/bad.meta
auuid=$(meta "$bm" auuid)
root=$(meta "$bm" root)

# ---- corrupt data chunks ------------------------------------------------------------
_last_errors=-100
# corrupt NAME IMAGE SRC CHUNKS [ATTACH-ARGS...]
corrupt() {
	local name=$1 img=$2 src=$3 chunks=$4 c ranges=() log n cc cc0 ok
	shift 4
	vm_attach "$name" "$@" "$img" || return
	n=${DEV#/dev/}
	cc0=$(sysval "/sys/block/$n/spf/corrupt_chunks")
	for c in $chunks; do
		ranges+=("$((c * 4096))-$(((c + 1) * 4096))")
	done
	# The log lines are rate-limited (10 per 5 s): start with a quiet
	# log, read each bad chunk once, and look at what was logged.
	[ $((SECONDS - _last_errors)) -lt 6 ] && sleep $((6 - (SECONDS - _last_errors)))
	kmsg_mark
	"$SPFIOC" readcheck "$DEV" "$src" 4096 -w 0 "${ranges[@]}" > "$T/first" 2>&1
	log=$(kmsg_since)
	ok=1
	for bs in 512 4096 65536; do
		echo "# $name: readcheck $bs at $SECONDS s"
		w=(); [ "$bs" = 512 ] && w=(-w 16384)
		if ! out=$("$SPFIOC" readcheck "$DEV" "$src" $bs "${w[@]}" "${ranges[@]}" 2>&1); then
			ok=0
			fail "$name-eio-only-there" "reads of $bs bytes: $(printf '%s' "$out" | head -n 4 | tr '\n' ' ')"
			break
		fi
	done
	[ "$ok" = 1 ] && pass "$name-eio-only-there"
	# Still up, and buffered reads of a good region still work.
	if dd if="$DEV" of=/dev/null bs=4096 count=8 status=none 2>/dev/null; then
		pass "$name-device-still-up"
	else
		fail "$name-device-still-up" "reading the first 32 KiB failed after the errors"
	fi
	cc=$(sysval "/sys/block/$n/spf/corrupt_chunks")
	nc=$(set -- $chunks; echo $#)
	if [ -z "$cc" ]; then
		fail "$name-corrupt-chunks" "no /sys/block/$n/spf/corrupt_chunks"
	elif [ "${cc0:-0}" != 0 ] || [ "$cc" -lt "$nc" ]; then
		fail "$name-corrupt-chunks" "corrupt_chunks $cc0 before, $cc after reading $nc bad chunks"
	else
		pass "$name-corrupt-chunks"
	fi
	printf '%s\n' "$log" | head -n 4 | sed 's/^/# log: /'
	ok=1
	for c in $chunks; do
		found=0
		while IFS= read -r l; do
			[[ "$l" == *"$n"* && "$l" == *"${img##*/}"* && "$l" =~ chunk\ $c([^0-9]|$) ]] &&
				{ found=1; break; }
		done <<< "$log"
		if [ "$found" = 0 ]; then
			fail "$name-log" "no log line naming $n, ${img##*/} and chunk $c: $(printf '%s' "$log" | head -n 2 | tr '\n' ' ')"
			ok=0
		fi
	done
	lines=0
	while IFS= read -r l; do [[ "$l" == *spfblk* ]] && lines=$((lines + 1)); done <<< "$log"
	if [ "$lines" -gt 10 ]; then
		fail "$name-log" "$lines spfblk log lines for one read of each of $nc bad chunks"
	elif [ "$ok" = 1 ]; then
		pass "$name-log"
	fi
	_last_errors=$SECONDS
	vm_detach "$name-detach" "$DEV"
	echo "# $name: done at $SECONDS s"
}
corrupt bad-corrupt-chunk "$b/cdata/a.spf" "$b/cdata/src.raw" "$(meta "$bm" k1) $(meta "$bm" k2)"
corrupt bad-corrupt-chunk-encrypted "$b/cdata-enc/e.spf" "$b/cdata-enc/src.raw" "$(meta "$bm" k3)" \
	--key-file "$SPF_FIX/key"
attach_refused() {	# NAME PATTERN ARGS...
	local name=$1 pattern=$2; shift 2
	expect_error "$name" 1 "$pattern" "$SPFCTL" attach "$@"
	local left
	left=$(spf_devices)
	if [ -n "$left" ]; then
		fail "$name-no-device" "a device was left: $(echo $left)"
		for d in $left; do "$SPFCTL" detach "$d" 2>/dev/null; done
	fi
}

attach_refused bad-wrong-key "wrong passphrase" --key-file "$SPF_FIX/wrongkey" "$b/enc/e.spf"
attach_refused bad-missing-parent "$auuid" "$b/missing/b.spi"
attach_refused bad-swapped-parent "$auuid" "$b/swapped/b.spi"
attach_refused bad-corrupt-index "index block at $root: checksum mismatch" "$b/cidx/a.spf"
attach_refused bad-truncated "not finalised (interrupted backup?)" "$b/trunc/a.spf"
attach_refused bad-shadowprotect \
	"is a StorageCraft ShadowProtect image (proprietary format)" "$b/shadow/a.spi"

echo "# refusals done at $SECONDS s"
finish
