#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Concurrency: 4 jobs at queue depth 32 (native AIO, O_DIRECT) reading
# random sizes from 512 B to 1 MiB at random 512-byte offsets (so not
# aligned to the 64 KiB chunks) of an encrypted zstd chain of 3 images,
# every read compared with the source disk (spfioc aioverify).  Then the
# same load from fio (errors only: fio cannot verify a read-only device),
# and a full read that must still equal the source.
. "$(dirname "$0")/../../lib.sh"

c=$SPF_FIX/conc
top=$(meta "$c/conc.meta" top)
vm_attach concurrency-attach --key-file "$SPF_FIX/key" "$c/$top" || finish
pass concurrency-attach

# At least 200 verified reads: runs of SECS seconds until there are (a
# slow host only makes it take longer), at most 6 runs.
secs=${SPF_CONC_SECONDS:-12}
total=0 runs=0 rc=0 out=
while [ "$total" -lt 200 ] && [ "$runs" -lt 6 ] && [ "$rc" -eq 0 ]; do
	out=$("$SPFIOC" aioverify "$DEV" "$c/src.raw" "$secs" 4 32 512 1M 2>&1) && rc=0 || rc=$?
	echo "# aioverify: $out"
	reads=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) reads,.*/\1/p' | tail -n 1)
	total=$((total + ${reads:-0}))
	runs=$((runs + 1))
done
if [ "$rc" -ne 0 ]; then
	fail concurrency-aio-verify-4jobs-qd32 "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
elif [ "$total" -lt 200 ]; then
	fail concurrency-aio-verify-4jobs-qd32 "only $total reads completed in $runs runs of $secs s: $out"
else
	pass concurrency-aio-verify-4jobs-qd32
fi

if command -v fio >/dev/null; then
	out=$(fio --name=spfconc --filename="$DEV" --readonly --rw=randread \
		--bsrange=512-1M --ioengine=libaio --direct=1 --iodepth=32 \
		--numjobs=4 --runtime="${SPF_FIO_SECONDS:-5}" --time_based \
		--group_reporting --output-format=terse --terse-version=3 2>&1) && rc=0 || rc=$?
	# terse v3: field 5 is the error number, 6 the KiB read, 8 read IOPS.
	IFS=';' read -r -a f <<< "$(printf '%s\n' "$out" | grep '^3;' | tail -n 1)"
	if [ "$rc" -ne 0 ] || [ "${f[4]:-x}" != 0 ]; then
		fail concurrency-fio-randread "exit $rc, error ${f[4]:-?}: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	elif [ "${f[5]:-0}" -lt 1024 ]; then
		fail concurrency-fio-randread "only ${f[5]:-0} KiB read"
	else
		echo "# fio: ${f[5]} KiB read, ${f[7]} IOPS"
		pass concurrency-fio-randread
	fi
else
	skip concurrency-fio-randread "fio is not installed"
fi

want=$(sha_of "$c/src.raw")
sha=$(sha_of "$DEV")
[ "$sha" = "$want" ] && pass concurrency-full-read-after ||
	fail concurrency-full-read-after "sha256 $sha, source $want"
vm_detach concurrency-detach "$DEV" && pass concurrency-detach
finish
