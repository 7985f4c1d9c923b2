#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Soak test (`make soak`): two devices under a long verified read load.
#
# Usage: tests/vm/soak.sh [SERIES]        (6.12 by default; 6.1)
#
# Environment:
#   SOAK_TIME     seconds of load (default 600)
#   SOAK_SIZE_MB  size of each virtual disk (default 256)
#
# On the host (native speed, cached in build/soak/data-KEY/):
#   - two source disks written by fio with verify=crc32c headers every
#     4 KiB: incompressible random blocks, text-pattern blocks (the pattern
#     carries each block's offset) and nearly-zero blocks;
#   - disk A as an encrypted zstd chain of 3 images (64 KiB chunks), disk B
#     as a plain lz4 chain of 2 images (16 KiB chunks); between images fio
#     rewrites a few regions with another seed or pattern, so the top
#     layers matter;
#   - spfblk.ko for the kernel, spfioc.
# In one guest (tests/vm/soak-guest): attach both chains, then for
# SOAK_TIME seconds on each device 4 fio jobs (libaio, O_DIRECT, random
# 4 KiB..256 KiB reads, verify=crc32c, verify_fatal) plus one spfioc
# aioverify job comparing every read with the source disk byte for byte;
# at the end a full read of each device must equal its source.  The guest
# prints a summary (bytes read, IOPS, errors) and PASS/FAIL lines.
#
# Exit status 0 when every check passed.
set -u
series=${1:-6.12}
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
cd "$ROOT"
SOAK_TIME=${SOAK_TIME:-600}
SOAK_SIZE_MB=${SOAK_SIZE_MB:-256}
out=$ROOT/build/soak
mkdir -p "$out"
say() { echo "soak: $*"; }
die() { echo "soak: $*" >&2; exit 1; }

kver=$("$here/kernels" --kver "$series") || die "no kernel for $series: $kver"
say "kernel $kver, ${SOAK_TIME} s, 2 x ${SOAK_SIZE_MB} MiB"
command -v fio >/dev/null || die "fio is not installed (make deps)"
[ "$SOAK_SIZE_MB" -ge 50 ] 2>/dev/null || die "SOAK_SIZE_MB must be a number >= 50"

# ---- builds ---------------------------------------------------------------------
ko=$(scripts/build-module "$kver" 2>"$out/build-$kver.log" | tail -n 1)
[ -f "$ko" ] || die "scripts/build-module $kver failed (see $out/build-$kver.log)"
cp "$ko" "$out/spfblk-$kver.ko" || exit 1
make -s -C tests/vm/abi >/dev/null || die "make -C tests/vm/abi failed"
[ -x tools/spfctl/spfctl ] || make -s -C tools/spfctl >/dev/null || die "cannot build spfctl"
cp tools/spfctl/spfctl "$out/spfctl" || exit 1
SPFCTL=$out/spfctl

# ---- data -----------------------------------------------------------------------------
key=$(cat "$SPFCTL" "$0" | sha256sum | cut -c1-12)-$SOAK_SIZE_MB
data=$out/data-$key
if [ ! -f "$data/stamp" ]; then
	say "building the source disks and chains in $data"
	rm -rf "$out"/data-* && mkdir -p "$data" || exit 1
	printf 'soak passphrase' > "$data/key"
	kdf="--kdf-memory 64 --kdf-time 1"
	mb=$SOAK_SIZE_MB
	# fiow FILE OFFSET_MB SIZE_MB SEED [PATTERN]: fio writes verify blocks.
	fiow() {
		local pat=()
		[ $# -ge 5 ] && pat=(--verify_pattern="$5")
		fio --name=soakw --filename="$1" --rw=write --bs=64k \
			--offset="$2M" --size="$3M" --randseed="$4" \
			--verify=crc32c --verify_interval=4k --do_verify=0 \
			"${pat[@]}" --output-format=terse > /dev/null ||
			die "fio write $1 at $2M failed"
	}
	layout() {	# FILE SEED: 40% random, 40% text, 20% nearly zero
		local r1=$((mb * 4 / 10)) r2=$((mb * 8 / 10))
		truncate -s "${mb}M" "$1"
		fiow "$1" 0 "$r1" "$2"
		fiow "$1" "$r1" $((r2 - r1)) "$2" '"spfblk soak disk text, offset "%o'
		fiow "$1" "$r2" $((mb - r2)) "$2" 0x00
	}
	a=$data/a.raw b=$data/b.raw
	layout "$a" 11
	layout "$b" 29
	mkdir -p "$data/a" "$data/b"
	"$SPFCTL" create -c zstd -s 64K -e --key-file "$data/key" $kdf "$a" "$data/a/base.spf" ||
		die "spfctl create a/base.spf failed"
	fiow "$a" $((mb / 10)) $((mb / 20)) 101
	fiow "$a" $((mb / 2)) $((mb / 50 + 1)) 102 '"changed in layer 1 at "%o'
	"$SPFCTL" create -p "$data/a/base.spf" --key-file "$data/key" "$a" "$data/a/l001.spi" ||
		die "spfctl create a/l001.spi failed"
	fiow "$a" $((mb / 8)) $((mb / 50 + 1)) 103
	fiow "$a" $((mb * 9 / 10)) $((mb / 50 + 1)) 104 '"zero region rewritten "%o'
	"$SPFCTL" create -p "$data/a/l001.spi" --key-file "$data/key" "$a" "$data/a/l002.spi" ||
		die "spfctl create a/l002.spi failed"
	"$SPFCTL" create -c lz4 -s 16K "$b" "$data/b/base.spf" || die "spfctl create b/base.spf failed"
	fiow "$b" $((mb * 3 / 10)) $((mb / 10)) 201 '"layer one text "%o'
	"$SPFCTL" create -p "$data/b/base.spf" "$b" "$data/b/l001.spi" || die "spfctl create b/l001.spi failed"
	# Every 4 KiB of both sources must carry a valid fio header: the
	# guest's fio jobs read anywhere.
	for f in "$a" "$b"; do
		fio --name=soakcheck --filename="$f" --readonly --rw=read --bs=1m \
			--verify=crc32c --verify_interval=4k --do_verify=1 \
			--verify_fatal=1 --output-format=terse > "$data/check.log" 2>&1 ||
			die "fio cannot verify its own source $f: $(grep -m1 verify "$data/check.log")"
	done
	sha256sum "$a" | cut -d' ' -f1 > "$data/a.sha256"
	sha256sum "$b" | cut -d' ' -f1 > "$data/b.sha256"
	echo "$key" > "$data/stamp"
fi
du -sh "$data/a" "$data/b" | sed 's/^/soak: chain /'

# ---- the guest -------------------------------------------------------------------------
scratch=$out/run-$kver
rm -rf "$scratch"
say "booting the guest (logs in $scratch)"
"$here/run-vm" --kver "$kver" --smp 2 --mem 3072 --timeout $((SOAK_TIME + 900)) \
	--scratch "$scratch" -q \
	--env "SPF_MODULE=$out/spfblk-$kver.ko" --env "SOAK_DATA=$data" \
	--env "SOAK_TIME=$SOAK_TIME" --env "SPF_TOOLS=$ROOT/build/vm-abi" \
	--env "SPFCTL=$SPFCTL" \
	-- "$here/soak-guest"
rc=$?
[ -f "$scratch/guest.log" ] && cat "$scratch/guest.log"
if [ "$rc" = 125 ]; then
	echo "FAIL soak-kernel-log: the guest crashed, hung or logged a splat (see $scratch/console.log)"
elif [ "$rc" != 0 ]; then
	echo "FAIL soak: the guest exited $rc"
fi
exit "$rc"
