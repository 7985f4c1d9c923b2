#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Control: 200 attach/detach cycles without memory growth, detach of a
# mounted device (EBUSY, then lazily), lazy attach, 8 devices at once,
# renamed and unlinked images, non-root callers, max_devices, the crc32c
# and gcm(aes) drivers (measured at load, or named), and module unload (refused while a
# device exists) and reload.
. "$(dirname "$0")/../../lib.sh"

k=$SPF_FIX/ctl
good=$SPF_FIX/bad/good

# ---- 200 attach/detach cycles: no memory growth -------------------------------
# mem_sample: "MemAvailable Slab Percpu VmallocUsed spf_active_objs" (KiB,
# and objects) after dropping caches.  Shrinking spf's slab caches flushes
# the CPUs' slabs and, on a KASAN kernel, takes the cache's freed objects
# out of KASAN's quarantine, where they would still count as active.
mem_sample() {
	local k v u ma=0 sl=0 pc=0 vm=0 objs=0 l c
	sync
	echo 3 > /proc/sys/vm/drop_caches
	sleep 1
	echo 3 > /proc/sys/vm/drop_caches
	for c in /sys/kernel/slab/*spf*/shrink; do
		[ -w "$c" ] && echo 1 > "$c"
	done
	while read -r k v u; do
		case $k in
		MemAvailable:) ma=$v ;;
		Slab:) sl=$v ;;
		Percpu:) pc=$v ;;
		VmallocUsed:) vm=$v ;;
		esac
	done < /proc/meminfo
	while read -r l; do
		set -- $l
		[[ "$1" == *spf* ]] && objs=$((objs + $2))
	done < /proc/slabinfo
	echo "$ma $sl $pc $vm $objs"
}
slabs=$(grep -i spf /proc/slabinfo | awk '{ print $1 }' | tr '\n' ' ')
echo "# spf slab caches: ${slabs:-none (merged into generic caches)}"

# cyc N: N cycles, half on the partitioned chain and half on the encrypted
# one, the two halves in parallel (attach and detach race each other).
cyc() {
	local half=$(( $1 / 2 )) rc=0
	"$SPFIOC" cycle "$half" "$k/gpt.spf" "$k/gpt1.spi" > "$T/cyc1" 2>&1 &
	"$SPFIOC" cycle $(($1 - half)) -p "$SPF_FIX/key" "$k/enc.spf" > "$T/cyc2" 2>&1 || rc=1
	wait $! || rc=1
	[ "$rc" = 0 ] || { cat "$T/cyc1" "$T/cyc2" | grep -v cycles; return 1; }
}
t=$SECONDS
if ! out=$(cyc 20 2>&1); then
	fail ctl-cycles-200 "warm-up: $out"
else
	# Baseline after a warm-up, then two rounds of 100.  The kernel's
	# own accounting (Slab, Percpu, vmalloc, spf's slab caches) must come
	# back to the baseline.  MemAvailable moves in steps of several MiB
	# that have nothing to do with the driver (per-cpu page lists, RCU
	# batches), so it only catches big leaks: a gendisk, a tag set's
	# requests or a worker context leaked per cycle is 100+ KiB.
	read -r ma0 sl0 pc0 vm0 ob0 <<< "$(mem_sample)"
	ok=1
	for round in 1 2; do
		out=$(cyc 100 2>&1) || { ok=0; fail ctl-cycles-200 "round $round: $out"; break; }
		read -r ma sl pc vm ob <<< "$(mem_sample)"
		[ "$round" = 1 ] && ob1=$ob
		echo "# after $((round * 100)) cycles: MemAvailable $((ma - ma0)) KiB, Slab $((sl - sl0)) KiB, Percpu $((pc - pc0)) KiB, VmallocUsed $((vm - vm0)) KiB, spf slab objects $((ob - ob0))"
	done
	if [ "$ok" = 1 ]; then
		# spf's own slab objects (a kernel that does not merge its caches,
		# such as a KASAN one) are counted from the first 100 cycles on:
		# filling each CPU's slabs once is not a leak, growing is.
		dma=$((ma0 - ma)) dsl=$((sl - sl0)) dpc=$((pc - pc0)) dvm=$((vm - vm0)) dob=$((ob - ob1))
		if [ "$dsl" -gt 512 ] || [ "$dpc" -gt 1024 ] || [ "$dvm" -gt 1024 ] ||
		   [ "$dob" -gt 16 ] || [ "$dma" -gt 20480 ]; then
			fail ctl-cycles-200 "memory grows with attach/detach cycles (over 200): Slab +$dsl KiB (limit 512), Percpu +$dpc KiB (limit 1024), VmallocUsed +$dvm KiB (limit 1024), spf slab objects +$dob from 100 to 200 cycles (limit 16), MemAvailable -$dma KiB (limit 20480)"
		else
			pass ctl-cycles-200
		fi
	fi
fi
echo "# 220 ioctl cycles: $((SECONDS - t)) s"

# ... and some through spfctl, which waits for the node and partitions.
t=$SECONDS
ok=1
for i in 1 2 3 4 5; do
	vm_attach ctl-spfctl-cycles "$k/gpt1.spi" || { ok=0; break; }
	[ -b "${DEV}p1" ] && [ -b "${DEV}p2" ] ||
		{ ok=0; fail ctl-spfctl-cycles "cycle $i: ${DEV}p1/p2 missing when attach returned"; }
	vm_detach ctl-spfctl-cycles "$DEV" || { ok=0; break; }
done
[ "$ok" = 1 ] && pass ctl-spfctl-cycles
echo "# 5 spfctl cycles: $((SECONDS - t)) s"

t=$SECONDS
# ---- detach while mounted: EBUSY; then lazily -----------------------------------
p=$SPF_FIX/parts
if vm_attach ctl-detach-busy "$p/$(meta "$p/parts.meta" top)"; then
	mkdir -p /mnt/spf-busy
	if ! mount -t ext4 -o ro "${DEV}p1" /mnt/spf-busy 2>"$T/err"; then
		fail ctl-detach-busy "mount ${DEV}p1: $(head -n 1 "$T/err")"
		vm_detach ctl-detach-busy "$DEV"
	else
		expect_error_re ctl-detach-busy 1 '[Bb]usy|in use' "$SPFCTL" detach "$DEV"
		[ -b "$DEV" ] || fail ctl-detach-busy-still-there "$DEV vanished after a refused detach"
		if "$SPFCTL" detach --help 2>&1 | grep -q -- '--lazy'; then
			how="spfctl detach --lazy"
			err=$("$SPFCTL" detach --lazy "$DEV" 2>&1) && rc=0 || rc=$?
		else
			how="SPF_IOC_DETACH with SPF_DETACH_F_LAZY (spfctl detach has no --lazy)"
			err=$("$SPFIOC" detach "${DEV#/dev/spf}" lazy 2>&1) && rc=0 || rc=$?
		fi
		if [ "$rc" -ne 0 ]; then
			fail ctl-lazy-detach "$how: exit $rc: $err"
			umount /mnt/spf-busy
		elif [ ! -b "$DEV" ]; then
			fail ctl-lazy-detach "$how removed $DEV while it was mounted"
		elif ! out=$(cd /mnt/spf-busy && sha256sum -c --quiet "$p/p1.sha256" 2>&1); then
			fail ctl-lazy-detach "files unreadable after the lazy detach: $out"
			umount /mnt/spf-busy
		else
			umount /mnt/spf-busy
			wait_gone "$DEV" && pass ctl-lazy-detach ||
				fail ctl-lazy-detach "$how: $DEV still there 5 s after umount"
		fi
	fi
fi

echo "# busy/lazy detach: $((SECONDS - t)) s"; t=$SECONDS
# ---- lazy attach: gone after its first user closes it ----------------------------
if vm_attach ctl-lazy-attach --lazy "$good/b.spi"; then
	sleep 0.5
	if [ ! -b "$DEV" ]; then
		fail ctl-lazy-attach "$DEV vanished before anyone opened it"
	else
		ac=$(sysval "/sys/block/${DEV#/dev/}/spf/autoclear")
		sha=$(sha_of "$DEV")
		if [ "$sha" != "$(meta "$SPF_FIX/bad/bad.meta" good_sha)" ]; then
			fail ctl-lazy-attach "wrong data: $sha"
		elif ! wait_gone "$DEV"; then
			fail ctl-lazy-attach "$DEV still there 5 s after its last close (sysfs autoclear=$ac)"
			"$SPFCTL" detach "$DEV" 2>/dev/null
		else
			pass ctl-lazy-attach
		fi
	fi
fi

echo "# lazy attach: $((SECONDS - t)) s"; t=$SECONDS
# ---- 8 devices at once -------------------------------------------------------------
# Small chains, so that reading all eight at once stays quick: the
# partitioned 4 MiB chain (2 images) and the 1 MiB plain chain, 4 each.
gsha=$(meta "$k/ctl.meta" gpt_sha)
bsha=$(meta "$SPF_FIX/bad/bad.meta" good_sha)
devs=() shas=() ok=1
for i in 1 2 3 4; do
	vm_attach ctl-8-devices "$k/gpt1.spi" || { ok=0; break; }
	devs+=("$DEV"); shas+=("$gsha")
	vm_attach ctl-8-devices "$good/b.spi" || { ok=0; break; }
	devs+=("$DEV"); shas+=("$bsha")
done
if [ "$ok" = 1 ]; then
	if [ "$(printf '%s\n' "${devs[@]}" | sort -u | wc -l)" -ne 8 ]; then
		fail ctl-8-devices "not 8 distinct devices: ${devs[*]}"
	else
		for i in "${!devs[@]}"; do
			sha256sum < "${devs[$i]}" > "$T/sha.$i" &
		done
		wait
		bad=
		for i in "${!devs[@]}"; do
			read -r s _ < "$T/sha.$i"
			[ "$s" = "${shas[$i]}" ] || bad="$bad ${devs[$i]}"
		done
		[ -z "$bad" ] && pass ctl-8-devices ||
			fail ctl-8-devices "wrong data read in parallel from:$bad"
	fi
	out=$("$SPFCTL" list --json 2>&1) && rc=0 || rc=$?
	nlisted=$(printf '%s' "$out" | grep -o '"/dev/spf[0-9]*"' | sort -u | wc -l)
	if [ "$rc" -ne 0 ] || [ "$nlisted" -ne 8 ]; then
		fail ctl-list-json "exit $rc, $nlisted devices listed: $(printf '%s' "$out" | head -c 300 | tr '\n' ' ')"
	else
		pass ctl-list-json
	fi
fi
err=$("$SPFCTL" detach --all 2>&1) && rc=0 || rc=$?
left=$(spf_devices | tr '\n' ' ')
[ "$rc" = 0 ] && [ -z "$left" ] && pass ctl-detach-all ||
	fail ctl-detach-all "exit $rc ($err); left: $left"
for d in $(spf_devices); do "$SPFIOC" detach "${d#/dev/spf}" 2>/dev/null; done
echo "# 8 devices: $((SECONDS - t)) s"; t=$SECONDS
# ---- renamed and unlinked images keep working --------------------------------
mkdir -p "$T/rn"
cp "$good/a.spf" "$good/b.spi" "$T/rn/"
if vm_attach ctl-renamed-unlinked "$T/rn/b.spi"; then
	mv "$T/rn/a.spf" "$T/rn/renamed.bin"
	rm -f "$T/rn/b.spi"
	sync; echo 3 > /proc/sys/vm/drop_caches
	sha=$(sha_of "$DEV")
	[ "$sha" = "$(meta "$SPF_FIX/bad/bad.meta" good_sha)" ] && pass ctl-renamed-unlinked ||
		fail ctl-renamed-unlinked "sha256 $sha after renaming the base and unlinking the top"
	vm_detach ctl-renamed-unlinked-detach "$DEV"
fi

echo "# renamed/unlinked: $((SECONDS - t)) s"; t=$SECONDS
# ---- non-root callers ------------------------------------------------------------------
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
expect_error_re ctl-nonroot-spfctl 1 '[Pp]ermission denied|not permitted|EPERM|EACCES|root' \
	"${nobody[@]}" "$SPFCTL" attach "$good/b.spi"
# The node is 0600 (EACCES at open); a world-writable copy of it shows the
# ioctls' own CAP_SYS_ADMIN check (every command: 10-abi, abi/eperm_*).
mm=$(sysval /sys/class/misc/spf-control/dev)
if [ -n "$mm" ] && mknod -m 0666 "$T/ctl" c "${mm%%:*}" "${mm##*:}"; then
	chmod 0755 "$T"
	expect_error ctl-nonroot-ioctl-eperm 1 "EPERM" \
		env SPF_CONTROL="$T/ctl" "${nobody[@]}" "$SPFIOC" attach "$good/a.spf"
else
	fail ctl-nonroot-ioctl-eperm "cannot make a copy of /dev/spf-control (dev '$mm')"
fi
echo "# non-root: $((SECONDS - t)) s"; t=$SECONDS
# ---- crc32c and gcm(aes): the fastest driver measured at load, or the one named ---------
# /proc/crypto's drivers for algorithm $1.
crypto_drivers() {
	awk -v a="$1" '$1 == "name" { n = $3 } $1 == "driver" && n == a { print $3 }' /proc/crypto | sort -u
}
# impl_load NAME PARAM ALG ARGS...: insmod with ARGS; PASS if the log line
# and module parameter PARAM name a driver of /proc/crypto for ALG, the good
# chain reads byte for byte, and bad/cdata (crc32c) or bad/cdata-enc (a
# chunk the GCM tag refuses) reads byte for byte with EIO at its corrupt
# chunks only.  Unloads again.
impl_load() {
	local name=$1 param=$2 alg=$3 drv log ranges=() c img chunks key=()
	shift 3
	kmsg_mark
	if ! err=$(insmod "$SPF_MODULE" "$@" 2>&1); then
		fail "$name" "insmod $*: $err"
		return
	fi
	log=$(kmsg_since)
	drv=$(sysval "/sys/module/spfblk/parameters/$param")
	if ! printf '%s\n' "$log" | grep -qF "spfblk: $alg: $drv, "; then
		fail "$name" "no log line for $alg driver '$drv': $(printf '%s' "$log" | tr '\n' ' ')"
	elif ! crypto_drivers "$alg" | grep -qxF -- "$drv"; then
		fail "$name" "parameter $param='$drv' is not a $alg driver of /proc/crypto"
	else
		pass "$name"
	fi
	echo "# $name: $(printf '%s\n' "$log" | grep "spfblk: $alg" | sed 's/^\[[ 0-9.]*\] //')"
	if vm_attach "$name-data" "$good/b.spi"; then
		sha=$(sha_of "$DEV")
		[ "$sha" = "$(meta "$SPF_FIX/bad/bad.meta" good_sha)" ] && pass "$name-data" ||
			fail "$name-data" "wrong data with $param=$drv: $sha"
		vm_detach "$name-data-detach" "$DEV"
	fi
	if [ "$param" = crc32c ]; then
		img=$SPF_FIX/bad/cdata/a.spf
		chunks="$(meta "$SPF_FIX/bad/bad.meta" k1) $(meta "$SPF_FIX/bad/bad.meta" k2)"
	else
		img=$SPF_FIX/bad/cdata-enc/e.spf key=(--key-file "$SPF_FIX/key")
		chunks=$(meta "$SPF_FIX/bad/bad.meta" k3)
	fi
	for c in $chunks; do
		ranges+=("$((c * 4096))-$(((c + 1) * 4096))")
	done
	if vm_attach "$name-corrupt" "${key[@]}" "$img"; then
		out=$("$SPFIOC" readcheck "$DEV" "${img%/*}/src.raw" 4096 "${ranges[@]}" 2>&1) &&
			pass "$name-corrupt" ||
			fail "$name-corrupt" "$param=$drv: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
		vm_detach "$name-corrupt-detach" "$DEV"
	fi
	rmmod spfblk || fail "$name" "rmmod failed"
}
# impl_refused NAME PARAM VALUE MESSAGE: insmod PARAM=VALUE fails, with
# MESSAGE in the log.
impl_refused() {
	local log
	kmsg_mark
	if insmod "$SPF_MODULE" "$2=$3" 2>/dev/null; then
		fail "$1" "insmod $2=$3 succeeded"
		rmmod spfblk
		return
	fi
	log=$(kmsg_since)
	if printf '%s\n' "$log" | grep -qF "spfblk: $2=$3: $4"; then
		pass "$1"
	else
		fail "$1" "no log line 'spfblk: $2=$3: $4': $(printf '%s' "$log" | tr '\n' ' ')"
	fi
}
impl_checks() {
	local d n=0 m=0
	impl_load ctl-crc32c-measured crc32c crc32c
	# Every crc32c driver this kernel has, named explicitly.
	for d in $(crypto_drivers crc32c); do
		impl_load "ctl-crc32c-$d" crc32c crc32c "crc32c=$d"
		n=$((n + 1))
	done
	[ "$n" -ge 1 ] && pass ctl-crc32c-drivers || fail ctl-crc32c-drivers "no crc32c driver in /proc/crypto"
	impl_refused ctl-crc32c-not-crc32c crc32c sha256 "not a crc32c driver"
	impl_refused ctl-crc32c-unknown crc32c no-such-driver "no such crypto driver"

	impl_load ctl-gcm-measured gcm_aes "gcm(aes)"
	# Both candidates (the crypto API's choice, and GCM from ctr(aes) and
	# ghash-generic), and any other gcm(aes) driver, named explicitly.
	for d in $(crypto_drivers "gcm(aes)"); do
		[[ "$d" == __* ]] && continue	# internal SIMD halves
		impl_load "ctl-gcm-${d//[^A-Za-z0-9_.-]/-}" gcm_aes "gcm(aes)" "gcm_aes=$d"
		m=$((m + 1))
	done
	[ "$m" -ge 2 ] && pass ctl-gcm-drivers ||
		fail ctl-gcm-drivers "$m gcm(aes) drivers in /proc/crypto, not 2+: $(crypto_drivers "gcm(aes)" | tr '\n' ' ')"
	impl_refused ctl-gcm-not-gcm gcm_aes "rfc4106(gcm(aes))" "not a gcm(aes) driver"
	impl_refused ctl-gcm-unknown gcm_aes no-such-driver "no such AEAD driver"
}

# ---- module unload refused while attached; unload, max_devices, reload ------------
if vm_attach ctl-module "$good/b.spi"; then
	err=$(rmmod spfblk 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ]; then
		fail ctl-unload-refused-while-attached "rmmod succeeded with $DEV attached"
		insmod "$SPF_MODULE"
	elif ! grep -q '^spfblk ' /proc/modules || [ ! -b "$DEV" ]; then
		fail ctl-unload-refused-while-attached "rmmod failed but the module or $DEV is gone"
	else
		pass ctl-unload-refused-while-attached
	fi
	vm_detach ctl-module-detach "$DEV"
fi
if err=$(rmmod spfblk 2>&1); then
	[ ! -e /dev/spf-control ] && pass ctl-unload ||
		fail ctl-unload "/dev/spf-control still exists after rmmod"
	expect_error ctl-no-module-message 1 \
		"spfctl: /dev/spf-control: no such device; load the driver with \`modprobe spfblk\`" \
		"$SPFCTL" attach "$good/b.spi"
	if err=$(insmod "$SPF_MODULE" max_devices=2 2>&1); then
		ok=1 ds=()
		for i in 1 2; do
			vm_attach ctl-max-devices "$good/b.spi" || { ok=0; break; }
			ds+=("$DEV")
		done
		if [ "$ok" = 1 ]; then
			expect_error_re ctl-max-devices 1 '[Nn]o space|max_devices|[Tt]oo many|ENOSPC|limit' \
				"$SPFCTL" attach "$good/b.spi"
		fi
		for d in "${ds[@]}"; do "$SPFCTL" detach "$d" 2>/dev/null; done
		rmmod spfblk || fail ctl-max-devices "rmmod after the max_devices test failed"
	else
		fail ctl-max-devices "insmod max_devices=2: $err"
	fi
	impl_checks
	if err=$(insmod "$SPF_MODULE" 2>&1); then
		if vm_attach ctl-reload "$good/b.spi"; then
			sha=$(sha_of "$DEV")
			[ "$sha" = "$(meta "$SPF_FIX/bad/bad.meta" good_sha)" ] && pass ctl-reload ||
				fail ctl-reload "wrong data after reload: $sha"
			vm_detach ctl-reload-detach "$DEV"
		fi
	else
		fail ctl-reload "insmod: $err"
	fi
else
	fail ctl-unload "rmmod with no device: $err"
fi
echo "# unload/reload: $((SECONDS - t)) s"
finish
