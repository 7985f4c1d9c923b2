#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Make the fuzzer's seed corpus: small real images of every kind spfctl
# writes (each codec, chunk sizes, encrypted, incremental, grown, empty,
# multi-level index), plus a few from the independent reference writer in
# tests/tools/spfpatch.py.  All stay under 64 KiB (FUZZ_MAX_LEN).
#
# Usage: tests/fuzz/mkcorpus.sh OUTDIR
set -eu

out=${1:?usage: mkcorpus.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
SPFCTL=${SPFCTL:-$root/tools/spfctl/spfctl}
PATCH="python3 $root/tests/tools/spfpatch.py"
KDF_FAST="--kdf-memory 64 --kdf-time 1"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spfseed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out"

rnd() { openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 -iter 1 \
	-in /dev/zero 2>/dev/null | head -c "$2"; }

# A 256 KiB disk: text, zeros, a little random data, more text.
{
	yes "spfblk seed line" | head -c 65536
	head -c 65536 /dev/zero
	rnd seed1 6000
	yes "another line of seed text" | head -c $((131072 - 6000))
} > "$tmp/disk"
cp "$tmp/disk" "$tmp/disk2"
printf 'changed' | dd of="$tmp/disk2" bs=1 seek=70000 conv=notrunc status=none
printf 'changed' | dd of="$tmp/disk2" bs=1 seek=200 conv=notrunc status=none
dd if=/dev/zero of="$tmp/disk2" bs=4096 seek=4 count=1 conv=notrunc status=none
# Grown by 64 KiB, and an odd size (not a multiple of the chunk size).
{ cat "$tmp/disk2"; yes grown | head -c 65536; } > "$tmp/disk3"
head -c 100000 "$tmp/disk" > "$tmp/odd"
# 40 KiB for codec none (stored raw, every chunk counts)
{ head -c 16384 "$tmp/disk"; head -c 8192 /dev/zero; rnd seed2 4096; head -c 12000 "$tmp/disk"; } > "$tmp/tiny"
# 100 distinct small chunks: a two-level index with 4 KiB chunks.
for i in $(seq 1 100); do printf 'chunk %04d %4096s' "$i" x | head -c 4096; done \
	> "$tmp/many"
head -c 131072 /dev/zero > "$tmp/zeros"
printf 'pw-seed' > "$tmp/key"

n=0
mk() {	# mk NAME ARGS... : spfctl create ARGS, kept if small enough
	local name=$1; shift
	if "$SPFCTL" create "$@" >/dev/null 2>"$tmp/err"; then
		n=$((n + 1))
	else
		echo "mkcorpus: spfctl create $* failed: $(head -n 2 "$tmp/err")" >&2
		exit 1
	fi
}
mk none --compress none --chunk-size 4K "$tmp/tiny" "$out/full-none.spf"
for codec in deflate zstd lz4; do
	mk "$codec" --compress "$codec" --chunk-size 4K "$tmp/disk" "$out/full-$codec.spf"
done
mk cs64 --chunk-size 64K "$tmp/disk" "$out/full-64k.spf"
mk cs1m --compress zstd --chunk-size 1M "$tmp/disk" "$out/full-1m.spf"
mk odd --compress lz4 --chunk-size 4K "$tmp/odd" "$out/odd.spf"
mk label --label "seed label" --chunk-size 4K "$tmp/disk" "$out/label.spf"
mk many --compress zstd --chunk-size 4K "$tmp/many" "$out/two-level.spf"
mk zeros --chunk-size 4K "$tmp/zeros" "$out/empty.spf"
mk enc --encrypt --key-file "$tmp/key" $KDF_FAST --compress zstd --chunk-size 4K \
	"$tmp/disk" "$out/enc.spf"
cp "$out/full-zstd.spf" "$tmp/base.spf"
mk incr --compress zstd --chunk-size 4K --parent "$tmp/base.spf" "$tmp/disk2" "$tmp/incr.spi"
mk grown --compress zstd --chunk-size 4K --parent "$tmp/incr.spi" "$tmp/disk3" "$tmp/grown.spi"
cp "$tmp/incr.spi" "$tmp/grown.spi" "$out/"
cp "$out/enc.spf" "$tmp/encbase.spf"
mk encincr --key-file "$tmp/key" $KDF_FAST --chunk-size 4K --parent "$tmp/encbase.spf" \
	"$tmp/disk2" "$tmp/enc.spi"
cp "$tmp/enc.spi" "$out/"

# The reference writer: plain deflate and raw, full and incremental.
$PATCH mkimage --codec deflate --chunk-shift 12 "$tmp/disk" "$out/ref-full.spf"
$PATCH mkimage --codec none --chunk-shift 12 "$tmp/tiny" "$out/ref-none.spf"
$PATCH mkimage --codec deflate --chunk-shift 12 --parent "$out/ref-full.spf" \
	"$tmp/disk3" "$out/ref-grown.spi"

# Truncated and ShadowProtect-like inputs.
head -c 6000 "$out/full-zstd.spf" > "$out/truncated"
{ printf 'SPFI\0'; head -c 4091 /dev/zero; } > "$out/shadowprotect"

for f in "$out"/*; do
	if [ "$(stat -c %s "$f")" -gt 65536 ]; then
		echo "mkcorpus: $f is over 64 KiB" >&2
		exit 1
	fi
done
echo "mkcorpus: $(ls "$out" | wc -l) seeds in $out"
