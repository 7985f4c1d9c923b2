#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Keys through the kernel keyring.  spfctl passes data keys as logon keys
# (SPF_ATTACH_F_KEYRING, the default) or in the attach call (--key-via
# ioctl): both read an encrypted chain byte for byte, the logon keys are
# gone once attach returns, user space cannot read a logon key back, and
# a missing, revoked, expired, short, "user"-type or unterminated key is
# refused with its errno and one log line.  The data keys never show in
# sysfs, debugfs or the kernel log.  (75-keys-wipe.sh: kernel memory after
# detach, and spfctl's memory at exit.)
. "$(dirname "$0")/../../lib.sh"

keys_setup || finish

# ---- the driver says it can ---------------------------------------------------
feat=$("$SPFIOC" features | sed -n 's/^features=//p')
if [ $((feat & 0x40)) -ne 0 ]; then
	pass keys-feature-keyring
else
	fail keys-feature-keyring "SPF_FEAT_KEYRING (0x40) not in features=$feat"
fi

# ---- the chain's data keys (spfkeys wipes its copies) ----------------------------
kc=()
for f in base.spf l001.spi l002.spi; do
	kc+=("$("$SPFKEYS" datakey "$key" "$c/$f")") ||
		{ fail keys-datakey "spfkeys datakey $c/$f failed"; finish; }
done
pass keys-datakey

# ---- a three-layer encrypted chain through the keyring ----------------------------
# spfctl adds one logon key per layer, revokes and unlinks each (strace
# shows it), the device reads like the source, and no spfblk key is left
# in /proc/keys.  The ioctl way adds no key and reads the same.
want=$(sha_of "$c/src.raw")

# nowhere DEV: the chain's data keys, in hex or raw, are not in sysfs
# (/sys/block/spfN, /sys/module/spfblk), debugfs (/sys/kernel/debug/block/
# spfN*) or the kernel log while DEV is attached.
nowhere() {
	local n=${1#/dev/} d k r sz ok=1
	: > "$T/dump"
	for d in "/sys/block/$n" /sys/module/spfblk /sys/kernel/debug/block/"$n"*; do
		[ -d "$d" ] || continue
		find "$d" -type f -perm -u=r -print0 2>/dev/null |
			xargs -0 -r timeout 20 cat >> "$T/dump" 2>/dev/null
	done
	dmesg >> "$T/dump"
	for k in "${kc[@]}"; do
		if grep -qiF "$k" "$T/dump"; then
			ok=0; fail keys-nowhere "a data key in hex is in sysfs, debugfs or the log"
		fi
		r=$("$SPFKEYS" scan "$k" "$T/dump" | tail -n 1)
		if [ "$r" != "0 copies" ]; then
			ok=0; fail keys-nowhere "a data key's raw bytes are in sysfs, debugfs or the log ($r)"
		fi
	done
	sz=$(stat -c %s "$T/dump")
	echo "# keys-nowhere: $sz bytes of sysfs, debugfs and log read"
	if [ "$sz" -le 10000 ]; then
		fail keys-nowhere "only $sz bytes read"
	elif [ "$ok" = 1 ]; then
		pass keys-nowhere
	fi
}
st=()
command -v strace > /dev/null && st=(strace -f -e trace=add_key,keyctl -o "$T/strace")
t=$SECONDS
for via in keyring ioctl; do
	img=$c/l002.spi sha=$want
	[ "$via" = ioctl ] && img=$enc sha=$enc_sha
	rm -f "$T/strace"
	DEV= IDX=
	if ! out=$("${st[@]}" "$SPFCTL" attach -P --key-via "$via" -k "$key" "$img" 2>"$T/attach.err") ||
	   [[ ! "$out" =~ ^/dev/spf[0-9]+$ ]]; then
		fail "keys-$via-attach" "spfctl attach --key-via $via $img: $out $(head -n 3 "$T/attach.err" | tr '\n' ' ')"
		continue
	fi
	DEV=$out
	got=$(sha_of "$DEV")
	[ "$got" = "$sha" ] && pass "keys-$via-data" ||
		fail "keys-$via-data" "$DEV (keys via $via) reads sha256 $got, want $sha"
	if [ "$via" = keyring ]; then
		if grep -q 'spfblk:' /proc/keys; then
			fail keys-keyring-gone "/proc/keys still lists: $(grep 'spfblk:' /proc/keys | head -n 2 | tr '\n' ' ')"
		else
			pass keys-keyring-gone
		fi
		nowhere "$DEV"
	fi
	vm_detach "keys-$via-detach" "$DEV"
	if [ -f "$T/strace" ]; then
		nadd=$(grep -c 'add_key("logon", "spfblk:' "$T/strace")
		nrev=$(grep -c 'KEYCTL_REVOKE' "$T/strace")
		nunl=$(grep -c 'KEYCTL_UNLINK' "$T/strace")
		if [ "$via" = keyring ] && [ "$nadd" = 3 ] && [ "$nrev" = 3 ] && [ "$nunl" = 3 ]; then
			pass keys-keyring-strace
		elif [ "$via" = ioctl ] && [ "$nadd" = 0 ]; then
			pass keys-ioctl-strace
		else
			fail "keys-$via-strace" "add_key logon $nadd, revoke $nrev, unlink $nunl: $(head -n 4 "$T/strace" | tr '\n' ' ')"
		fi
	else
		skip "keys-$via-strace" "no strace"
	fi
done
echo "# keyring and ioctl attaches: $((SECONDS - t)) s"

# ---- the kernel refuses a bad keyring description ---------------------------------
# One spfkeys process tries each way of getting it wrong (then the right
# key); each refusal has its errno and exactly one log line.
t=$SECONDS
kmsg_mark
"$SPFKEYS" attach "$key" "$enc" missing user revoked expired short \
	unterminated wrongkey nokeys ok > "$T/refusals" 2>&1
log=$(kmsg_since | grep spfblk)
# refuse MODE ERRNO LOG: MODE gave ERRNO and one log line containing LOG.
refuse() {
	local mode=$1 errno=$2 want=$3 got n
	got=$(grep "^$mode " "$T/refusals")
	n=$(printf '%s\n' "$log" | grep -cF -- "$want")
	if [ "$got" != "$mode $errno" ]; then
		fail "keys-refuse-$mode" "expected $errno, got: ${got:-$(head -n 2 "$T/refusals" | tr '\n' ' ')}"
	elif [ -n "$want" ] && [ "$n" != 1 ]; then
		fail "keys-refuse-$mode" "$errno, but $n log lines with '$want': $(printf '%s' "$log" | head -n 3 | tr '\n' ' ')"
	else
		pass "keys-refuse-$mode"
	fi
}
p="attach: layer 0 (enc.spf): key \"spfkeys"
refuse missing ENOKEY "$p:missing:"
refuse user ENOKEY "$p:user:"
# request_key() skips revoked and expired keys: "no such logon key".
refuse revoked ENOKEY "$p:revoked:"
refuse expired ENOKEY "$p:expired:"
refuse short EINVAL "$p:short:"
refuse unterminated EINVAL 'attach: layer 0: key description not NUL-terminated and zero-padded'
refuse wrongkey EKEYREJECTED 'wrong key for layer 0'
refuse nokeys EINVAL ''
n=$(printf '%s\n' "$log" | grep -c 'no such logon key (-126)')
[ "$n" = 4 ] && pass keys-refuse-log-text ||
	fail keys-refuse-log-text "$n 'no such logon key (-126)' lines, want 4 (missing, user, revoked, expired): $(printf '%s' "$log" | head -n 4 | tr '\n' ' ')"
n=$(printf '%s\n' "$log" | grep -c 'has 16 bytes, not 32')
[ "$n" = 1 ] && pass keys-refuse-short-text || fail keys-refuse-short-text "no 'has 16 bytes, not 32' line: $log"
# ... and the right key through the same program attaches.
out=$(grep '^ok ' "$T/refusals")
if [[ "$out" =~ ^ok\ ok\ ([0-9]+)$ ]]; then
	got=$(sha_of "/dev/spf${BASH_REMATCH[1]}")
	[ "$got" = "$enc_sha" ] && pass keys-spfkeys-ok ||
		fail keys-spfkeys-ok "/dev/spf${BASH_REMATCH[1]} reads sha256 $got, want $enc_sha"
	"$SPFIOC" detach "${BASH_REMATCH[1]}"
else
	fail keys-spfkeys-ok "${out:-$(tail -n 2 "$T/refusals" | tr '\n' ' ')}"
fi
echo "# refusals: $((SECONDS - t)) s"

# spfctl's own message when it cannot add a key (root's key quota full).
q=$(cat /proc/sys/kernel/keys/root_maxbytes)
echo 1 > /proc/sys/kernel/keys/root_maxbytes
expect_error keys-spfctl-add-key-fails 1 \
	"spfctl: $enc: cannot add its key to the kernel keyring: Disk quota exceeded" \
	"$SPFCTL" attach --key-via keyring -k "$key" "$enc"
echo "$q" > /proc/sys/kernel/keys/root_maxbytes
[ -z "$(spf_devices)" ] || fail keys-spfctl-add-key-fails "a device was left: $(spf_devices)"

# A logon key's payload cannot be read back from user space.
out=$("$SPFKEYS" readback 2>&1)
[ "$out" = "read: EOPNOTSUPP" ] && pass keys-logon-unreadable ||
	fail keys-logon-unreadable "KEYCTL_READ of a logon key: $out"

[ -z "$(spf_devices)" ] || fail keys-cleanup "devices left: $(spf_devices)"
finish
