#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Consolidated images in the driver: chains built here (plain: zstd, lz4,
# deflate; encrypted: 16K chunks) with zeroed chunks and a grown disk are
# merged with spfctl merge; the merged image alone, and a later incremental
# on top of it, attach and read byte for byte like their source disks, for
# a middle run (a consolidated incremental) and a run from the full image
# (a consolidated full image).
. "$(dirname "$0")/../../lib.sh"

mkkey "$T/key"
K=(--key-file "$T/key")

# mksources DIR CS: levels 0..3 of a 1 MiB disk (random, zero and text
# stretches); level 1 zeroes two chunks that hold data and changes one,
# level 2 grows the disk and zeroes one chunk, level 3 changes part of a
# chunk.  /dev/urandom, not tests/lib.sh's rand_bytes: openssl costs
# seconds per start under TCG.
mksources() {
	local d=$1 cs=$2
	{
		head -c 262144 /dev/urandom
		head -c 262144 /dev/zero
		yes "spfblk merge test line" | head -c 262144
		head -c 262144 /dev/urandom
	} > "$d/l0.raw"
	cp "$d/l0.raw" "$d/l1.raw"
	dd if=/dev/zero of="$d/l1.raw" bs="$cs" seek=1 count=2 conv=notrunc status=none
	dd if=/dev/urandom of="$d/l1.raw" bs="$cs" seek=5 count=1 conv=notrunc status=none
	cp "$d/l1.raw" "$d/l2.raw"
	head -c $((cs * 4 + 512)) /dev/urandom >> "$d/l2.raw"
	dd if=/dev/zero of="$d/l2.raw" bs="$cs" seek=4 count=1 conv=notrunc status=none
	cp "$d/l2.raw" "$d/l3.raw"
	dd if=/dev/urandom of="$d/l3.raw" bs=512 seek=$((9 * cs / 512)) count=1 conv=notrunc status=none
}

# reads_as NAME SOURCE ATTACH-ARGS...: the device of the chain reads as SOURCE.
reads_as() {
	local name=$1 src=$2 sha size; shift 2
	vm_attach "$name" "$@" || return
	size=$(dev_bytes "$DEV")
	sha=$(sha_of "$DEV") || sha="(read error)"
	if [ "$size" != "$(stat -c %s "$src")" ]; then
		fail "$name" "$DEV has $size bytes, the source $(stat -c %s "$src")"
	elif [ "$sha" != "$(sha_of "$src")" ]; then
		fail "$name" "$DEV differs from $(basename "$src")"
	else
		pass "$name"
	fi
	vm_detach "$name-detach" "$DEV"
}

# chain DIR ENC-ARGS...: full + i1 + i2 + i3 with mixed codecs.
chain() {
	local d=$1; shift
	"$SPFCTL" create "$@" --compress zstd "$d/l0.raw" "$d/full.spf" &&
	"$SPFCTL" create "${@:1:2}" --compress lz4 --parent "$d/full.spf" "$d/l1.raw" "$d/i1.spi" &&
	"$SPFCTL" create "${@:1:2}" --compress deflate --parent "$d/i1.spi" "$d/l2.raw" "$d/i2.spi" &&
	"$SPFCTL" create "${@:1:2}" --parent "$d/i2.spi" "$d/l3.raw" "$d/i3.spi"
}

# run NAME DIR ARGS...: merge i1..i2 and full..i2, attach each alone and
# with i3 on top.
run() {
	local n=$1 d=$2; shift 2
	mkdir "$d/mid" "$d/full"
	if "$SPFCTL" merge "$@" "$d/i1.spi" "$d/i2.spi" "$d/mid/m12.spi" 2>"$T/err"; then
		pass "$n-merge-middle"
		cp "$d/full.spf" "$d/i3.spi" "$d/mid/"
		reads_as "$n-middle-merged" "$d/l2.raw" "$@" "$d/mid/m12.spi"
		reads_as "$n-middle-merged-plus-i3" "$d/l3.raw" "$@" "$d/mid/i3.spi"
	else
		fail "$n-merge-middle" "$(head -n 2 "$T/err" | tr '\n' ' ')"
	fi
	if "$SPFCTL" merge "$@" "$d/full.spf" "$d/i2.spi" "$d/full/f12.spf" 2>"$T/err"; then
		pass "$n-merge-from-full"
		cp "$d/i3.spi" "$d/full/"
		reads_as "$n-full-merged" "$d/l2.raw" "$@" "$d/full/f12.spf"
		reads_as "$n-full-merged-plus-i3" "$d/l3.raw" "$@" "$d/full/i3.spi"
	else
		fail "$n-merge-from-full" "$(head -n 2 "$T/err" | tr '\n' ' ')"
	fi
}

t0=$SECONDS
mkdir "$T/p" "$T/e"
mksources "$T/p" 65536
mksources "$T/e" 16384
echo "# 65-merge: sources in $((SECONDS - t0)) s"
t0=$SECONDS
if chain "$T/p" 2>"$T/err"; then
	echo "# 65-merge: plain chain in $((SECONDS - t0)) s"
	t0=$SECONDS
	run merge-plain "$T/p"
	echo "# 65-merge: plain merges and attaches in $((SECONDS - t0)) s"
else
	fail merge-plain-chain "$(head -n 2 "$T/err" | tr '\n' ' ')"
fi
t0=$SECONDS
if chain "$T/e" "${K[@]}" --encrypt $KDF_FAST --chunk-size 16K 2>"$T/err"; then
	echo "# 65-merge: encrypted chain in $((SECONDS - t0)) s"
	t0=$SECONDS
	run merge-enc "$T/e" "${K[@]}"
	echo "# 65-merge: encrypted merges and attaches in $((SECONDS - t0)) s"
else
	fail merge-enc-chain "$(head -n 2 "$T/err" | tr '\n' ' ')"
fi
finish
