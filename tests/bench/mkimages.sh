#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the images of tests/bench/bench-device.sh on the host (run by it
# when build/bench/data-KEY/.done is missing; KEY hashes this script,
# mkbench.py and tests/tools/spfpatch.py with the sizes).
#
# Usage: mkimages.sh DATA SRC_MB SWEEP_MB BIG_SIZE BIG_MB MAXDEPTH SWEEP_PCT DEPTHS
#
# DATA receives:
#   source.raw               the SRC_MB MiB source disk (ext4, see make_source)
#   spf-CODEC.spf            spfctl create --compress CODEC (none deflate zstd lz4)
#   spf-zstd-aes.spf         zstd + AES-256-GCM (passphrase in DATA/key,
#                            test KDF: --kdf-memory 64 --kdf-time 1)
#   nbd-zlib.qcow2, nbd-zstd.qcow2   qemu-img convert -c, compression_type=
#   nbd-luks.qcow2           qemu-img convert, encrypt.format=luks (uncompressed)
#   chain/0.spf, chain/N.spi the depth sweep: a SWEEP_MB MiB disk (deflate)
#                            and MAXDEPTH incrementals (mkbench.py chain);
#                            chain/sums: the sha256 of the disk at each depth
#   big.spf, big.ranges      a sparse BIG_SIZE-byte disk with BIG_MB MiB of
#                            data (mkbench.py sparse), zstd
#   big.meta, meta           sizes and timings for report.py
#   .done                    written last
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/bench
data=$1 src_mb=$2 sweep_mb=$3 big_size=$4 big_mb=$5 maxdepth=$6 sweep_pct=$7 depths=$8
spfctl=$top/tools/spfctl/spfctl

die() { echo "mkimages: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# make_source MB OUT: an ext4 disk of MB MiB holding files from /usr/share
# and /usr/lib (up to ~55% of the disk, whole entries in a fixed order),
# one file of random bytes (15% of the disk; AES-CTR of zeros under a
# fixed key, so it is the same on every run), the rest free (zeros).
make_source() {
	local mb=$1 out=$2 tree budget
	tree=$(mktemp -d "$data/tree.XXXXXX")
	mkdir -p "$tree/data"
	budget=$((mb * 1024 * 55 / 100))
	for d in share/doc share/man share/locale share lib/x86_64-linux-gnu lib/python3 lib/gcc lib; do
		[ -d "/usr/$d" ] && du -sk /usr/"$d"/* 2>/dev/null | sort -k2
	done | awk -v b="$budget" '!seen[$2]++ { if (s + $1 <= b) { s += $1; print $2 } }' |
		while read -r path; do
			cp -a --parents "$path" "$tree" 2>/dev/null || true
		done
	openssl enc -aes-128-ctr -nosalt -pass pass:spfbench -pbkdf2 -iter 1 -in /dev/zero 2>/dev/null |
		head -c $((mb * 1024 * 1024 * 15 / 100)) >"$tree/data/random.bin"
	rm -f "$out"
	truncate -s "${mb}M" "$out"
	mke2fs -q -F -t ext4 -d "$tree" -L spfbench "$out" >/dev/null 2>"$out.err" ||
		die "mke2fs failed: $(cat "$out.err")"
	rm -rf "$tree" "$out.err"
}

# Each step writes its output under a temporary name and renames it when
# complete, and is skipped when the output exists: an interrupted build
# resumes.  The three parts run at the same time.

# images: the systems' images of source.raw.
images() {
	local t c
	t=$(now)
	for c in none deflate zstd lz4; do
		[ -f "$data/spf-$c.spf" ] ||
			"$spfctl" create --compress "$c" "$data/source.raw" "$data/spf-$c.spf" >/dev/null
	done
	[ -f "$data/spf-zstd-aes.spf" ] ||
		"$spfctl" create --compress zstd --encrypt --key-file "$data/key" \
			--kdf-memory 64 --kdf-time 1 "$data/source.raw" "$data/spf-zstd-aes.spf" >/dev/null
	for c in zlib zstd; do
		[ -f "$data/nbd-$c.qcow2" ] && continue
		qemu-img convert -c -O qcow2 -o compression_type=$c "$data/source.raw" "$data/nbd-$c.qcow2.tmp"
		mv "$data/nbd-$c.qcow2.tmp" "$data/nbd-$c.qcow2"
	done
	if [ ! -f "$data/nbd-luks.qcow2" ]; then
		qemu-img convert -O qcow2 --object secret,id=sec0,file="$data/key" \
			-o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10 \
			"$data/source.raw" "$data/nbd-luks.qcow2.tmp"
		mv "$data/nbd-luks.qcow2.tmp" "$data/nbd-luks.qcow2"
	fi
	echo "bench:   spfblk and qcow2 images ($(since "$t") s)"
}

# sweep: the chain-depth sweep, on its own, smaller disk.
sweep() {
	local t
	t=$(now)
	[ -f "$data/chain/sums" ] && return 0
	rm -rf "$data/chain"
	mkdir -p "$data/chain"
	make_source "$sweep_mb" "$data/chain/source.raw"
	"$spfctl" create --compress deflate "$data/chain/source.raw" "$data/chain/0.spf" >/dev/null
	# shellcheck disable=SC2086
	python3 "$here/mkbench.py" chain "$data/chain" "$data/chain/source.raw" \
		"$maxdepth" "$sweep_pct" 4 $depths >"$data/chain/sums.tmp"
	mv "$data/chain/sums.tmp" "$data/chain/sums"
	rm -f "$data/chain/source.raw"
	echo "bench:   ${sweep_mb} MiB disk with $maxdepth incrementals of ${sweep_pct}% each ($(since "$t") s)"
}

# big: the big sparse disk, made on the host's tmpfs (a 16 TiB file is
# larger than ext4 allows).
big() {
	local t shm=/dev/shm raw
	[ -f "$data/big.meta" ] && return 0
	[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
	raw=$(mktemp "$shm/spfbench-big.XXXXXX")
	python3 "$here/mkbench.py" sparse "$raw" "$big_size" "$big_mb" "$data/source.raw" 5 >"$data/big.ranges"
	t=$(now)
	"$spfctl" create --compress zstd "$raw" "$data/big.spf" >/dev/null || { rm -f "$raw"; die "spfctl create of the big disk failed"; }
	echo "big_create_seconds $(since "$t")" >"$data/big.meta.tmp"
	rm -f "$raw"
	echo "big_size $big_size" >>"$data/big.meta.tmp"
	echo "big_data_mb $big_mb" >>"$data/big.meta.tmp"
	mv "$data/big.meta.tmp" "$data/big.meta"
	echo "bench:   $((big_size >> 30)) GiB sparse disk with ${big_mb} MiB of data: spfctl create took $(awk '/create/ { print $2 }' "$data/big.meta") s"
}

build_data() {
	local t pids p st=0
	mkdir -p "$data"
	echo "bench: building the images in $data"
	rm -rf "$data"/tree.*
	sweep &
	pids=$!
	if [ ! -f "$data/source.raw" ]; then
		t=$(now)
		make_source "$src_mb" "$data/source.raw.tmp"
		mv "$data/source.raw.tmp" "$data/source.raw"
		echo "bench:   ${src_mb} MiB source disk ($(since "$t") s)"
	fi
	printf 'spfbench-passphrase\n' >"$data/key"
	big &
	pids="$pids $!"
	images || st=1
	for p in $pids; do
		wait "$p" || st=1
	done
	[ "$st" = 0 ] || die "building the images failed"
	{
		echo "src_mb $src_mb"
		echo "sweep_mb $sweep_mb"
		echo "sweep_pct $sweep_pct"
		echo "depths $depths"
		for f in "$data"/*.spf "$data"/*.qcow2; do
			echo "size_$(basename "${f%.*}") $(stat -c %s "$f")"
		done
		echo "chain_bytes $(du -cb "$data"/chain/*.sp? | tail -n 1 | cut -f1)"
	} >"$data/meta"
	touch "$data/.done"
}

build_data
