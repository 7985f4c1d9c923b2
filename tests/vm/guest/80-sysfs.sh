#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# sysfs: every file docs/sysfs-ABI.md documents under /sys/block/spfN/spf/
# exists and every file there is documented; the values are sane for an
# encrypted zstd chain of 10 images attached with --cache 64K (layers,
# chunk size, backing files, uuids, codecs, cache budget respected, hits
# and misses counted, no corrupt chunks); and no data key appears in
# sysfs, debugfs or the kernel log.
. "$(dirname "$0")/../../lib.sh"

chain=zstd-enc-4k-depth10
line=$(fixline "$chain") &&
	read -r name dir top sha_src sha_exp size layers cs codec enc <<< "$line" ||
	{ fail sysfs "no chain $chain in data.list"; finish; }
doc=$ROOT/docs/sysfs-ABI.md
budget=65536

vm_attach sysfs-attach --key-file "$SPF_FIX/key" --cache 64K "$SPF_FIX/$dir/$top" || finish
pass sysfs-attach
n=${DEV#/dev/}
S=/sys/block/$n/spf

# ---- documented <-> present ----------------------------------------------------------
if [ ! -r "$doc" ]; then
	fail sysfs-documented "no $doc"
	documented=
else
	documented=$(grep -oE '/sys/block/spf[^/[:space:]]*/spf/[A-Za-z0-9_]+' "$doc" |
		sed 's#.*/##' | sort -u | tr '\n' ' ')
	[ -n "$documented" ] || fail sysfs-documented "$doc names no /sys/block/spfN/spf/FILE"
fi
present=$(cd "$S" 2>/dev/null && ls | sort | tr '\n' ' ')
if [ -n "$documented" ]; then
	missing= undoc=
	for f in $documented; do [ -e "$S/$f" ] || missing="$missing $f"; done
	for f in $present; do [[ " $documented " == *" $f "* ]] || undoc="$undoc $f"; done
	[ -z "$missing" ] && pass sysfs-documented-files-exist ||
		fail sysfs-documented-files-exist "documented but missing in $S:$missing"
	[ -z "$undoc" ] && pass sysfs-files-documented ||
		fail sysfs-files-documented "in $S but not in docs/sysfs-ABI.md:$undoc"
fi
echo "# $S: $present"

# ---- values -------------------------------------------------------------------------------
# want FILE VALUE: if FILE exists, its first line must be VALUE.
bad=
want() {
	local v
	[ -e "$S/$1" ] || return 0
	v=$(sysval "$S/$1")
	[ "$v" = "$2" ] || bad="$bad $1='$v' (want '$2');"
}
want nr_layers "$layers"
want depth "$layers"
want chunk_size "$cs"
want encrypted 1
want partscan 1
want autoclear 0
want cache_budget "$budget"
want corrupt_chunks 0
# The per-layer lists, the full image first.
expect_files=$(cd "$SPF_FIX/$dir" && for f in base.spf $(printf 'l%03d.spi ' $(seq 1 $((layers - 1)))); do
	echo "$SPF_FIX/$dir/$f"; done)
if [ -e "$S/backing_files" ]; then
	got=$(cat "$S/backing_files")
	[ "$got" = "$expect_files" ] || bad="$bad backing_files='$(echo $got | head -c 200)...';"
fi
if [ -e "$S/uuids" ]; then
	got=$(cat "$S/uuids")
	[ "$got" = "$(cat "$SPF_FIX/$dir/uuids")" ] || bad="$bad uuids='$(echo $got | head -c 120)...';"
fi
if [ -e "$S/codecs" ]; then
	got=$(cat "$S/codecs" | sort -u)
	[ "$got" = "$codec" ] || bad="$bad codecs='$got';"
fi
[ -z "$bad" ] && pass sysfs-values-after-attach || fail sysfs-values-after-attach "$bad"

sha=$(sha_of "$DEV")
[ "$sha" = "$sha_src" ] || fail sysfs-read "sha256 $sha, source $sha_src"
sha=$(sha_of "$DEV")	# once more, now from the cache
bad=
hits=$(sysval "$S/cache_hits") misses=$(sysval "$S/cache_misses") used=$(sysval "$S/cache_bytes")
if [ -e "$S/cache_hits" ] && [ $(( ${hits:-0} + ${misses:-0} )) -eq 0 ]; then
	bad="$bad no cache hits or misses counted after reading the disk twice;"
fi
if [ -n "$used" ] && [ "$used" -gt "$budget" ]; then
	bad="$bad cache_bytes $used > cache_budget $budget;"
fi
want corrupt_chunks 0
[ -z "$bad" ] && pass sysfs-cache-counters || fail sysfs-cache-counters "$bad"
echo "# cache: hits $hits misses $misses bytes $used budget $(sysval "$S/cache_budget")"

# ---- no key material ----------------------------------------------------------------------
keys=($("$SPFIOC" datakey "$SPF_FIX/key" $expect_files))
nk=$(printf '%s\n' "${keys[@]}" | grep -c '^[0-9a-f]\{64\}$')
if [ "$nk" -ne "$layers" ]; then
	fail sysfs-no-key-material "cannot derive the data keys to look for"
else
	# the keys in lower- and upper-case hex, and the passphrase itself
	{
		printf '%s\n' "${keys[@]}"
		printf '%s\n' "${keys[@]}" | tr a-f A-F
		cat "$SPF_FIX/key"; echo
	} | grep -v '^$' > "$T/keys"
	places=("/sys/block/$n" /sys/module/spfblk)
	for d in /sys/kernel/debug/*spf* /sys/kernel/debug/block/$n; do
		[ -e "$d" ] && places+=("$d")
	done
	hit=$(grep -rlF -f "$T/keys" "${places[@]}" 2>/dev/null | head -n 3)
	dmesg > "$T/dmesg"
	grep -qF -f "$T/keys" "$T/dmesg" && hit="$hit the kernel log"
	[ -z "$hit" ] && pass sysfs-no-key-material ||
		fail sysfs-no-key-material "a key or the passphrase appears in: $hit"
fi

vm_detach sysfs-detach "$DEV" && pass sysfs-detach
finish
