#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Writable attach, part 4 (issue 7; 70-writable.sh is part 1): an
# encrypted zstd chain (full + incremental) attached --writable with a new
# overlay and --key-file: unaligned writes (across a chunk boundary, in a
# chunk, 3 chunks of text) read back like a model; the overlay holds no
# plaintext of the written text; detach --key-file seals it; the sealed
# image holds no plaintext either, verifies with the key, attaches
# read-only and exports like the model; the chain is unchanged.
. "$(dirname "$0")/../../lib.sh"
need_spfctl

W=$T/w
CS=65536
MB=1048576
mkdir -p "$W"
t0=$SECONDS
tnote() { echo "# 73-writable-enc: $1 at $((SECONDS - t0)) s"; }
mkkey "$T/key"
{
	head -c $((6 * MB)) /dev/urandom
	head -c $((4 * MB)) /dev/zero
	yes "spfblk writable encrypted test" | head -c $((6 * MB))
} > "$W/l0.raw"
cp "$W/l0.raw" "$W/l1.raw"
for c in 3 50 120; do
	dd if=/dev/urandom of="$W/l1.raw" bs=$CS seek=$c count=1 conv=notrunc status=none
done


# ---- an encrypted zstd chain -------------------------------------------------------------------
E=$W/e
mkdir "$E"
if "$SPFCTL" create --encrypt --key-file "$T/key" $KDF_FAST -c zstd "$W/l0.raw" "$E/full.spf" >/dev/null 2>"$T/err" &&
   "$SPFCTL" create --key-file "$T/key" --parent "$E/full.spf" "$W/l1.raw" "$E/i1.spi" >/dev/null 2>>"$T/err"; then
	(cd "$E" && sha256sum full.spf i1.spi) > "$T/enc.sha256"
	tnote "chain built"
	if wattach wrr-enc-attach "$E/new.spi" "$E/i1.spi" --key-file "$T/key"; then
		pass wrr-enc-attach
		cp "$W/l1.raw" "$W/me"
		marker=SPFBLK-PLAINTEXT-MARKER-0123456789
		yes "$marker" | head -c $((3 * CS)) > "$T/text"
		dd if="$T/text" of="$DEV" bs=$((3 * CS)) seek=$((8 * CS + 512)) oflag=seek_bytes,direct conv=notrunc status=none
		dd if="$T/text" of="$W/me" bs=$((3 * CS)) seek=$((8 * CS + 512)) oflag=seek_bytes conv=notrunc status=none
		put "$DEV" "$W/me" $((130 * CS + 1536)) 4096
		put "$DEV" "$W/me" $((2 * CS - 512)) 1024
		sync
		reads_as wrr-enc-reads "$DEV" "$W/me"
		grep -qF "$marker" "$E/new.spi" && fail wrr-enc-no-plaintext "the overlay holds plaintext" ||
			pass wrr-enc-no-plaintext
		if err=$("$SPFCTL" detach --key-file "$T/key" "$DEV" 2>&1 >/dev/null) && wait_gone "$DEV"; then
			pass wrr-enc-seal
			expect_ok wrr-enc-verify "$SPFCTL" verify --key-file "$T/key" "$E/new.spi"
			grep -qF "$marker" "$E/new.spi" && fail wrr-enc-sealed-no-plaintext "the sealed image holds plaintext" ||
				pass wrr-enc-sealed-no-plaintext
			if vm_attach wrr-enc-sealed-attach --key-file "$T/key" "$E/new.spi"; then
				reads_as wrr-enc-sealed-reads "$DEV" "$W/me"
				vm_detach wrr-enc-sealed-detach "$DEV"
			fi
			if "$SPFCTL" export --key-file "$T/key" "$E/new.spi" "$T/exp.raw" 2>"$T/err"; then
				same_bytes wrr-enc-sealed-export "$T/exp.raw" "$W/me"
			else
				fail wrr-enc-sealed-export "$(head -n 2 "$T/err" | tr '\n' ' ')"
			fi
		else
			fail wrr-enc-seal "detach --key-file: $err"
		fi
	fi
	out=$(cd "$E" && sha256sum -c --quiet "$T/enc.sha256" 2>&1) && pass wrr-enc-chain-unchanged ||
		fail wrr-enc-chain-unchanged "$out"
else
	fail wrr-enc-chain "spfctl create: $(head -n 3 "$T/err" | tr '\n' ' ')"
fi
tnote "checked"
left=$(spf_devices | tr '\n' ' ')
[ -z "$left" ] && pass wrr-enc-no-devices || fail wrr-enc-no-devices "devices left: $left"
finish
