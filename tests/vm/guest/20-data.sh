#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Data: for every chain of data.list (every codec x {plain, encrypted},
# 4 KiB and 1 MiB chunks, 1, 10 and 100 images, and a chain whose
# incrementals grow the disk), /dev/spfN has the disk's size, and its
# sha256 equals the source disk's and `spfctl export`'s (both computed on
# the host when the fixtures were made).
. "$(dirname "$0")/../../lib.sh"

[ -s "$SPF_FIX/data.list" ] || { fail data "no $SPF_FIX/data.list"; finish; }
while read -r name dir top sha_src sha_exp size layers cs codec enc; do
	t=data-$name
	args=()
	[ "$enc" = 1 ] && args=(--key-file "$SPF_FIX/key")
	start=$SECONDS
	vm_attach "$t" "${args[@]}" "$SPF_FIX/$dir/$top" || continue
	got_size=$(dev_bytes "$DEV")
	sha=$(sha_of "$DEV") || sha="(read error)"
	if [ "$got_size" != "$size" ]; then
		fail "$t" "$DEV has $got_size bytes, the disk $size"
	elif [ "$sha_src" != "$sha_exp" ]; then
		fail "$t" "spfctl export differs from the source disk (export $sha_exp, source $sha_src)"
	elif [ "$sha" != "$sha_src" ]; then
		fail "$t" "sha256 of $DEV is $sha, the source's $sha_src ($layers images, $codec, chunk $cs, encrypted $enc)"
	else
		pass "$t"
	fi
	vm_detach "$t-detach" "$DEV" && pass "$t-detach"
	echo "# $t: $((SECONDS - start)) s"
done < "$SPF_FIX/data.list"
finish
