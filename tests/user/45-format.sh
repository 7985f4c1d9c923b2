#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Format conformance, checked independently of the C code: every image
# spfctl writes is checked field by field against docs/format.md by
# tests/tools/spfpatch.py (layout, crcs, seal, index packing, summary,
# digests; encrypted images with the key when python's cryptography module
# has Argon2id), and images from spfpatch's reference writer read back
# through spfctl.
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
mkdisk_mixed "$T/l0.raw" 1536 fmt	# 1.5 MiB: 384 chunks of 4K, > 84 entries
cp "$T/l0.raw" "$T/l1.raw"; modify_chunks "$T/l1.raw" 4096 f1 5 >/dev/null
dd if=/dev/zero of="$T/l1.raw" bs=4096 seek=10 count=2 conv=notrunc status=none
{ cat "$T/l1.raw"; rand_bytes fgrow 20000; } > "$T/l2.raw"
label="conformance"

conform() {	# conform NAME IMAGE [--key-file KEY]
	local name=$1 img=$2; shift 2
	local out
	if [ ! -s "$img" ]; then
		fail "$name" "no image"
	elif out=$(spfpatch "$img" check "$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | head -n 4 | tr '\n' ' ')"
	fi
}

for codec in none deflate zstd lz4; do
	for cs in 4K 64K; do
		"$SPFCTL" create --compress $codec --chunk-size $cs --label "$label" \
			"$T/l0.raw" "$T/$codec-$cs.spf" 2>/dev/null
		conform "conformance: $codec $cs" "$T/$codec-$cs.spf"
	done
done
"$SPFCTL" create --chunk-size 4K "$T/l0.raw" "$T/a.spf" 2>/dev/null
"$SPFCTL" create --parent "$T/a.spf" "$T/l1.raw" "$T/b.spi" 2>/dev/null
"$SPFCTL" create --parent "$T/b.spi" "$T/l2.raw" "$T/c.spi" 2>/dev/null
conform "conformance: incremental with ZERO entries" "$T/b.spi"
conform "conformance: grown incremental" "$T/c.spi"
"$SPFCTL" create --chunk-size 1M "$T/l0.raw" "$T/one.spf" 2>/dev/null
conform "conformance: 1M chunks, one leaf" "$T/one.spf"
head -c $((1 << 20)) /dev/zero > "$T/z.raw"
"$SPFCTL" create "$T/z.raw" "$T/z.spf" 2>/dev/null
conform "conformance: empty image" "$T/z.spf"
# many entries: a 3-level index needs > 84 * 169 entries
python3 -c "
import sys
with open(sys.argv[1], 'wb') as f:
    for i in range(14500):
        f.write((b'%08d' % i) * 512)
" "$T/many.raw"
"$SPFCTL" create --chunk-size 4K --compress lz4 "$T/many.raw" "$T/many.spf" 2>/dev/null
[ "$(spfpatch "$T/many.spf" get t.index_levels 2>/dev/null)" = 3 ] && pass "14500 entries: a 3-level index" ||
	fail "14500 entries: a 3-level index" "index_levels $(spfpatch "$T/many.spf" get t.index_levels 2>&1)"
conform "conformance: 3-level index" "$T/many.spf"
"$SPFCTL" export "$T/many.spf" "$T/many.out" 2>/dev/null
same_bytes "3-level index round trip" "$T/many.raw" "$T/many.out"

# A coarse summary: 8 GiB of 4K chunks (2^21 chunks, 64 per summary bit),
# data scattered over it.
truncate -s 8G "$T/wide.raw"
for i in 0 1 63 64 1000 77777 1048575 2097151; do
	printf 'chunk %d' "$i" | dd of="$T/wide.raw" bs=4096 seek="$i" conv=notrunc status=none
done
"$SPFCTL" create --chunk-size 4K "$T/wide.raw" "$T/wide.spf" 2>/dev/null
[ "$(spfpatch "$T/wide.spf" get s.region_shift 2>/dev/null)" = 7 ] &&
	[ "$(spfpatch "$T/wide.spf" get t.nr_entries 2>/dev/null)" = 8 ] &&
	pass "8 GiB of 4K chunks: region shift 7, 8 entries" ||
	fail "8 GiB of 4K chunks: region shift 7, 8 entries" "shift $(spfpatch "$T/wide.spf" get s.region_shift 2>&1), entries $(spfpatch "$T/wide.spf" get t.nr_entries 2>&1)"
conform "conformance: coarse summary" "$T/wide.spf"
rm -f "$T/wide.raw"

have_crypto=0
"$PYTHON" -c 'from cryptography.hazmat.primitives.kdf.argon2 import Argon2id' 2>/dev/null && have_crypto=1
mkdir "$T/e"
"$SPFCTL" create --encrypt --key-file "$T/key" $KDF_FAST --chunk-size 4K --compress zstd \
	"$T/l0.raw" "$T/e/a.spf" 2>/dev/null
"$SPFCTL" create --key-file "$T/key" --parent "$T/e/a.spf" "$T/l1.raw" "$T/e/b.spi" 2>/dev/null
for img in a.spf b.spi; do
	if [ "$have_crypto" = 1 ]; then
		conform "conformance: encrypted $img (keys, key check, AEAD, HMAC digests)" "$T/e/$img" --key-file "$T/key"
	else
		conform "conformance: encrypted $img (without the key)" "$T/e/$img"
		skip "encrypted $img with the key" "python3 cryptography with Argon2id not available"
	fi
done

# Each image of an encrypted chain has its own data key (chunk nonces are
# chunk numbers: a shared data key would repeat nonces), and the chain one
# digest key.
if [ "$have_crypto" = 1 ]; then
	out=$(python3 - "$T/e/a.spf" "$T/e/b.spi" "$T/key" "$TESTS_DIR/tools" <<'PY'
import sys
sys.path.insert(0, sys.argv[4])
import spfpatch
pw = open(sys.argv[3], "rb").read()
a = spfpatch.unwrap_keys(spfpatch.Image(sys.argv[1]), pw)
b = spfpatch.unwrap_keys(spfpatch.Image(sys.argv[2]), pw)
print("data keys differ" if a[0] != b[0] else "SAME DATA KEY",
      "digest key shared" if a[1] == b[1] else "DIGEST KEYS DIFFER")
PY
)
	[ "$out" = "data keys differ digest key shared" ] &&
		pass "encrypted chain: a data key per image, one digest key" ||
		fail "encrypted chain: a data key per image, one digest key" "$out"
fi

# The reference writer's images read back through spfctl.
mkdir "$T/r"
spfpatch mkimage --codec deflate --chunk-shift 12 --label ref "$T/l0.raw" "$T/r/a.spf"
spfpatch mkimage --codec none --chunk-shift 12 --parent "$T/r/a.spf" "$T/l1.raw" "$T/r/b.spi"
spfpatch mkimage --codec deflate --chunk-shift 12 --parent "$T/r/b.spi" --parent "$T/r/a.spf" "$T/l2.raw" "$T/r/c.spi"
conform "reference writer passes its own check" "$T/r/c.spi"
check "spfctl verifies the reference chain" "$SPFCTL" verify "$T/r/c.spi"
"$SPFCTL" export "$T/r/c.spi" "$T/r.out" 2>/dev/null
cmp -s -n "$(stat -c %s "$T/l2.raw")" "$T/l2.raw" "$T/r.out" && pass "spfctl exports the reference chain" ||
	fail "spfctl exports the reference chain" "$(cmp "$T/l2.raw" "$T/r.out" 2>&1 | head -n 1)"
# spfctl writes an incremental on top of a reference image, and the other way
cp "$T/l1.raw" "$T/l3.raw"; modify_chunks "$T/l3.raw" 4096 f3 4 >/dev/null
"$SPFCTL" create --parent "$T/r/b.spi" "$T/l3.raw" "$T/r/s.spi" 2>/dev/null
[ "$(spfpatch "$T/r/s.spi" get t.nr_stored 2>/dev/null)" = 4 ] &&
	pass "spfctl incremental on a reference image: digests agree (4 stored)" ||
	fail "spfctl incremental on a reference image: digests agree" "nr_stored $(spfpatch "$T/r/s.spi" get t.nr_stored 2>&1), 4 chunks changed"
"$SPFCTL" export "$T/r/s.spi" "$T/s.out" 2>/dev/null
same_bytes "spfctl incremental on a reference image exports" "$T/l3.raw" "$T/s.out"
spfpatch mkimage --codec deflate --chunk-shift 12 --parent "$T/b.spi" --parent "$T/a.spf" "$T/l3.raw" "$T/ref-on-spfctl.spi"
[ "$(spfpatch "$T/ref-on-spfctl.spi" get t.nr_stored)" = 4 ] &&
	pass "reference incremental on spfctl images: digests agree (4 stored)" ||
	fail "reference incremental on spfctl images: digests agree" "nr_stored $(spfpatch "$T/ref-on-spfctl.spi" get t.nr_stored)"
"$SPFCTL" export "$T/ref-on-spfctl.spi" "$T/ros.out" 2>/dev/null
same_bytes "reference incremental on spfctl images exports" "$T/l3.raw" "$T/ros.out"

finish
