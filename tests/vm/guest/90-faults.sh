#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Faults and races: a lazy detach under heavy I/O, four processes
# attaching and detaching in parallel, an image truncated underneath an
# attached device, a backing file system whose disk starts failing
# (dm-error under ext4), and the extent cache's shrinker emptying the
# cache while readers keep verifying data.  Every read is compared with the
# source disk byte for byte; lost ranges must fail with EIO.
. "$(dirname "$0")/../../lib.sh"

# SPF_FAULT_CASES (a regex: lazy|parallel|truncate|dm|shrinker) runs only
# some of the cases, for debugging.
want() { [[ "$1" =~ ${SPF_FAULT_CASES:-.} ]]; }

src=$SPF_FIX/conc/src.raw		# 16 MiB, the source of conc/
c=$SPF_FIX/conc
ctop=$(meta "$c/conc.meta" top)

# The truncation and dm-error cases use an image made here: 8 MiB of
# random bytes, 64 KiB chunks, stored raw (-c none), so chunk K's bytes are
# at 4096 + K * 65536 in the file (checked with cmp): a file range maps
# to chunks with arithmetic.
CS=65536 HDR=4096
# badrange LO HI: the device byte range START-END of the chunks whose
# stored bytes overlap the file range [LO, HI).
badrange() {
	local k0=$((($1 - HDR) / CS)) k1=$((($2 - HDR + CS - 1) / CS))
	[ "$k1" -gt "$NCHUNKS" ] && k1=$NCHUNKS
	echo "$((k0 * CS))-$((k1 * CS))"
}

# ---- lazy detach under heavy I/O --------------------------------------------------
# 4 AIO jobs verifying every read, a 4-job fio load and a dd full read hold
# /dev/spfN open when spfctl detach --lazy runs: all of them must finish
# with the right data and no error, and the device must go away after the
# last close.
t=$SECONDS
if want lazy && vm_attach lazy-detach-io --key-file "$SPF_FIX/key" "$c/$ctop"; then
	ldev=$DEV lidx=$IDX
	fio --name=spflazy --filename="$ldev" --readonly --rw=randread \
		--bsrange=4k-256k --ioengine=libaio --direct=1 --iodepth=8 \
		--numjobs=4 --runtime=10 --time_based --group_reporting \
		--output-format=terse --terse-version=3 > "$T/lz.fio" 2>&1 &
	fiop=$!
	(dd if="$ldev" bs=64K iflag=direct of="$T/lz.dd" 2>"$T/lz.dderr";
	 echo "$?" > "$T/lz.ddrc") &
	ddp=$!
	# opens N SECONDS: wait until N descriptors of the device are open.
	opens() {
		local end=$((SECONDS + $2)) l
		while :; do
			n=0
			for l in /proc/[0-9]*/fd/*; do
				[ "$l" -ef "$ldev" ] && n=$((n + 1))
			done 2>/dev/null
			[ "$n" -ge "$1" ] || [ "$SECONDS" -ge "$end" ] && return
			sleep 0.2
		done
	}
	# fio's 4 jobs and dd first (fio is slow to start on a busy host),
	# then the 4 aioverify descriptors; detach once those 8 are open
	# (dd may be done by then on a quiet host).
	opens 4 60
	"$SPFIOC" aioverify "$ldev" "$src" 6 4 8 4K 256K > "$T/lz.aio" 2>&1 &
	aio=$!
	opens 8 20
	echo "# lazy detach: $n open descriptors of $ldev"
	sleep 0.5
	err=$("$SPFCTL" detach --lazy "$ldev" 2>&1) && rc=0 || rc=$?
	running=0
	kill -0 "$aio" 2>/dev/null && running=1
	still=0
	[ -e "/sys/block/spf$lidx" ] && still=1
	wait "$aio"; arc=$?
	wait "$fiop"; frc=$?
	wait "$ddp"
	IFS=';' read -r -a f <<< "$(grep '^3;' "$T/lz.fio" | tail -n 1)"
	fio_ok=1
	if [ "$n" -lt 8 ] && [ "$frc" -ne 0 ] && [[ "${f[4]:-x}" =~ ^(2|6|19|22)$ ]]; then
		# On a very busy host fio may open the device only after the
		# detach: ENOENT, ENXIO, ENODEV or EINVAL (no size) is a clean
		# refusal.
		echo "# lazy detach: fio opened the device too late: error ${f[4]}"
	elif [ "$frc" -ne 0 ] || [ "${f[4]:-x}" != 0 ] || [ "${f[5]:-0}" -lt 1024 ]; then
		fio_ok=0
	fi
	echo "# lazy detach: aioverify $(tail -n 1 "$T/lz.aio"); fio ${f[5]:-?} KiB, error ${f[4]:-?}"
	if [ "$rc" -ne 0 ]; then
		fail lazy-detach-io "spfctl detach --lazy $ldev under I/O: exit $rc: $err"
	elif [ "$running" = 1 ] && [ "$still" = 0 ]; then
		fail lazy-detach-io "$ldev vanished from sysfs while readers still had it open"
	elif [ "$arc" -ne 0 ]; then
		fail lazy-detach-io "aioverify after the lazy detach: $(tail -n 3 "$T/lz.aio" | tr '\n' ' ')"
	elif [ "$fio_ok" = 0 ]; then
		fail lazy-detach-io "fio: exit $frc, error ${f[4]:-?}, ${f[5]:-0} KiB: $(tail -n 2 "$T/lz.fio" | tr '\n' ' ')"
	elif [ "$(cat "$T/lz.ddrc")" != 0 ] || ! cmp -s "$T/lz.dd" "$src"; then
		fail lazy-detach-io "dd full read across the lazy detach: rc $(cat "$T/lz.ddrc"), $(head -n 1 "$T/lz.dderr") $(cmp "$T/lz.dd" "$src" 2>&1 | head -n 1)"
	else
		pass lazy-detach-io
	fi
	rm -f "$T/lz.dd"
	if wait_gone "$ldev"; then
		# Gone for good: the index is free, GET_INFO knows nothing of it,
		# and a new attach works.
		err=$("$SPFIOC" info "$lidx" 2>&1) && rc=0 || rc=$?
		if [ "$rc" = 0 ]; then
			fail lazy-detach-gone "GET_INFO still answers for $lidx after the last close"
		elif vm_attach lazy-detach-gone "$SPF_FIX/bad/good/b.spi"; then
			sha=$(sha_of "$DEV")
			[ "$sha" = "$(meta "$SPF_FIX/bad/bad.meta" good_sha)" ] &&
				pass lazy-detach-gone ||
				fail lazy-detach-gone "attach after the lazy detach reads wrong: $sha"
			vm_detach lazy-detach-gone "$DEV"
		fi
	else
		fail lazy-detach-gone "$ldev still there 5 s after the last reader closed it"
		"$SPFIOC" detach "$lidx" 2>/dev/null
	fi
fi
echo "# lazy detach: $((SECONDS - t)) s"; t=$SECONDS

# ---- four processes attach and detach in parallel --------------------------------
# Three spfioc loops (raw ioctls: the partitioned chain, the plain 2-image
# chain, the encrypted image) and one spfctl loop; each compares every
# byte of what it attached with the chain's export (checked against the
# fixture's sha256) before detaching.
k=$SPF_FIX/ctl good=$SPF_FIX/bad/good
ok=1
want parallel || ok=2
[ "$ok" = 1 ] && for x in "gpt $k/gpt1.spi gpt_sha $k/ctl.meta" "good $good/b.spi good_sha $SPF_FIX/bad/bad.meta" \
	 "enc $k/enc.spf enc_sha $k/ctl.meta"; do
	set -- $x
	kf=
	[ "$1" = enc ] && kf="--key-file $SPF_FIX/key"
	if ! err=$("$SPFCTL" export $kf "$2" "$T/$1.raw" 2>&1); then
		ok=0; fail parallel-attach-4 "spfctl export $2: $err"
	elif [ "$(sha_of "$T/$1.raw")" != "$(meta "$4" "$3")" ]; then
		ok=0; fail parallel-attach-4 "the export of $2 does not match $3"
	fi
done
if [ "$ok" = 1 ]; then
	n=${SPF_FAULT_CYCLES:-8}
	"$SPFIOC" cyclecheck "$n" "$T/gpt.raw" "$k/gpt.spf" "$k/gpt1.spi" > "$T/pc1" 2>&1 & p1=$!
	"$SPFIOC" cyclecheck "$n" "$T/good.raw" "$good/a.spf" "$good/b.spi" > "$T/pc2" 2>&1 & p2=$!
	"$SPFIOC" cyclecheck "$n" "$T/enc.raw" -p "$SPF_FIX/key" "$k/enc.spf" > "$T/pc3" 2>&1 & p3=$!
	(
		for i in $(seq $((n / 2))); do
			d=$("$SPFCTL" attach -P "$good/b.spi" 2>&1) || { echo "spfctl attach: $d"; exit 1; }
			cmp "$d" "$T/good.raw" || { echo "cycle $i: $d differs"; "$SPFCTL" detach "$d"; exit 1; }
			e=$("$SPFCTL" detach "$d" 2>&1) || { echo "spfctl detach $d: $e"; exit 1; }
			[ -e "$d" ] && { echo "cycle $i: $d still there after detach"; exit 1; }
		done
		echo "$((n / 2)) spfctl cycles"
	) > "$T/pc4" 2>&1 & p4=$!
	bad=
	for p in "1 $p1" "2 $p2" "3 $p3" "4 $p4"; do
		set -- $p
		wait "$2" || bad="$bad [$1: $(tail -n 2 "$T/pc$1" | tr '\n' ' ')]"
	done
	echo "# parallel: $(cat "$T/pc1" "$T/pc2" "$T/pc3" "$T/pc4" | tr '\n' ';')"
	left=$(spf_devices | tr '\n' ' ')
	if [ -n "$bad" ]; then
		fail parallel-attach-4 "$bad"
	elif [ -n "$left" ]; then
		fail parallel-attach-4 "devices left after every loop detached its own: $left"
	else
		pass parallel-attach-4
	fi
	for d in $(spf_devices); do "$SPFIOC" detach "${d#/dev/spf}" 2>/dev/null; done
fi
echo "# parallel attach/detach: $((SECONDS - t)) s"; t=$SECONDS

# ---- the image of the truncation and dm-error cases ----------------------------
NCHUNKS=128
head -c $((NCHUNKS * CS)) /dev/urandom > "$T/t.raw"
if ! err=$("$SPFCTL" create -c none -s 64K "$T/t.raw" "$T/t.spf" 2>&1); then
	fail faults-image "spfctl create: $err"
	finish
fi
if ! cmp -s -n $((NCHUNKS * CS)) -i "$HDR:0" "$T/t.spf" "$T/t.raw"; then
	fail faults-image "chunk data of $T/t.spf is not at $HDR + K * $CS"
	finish
fi
tsha=$(sha_of "$T/t.raw")

# ---- an image truncated underneath an attached device ------------------------------
# Every chunk read once (the extent cache then knows where each one is),
# then the file is cut in the middle of chunk data (the trailer and index
# go with it): chunks whose bytes are gone must fail with EIO, the others
# still read right; detach works.  (No drop_caches here: it would run the
# shrinker and empty the extent cache, and with the index gone every
# chunk is then unreadable, EIO; tmpfs frees the cut pages anyway.)
cp "$T/t.spf" "$T/tr.spf"
if want truncate && vm_attach truncate-underneath -P "$T/tr.spf"; then
	sha=$(sha_of "$DEV")
	if [ "$sha" != "$tsha" ]; then
		fail truncate-underneath "wrong data before the truncation: $sha"
	else
		cut=$((HDR + NCHUNKS / 2 * CS + 1000))
		truncate -s "$cut" "$T/tr.spf"
		bad=$(badrange "$cut" $((HDR + NCHUNKS * CS)))
		echo "# truncated at $cut: lost $bad"
		kmsg_mark
		out=$("$SPFIOC" readcheck "$DEV" "$T/t.raw" 64K $bad 2>&1) && rc=0 || rc=$?
		echo "# readcheck: $(printf '%s' "$out" | tail -n 1)"
		nerr=$(kmsg_since | grep -c 'spf')
		echo "# kernel log: $nerr lines from spf, first: $(kmsg_since | grep spf | head -n 1)"
		[ "$rc" = 0 ] && pass truncate-underneath ||
			fail truncate-underneath "$(printf '%s' "$out" | head -n 4 | tr '\n' ' ')"
	fi
	vm_detach truncate-detach "$DEV" && pass truncate-detach
fi
rm -f "$T/tr.spf"
echo "# truncate: $((SECONDS - t)) s"; t=$SECONDS

# ---- a backing disk that fails: ext4 on dm-linear, then dm-error ----------------
# The image lies on ext4 on a device-mapper device over a loop device.  Once
# attached and read (right), the table is swapped so that the sectors holding
# 8 chunks return errors; with the page cache dropped, those chunks' ranges
# must fail with EIO and everything else still read right; detach is clean.
dmok=1
want dm || dmok=2
[ "$dmok" = 1 ] && for m in dm-mod loop ext4; do modprobe "$m" 2>/dev/null; done
if [ "$dmok" = 1 ] && { ! command -v dmsetup >/dev/null || [ ! -e /dev/mapper/control ]; }; then
	fail dm-error-backing "no dmsetup or /dev/mapper/control in the guest"
	dmok=0
fi
if [ "$dmok" = 1 ]; then
	dmname=spf-fault-$$ mnt=/mnt/spf-dm
	truncate -s 40M "$T/dm.img"
	loop=$(losetup -f --show "$T/dm.img" 2>&1) || { fail dm-error-backing "losetup: $loop"; dmok=0; }
fi
if [ "$dmok" = 1 ]; then
	secs=$(blockdev --getsz "$loop")
	if ! err=$(dmsetup create "$dmname" --table "0 $secs linear $loop 0" 2>&1); then
		fail dm-error-backing "dmsetup create: $err"
		losetup -d "$loop"; dmok=0
	fi
fi
if [ "$dmok" = 1 ]; then
	dm=/dev/mapper/$dmname
	[ -b "$dm" ] || { mm=$(dmsetup info -c --noheadings -o major,minor "$dmname"); mknod "$dm" b "${mm%%:*}" "${mm##*:}"; }
	mkdir -p "$mnt"
	if ! err=$(mkfs.ext4 -q -F -b 4096 "$dm" 2>&1 && mount -t ext4 "$dm" "$mnt" 2>&1); then
		fail dm-error-backing "mkfs/mount ext4 on $dm: $err"
		dmok=0
	else
		cp "$T/t.spf" "$mnt/t.spf" && sync
		# 8 chunks inside one extent of the file (filefrag -e, in 512-byte
		# units: "ext: logical_start..end: physical_start..end: length:"),
		# from the first quarter of the disk on: K0 and the sector where
		# chunk K0's bytes start on the dm device.
		read -r k0 psec <<< "$(filefrag -e -b512 "$mnt/t.spf" | awk -v hdr=$HDR -v cs=$CS -v n=$NCHUNKS '
			$1 ~ /^[0-9]+:$/ && !done { gsub(/[^0-9]+/, " "); split($0, a, " ")
				ls = a[2] * 512; le = (a[3] + 1) * 512
				k = int((ls - hdr + cs - 1) / cs); if (k < n / 4) k = n / 4
				if (hdr + (k + 8) * cs <= le && k + 8 <= n) {
					print k, a[4] + (hdr + k * cs - ls) / 512; done = 1 } }')"
		if [ -z "$k0" ]; then
			fail dm-error-backing "no extent of the image holds 8 whole chunks: $(filefrag -e "$mnt/t.spf" | tr '\n' ' ')"
			dmok=0
		else
			lo=$((HDR + k0 * CS)) hi=$((HDR + (k0 + 8) * CS))
		fi
	fi
	if [ "$dmok" = 1 ] && vm_attach dm-error-backing -P "$mnt/t.spf"; then
		sha=$(sha_of "$DEV")
		if [ "$sha" != "$tsha" ]; then
			fail dm-error-backing "wrong data before the disk fails: $sha"
		else
			a=$psec b=$((psec + 8 * CS / 512))
			table="0 $a linear $loop 0
$a $((b - a)) error
$b $((secs - b)) linear $loop $b"
			if ! err=$(printf '%s\n' "$table" | dmsetup reload "$dmname" 2>&1 &&
				   dmsetup resume "$dmname" 2>&1); then
				fail dm-error-backing "dmsetup reload/resume: $err"
			else
				echo 3 > /proc/sys/vm/drop_caches
				bad=$(badrange "$lo" "$hi")
				echo "# dm-error over file bytes $lo..$hi (sectors $a..$b): device ranges $bad"
				out=$("$SPFIOC" readcheck "$DEV" "$T/t.raw" 64K $bad 2>&1) && rc=0 || rc=$?
				echo "# readcheck: $(printf '%s' "$out" | tail -n 1)"
				[ "$rc" = 0 ] && pass dm-error-backing ||
					fail dm-error-backing "$(printf '%s' "$out" | head -n 4 | tr '\n' ' ')"
			fi
		fi
		vm_detach dm-error-detach "$DEV" && pass dm-error-detach
	fi
	umount "$mnt" 2>/dev/null
	dmsetup remove "$dmname" 2>/dev/null || { sleep 0.5; dmsetup remove "$dmname"; }
	losetup -d "$loop"
fi
rm -f "$T/dm.img"
echo "# dm-error: $((SECONDS - t)) s"; t=$SECONDS

# ---- the shrinker empties the extent cache; readers keep verifying --------------
# 4 KiB chunks: 4096 cache entries for the 16 MiB disk.
if ! want shrinker; then
	:
elif ! err=$("$SPFCTL" create -c lz4 -s 4K "$src" "$T/s.spf" 2>&1); then
	fail shrinker-drop-caches "spfctl create: $err"
elif vm_attach shrinker-drop-caches -P "$T/s.spf"; then
	cb=/sys/block/${DEV#/dev/}/spf/cache_bytes
	sha=$(sha_of "$DEV")
	c0=$(sysval "$cb")
	echo 2 > /proc/sys/vm/drop_caches
	c1=$(sysval "$cb")
	echo "# cache_bytes: $c0 after a full read, $c1 after drop_caches"
	if [ "$sha" != "$(sha_of "$src")" ]; then
		fail shrinker-drop-caches "wrong data: $sha"
	elif [ "${c0:-0}" -lt 200000 ]; then
		fail shrinker-drop-caches "cache_bytes only ${c0:-?} after reading 4096 chunks"
	elif [ "${c1:-$c0}" -gt $((c0 / 16)) ]; then
		fail shrinker-drop-caches "cache_bytes $c1 after echo 2 > drop_caches (was $c0)"
	else
		pass shrinker-drop-caches
	fi
	# Readers verify for the whole run (aioverify, 3 s at a time, until
	# told to stop) while the shrinker is driven by drop_caches (the cache
	# must drop) and then, with the cache full again, by a
	# process taking all but 160 MiB of the available memory (one pass:
	# touching 1.5 GiB takes a while under TCG): it must shrink.
	# cache_bytes is sampled every 0.1 s.
	sha_of "$DEV" > /dev/null
	rm -f "$T/pr.stop"
	(r=0
	 while [ ! -e "$T/pr.stop" ]; do
		"$SPFIOC" aioverify "$DEV" "$src" 3 2 4 4K 64K || r=1
	 done
	 exit $r) > "$T/pr.aio" 2>&1 &
	aio=$!
	: > "$T/pr.samples"
	(while [ ! -e "$T/pr.stop" ]; do
		read -r v < "$cb" && echo "$v" >> "$T/pr.samples"
		sleep 0.1
	 done) &
	smp=$!
	sleep 1
	cmax=$(sysval "$cb")
	for i in 1 2 3; do echo 2 > /proc/sys/vm/drop_caches; echo "d $(sysval "$cb")" >> "$T/pr.samples"; sleep 0.5; done
	# Refill the cache completely: from here on only the shrinker can
	# make it smaller (the budget is far above 4096 entries).
	sha_of "$DEV" > /dev/null
	cfull=$(sysval "$cb")
	avail=$(awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
	hog=$((avail - 160))
	scan0=$(awk '/^(pgscan_kswapd|pgscan_direct|slabs_scanned) / { n += $2 } END { print n + 0 }' /proc/vmstat)
	echo "h start" >> "$T/pr.samples"
	th=$SECONDS
	(echo 1000 > /proc/self/oom_score_adj
	 exec timeout 120 dd if=/dev/zero of=/dev/null bs=${hog}M count=1 2>/dev/null)
	echo "h end" >> "$T/pr.samples"
	scan=$(( $(awk '/^(pgscan_kswapd|pgscan_direct|slabs_scanned) / { n += $2 } END { print n + 0 }' /proc/vmstat) - scan0 ))
	echo "# memory hog: ${hog} MiB of ${avail} MiB available, $((SECONDS - th)) s"
	sleep 0.5
	touch "$T/pr.stop"
	wait "$aio"; arc=$?
	wait "$smp"
	dmin=$(awk '$1 == "d" { if (m == "" || $2 < m) m = $2 } END { print m + 0 }' "$T/pr.samples")
	hmin=$(awk '/^h start/ { h = 1; next } /^h end/ { h = 0 } h && $1 ~ /^[0-9]+$/ { if (m == "" || $1 < m) m = $1 } END { print (m == "" ? -1 : m) }' "$T/pr.samples")
	nreads=$(awk '/jobs x depth/ { n += $6 } END { print n + 0 }' "$T/pr.aio")
	echo "# pressure: $nreads verified reads; cache_bytes before $cmax, after drop_caches min $dmin, full again $cfull, under the memory hog min $hmin"
	if [ "$arc" -ne 0 ] || [ "$nreads" -lt 10 ]; then
		fail shrinker-pressure-verify "readers under memory pressure ($nreads reads): $(grep -v ' 0 errors$' "$T/pr.aio" | tail -n 3 | tr '\n' ' ')"
	elif [ "$dmin" -ge "$cmax" ]; then
		# The readers refill the cache within moments, so only a drop is
		# required here; shrinker-drop-caches showed it empties.
		fail shrinker-pressure-verify "cache_bytes $dmin right after drop_caches with readers running (was $cmax)"
	else
		pass shrinker-pressure-verify
	fi
	# Reclaim scans slab caches in proportion to the page cache it scans,
	# so a real shortage takes a share of the entries, not all of them
	# (drop_caches takes all, above); and a hog that leaves 160 MiB may
	# not push the guest into reclaim at all (pages and slab objects
	# scanned by kswapd and direct reclaim: /proc/vmstat).
	echo "# memory hog: $scan pages and slab objects scanned by reclaim"
	if [ "$hmin" -ge 0 ] && [ "$cfull" = "$c0" ] && [ "$hmin" -lt "$cfull" ]; then
		pass shrinker-memory-hog
	else
		skip shrinker-memory-hog "cache_bytes min $hmin under the hog (full $cfull), $scan pages/objects scanned by reclaim: the hog did not make the kernel shrink the cache"
	fi
	sha=$(sha_of "$DEV")
	[ "$sha" = "$(sha_of "$src")" ] && pass shrinker-read-after ||
		fail shrinker-read-after "sha256 $sha after the pressure run"
	vm_detach shrinker-detach "$DEV"
fi
rm -f "$T/s.spf"
echo "# shrinker: $((SECONDS - t)) s"
finish
