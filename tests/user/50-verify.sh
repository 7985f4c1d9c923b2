#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# spfctl verify: exit 0 on a clean chain; exit 1 naming the file and chunk
# of each problem, going on after the first one, in any image of the chain.
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
mkdisk_mixed "$T/l0.raw" 2048 verify
cp "$T/l0.raw" "$T/l1.raw"; modify_chunks "$T/l1.raw" 4096 v1 6 >/dev/null
cp "$T/l1.raw" "$T/l2.raw"; modify_chunks "$T/l2.raw" 4096 v2 6 >/dev/null
mkdir "$T/c" "$T/e"
"$SPFCTL" create --chunk-size 4K --compress deflate "$T/l0.raw" "$T/c/a.spf" 2>/dev/null &&
"$SPFCTL" create --parent "$T/c/a.spf" "$T/l1.raw" "$T/c/b.spi" 2>/dev/null &&
"$SPFCTL" create --parent "$T/c/b.spi" "$T/l2.raw" "$T/c/c.spi" 2>/dev/null ||
	{ fail "setup" "cannot build the plain chain"; finish; }
"$SPFCTL" create --encrypt --key-file "$T/key" $KDF_FAST --chunk-size 4K "$T/l0.raw" "$T/e/a.spf" 2>/dev/null &&
"$SPFCTL" create --key-file "$T/key" --parent "$T/e/a.spf" "$T/l1.raw" "$T/e/b.spi" 2>/dev/null ||
	{ fail "setup" "cannot build the encrypted chain"; finish; }

expect_ok "clean full image" "$SPFCTL" verify "$T/c/a.spf"
expect_ok "clean chain of 3" "$SPFCTL" verify "$T/c/c.spi"
expect_ok "clean encrypted chain, with the key" "$SPFCTL" verify --key-file "$T/key" "$T/e/b.spi"
"$SPFCTL" verify "$T/e/b.spi" </dev/null >/dev/null 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 0 ] && pass "clean encrypted chain, no key: the other checks pass" ||
	fail "clean encrypted chain, no key: the other checks pass" "exit $rc: $(head -n 2 "$T/err")"
expect_error "encrypted chain, wrong passphrase" 1 "wrong passphrase" \
	"$SPFCTL" verify --key-file <(printf nope) "$T/e/b.spi"
check "--chain: the chain from a list of files" "$SPFCTL" verify --chain "$T/c/a.spf" "$T/c/b.spi" "$T/c/c.spi"

# data chunks with a stored record: (chunk offset) of entry I of leaf K
entry() { spfpatch "$1" get "b[$2].e[$3].chunk"; }

# One damaged chunk in the full image, shadowed or not by the incrementals:
# verify checks every stored chunk of every image.
mkdir "$T/d1"; cp "$T"/c/* "$T/d1/"
c1=$(entry "$T/d1/a.spf" 0 3)
spfpatch "$T/d1/a.spf" flip --raw "c[$c1]+1"
expect_error "damaged chunk in the full image, verify the top" 1 \
	"spfctl: $T/d1/a.spf: chunk $c1: " "$SPFCTL" verify "$T/d1/c.spi"

# Two damaged chunks in two images: both reported, checking goes on.
mkdir "$T/d2"; cp "$T"/c/* "$T/d2/"
c2=$(entry "$T/d2/a.spf" 1 5)
c3=$(entry "$T/d2/b.spi" 0 2)
spfpatch "$T/d2/a.spf" flip --raw "c[$c2]+0"
spfpatch "$T/d2/b.spi" flip --raw "c[$c3]+7"
"$SPFCTL" verify "$T/d2/c.spi" >/dev/null 2>"$T/err" && rc=0 || rc=$?
if [ "$rc" = 1 ] && grep -qF "spfctl: $T/d2/a.spf: chunk $c2: " "$T/err" &&
   grep -qF "spfctl: $T/d2/b.spi: chunk $c3: " "$T/err"; then
	pass "two damaged chunks in two images: both named"
else
	fail "two damaged chunks in two images: both named" "exit $rc: $(head -n 3 "$T/err" | tr '\n' ' ')"
fi
[ "$(grep -c '^spfctl: ' "$T/err")" -le 4 ] && pass "no flood of messages for two problems" ||
	fail "no flood of messages for two problems" "$(grep -c '^spfctl: ' "$T/err") lines"

# A damaged index leaf in one image and a damaged chunk in another.
mkdir "$T/d3"; cp "$T"/c/* "$T/d3/"
leaf=$(spfpatch "$T/d3/a.spf" get t.index_offset)
poke "$T/d3/a.spf" $((leaf + 4096 + 300))
c4=$(entry "$T/d3/c.spi" 0 1)
spfpatch "$T/d3/c.spi" flip --raw "c[$c4]+2"
"$SPFCTL" verify "$T/d3/c.spi" >/dev/null 2>"$T/err" && rc=0 || rc=$?
if [ "$rc" = 1 ] && grep -qF "spfctl: $T/d3/a.spf: index block at $((leaf + 4096)): checksum mismatch" "$T/err" &&
   grep -qF "spfctl: $T/d3/c.spi: chunk $c4: " "$T/err"; then
	pass "damaged index block and damaged chunk: both named"
else
	fail "damaged index block and damaged chunk: both named" "exit $rc: $(head -n 3 "$T/err" | tr '\n' ' ')"
fi

# Encrypted: a chunk altered with its crc recomputed fails its AEAD tag;
# only checkable with the key.
mkdir "$T/d4"; cp "$T"/e/* "$T/d4/"
c5=$(entry "$T/d4/b.spi" 0 0)
spfpatch "$T/d4/b.spi" flip --data-crc "c[$c5]+4"
expect_error "encrypted chunk altered: AEAD tag (with key)" 1 "spfctl: $T/d4/b.spi: chunk $c5: " \
	"$SPFCTL" verify --key-file "$T/key" "$T/d4/b.spi"
# and a plain crc error is found without the key
mkdir "$T/d5"; cp "$T"/e/* "$T/d5/"
spfpatch "$T/d5/a.spf" flip --raw "c[$(entry "$T/d5/a.spf" 0 0)]+4"
"$SPFCTL" verify "$T/d5/b.spi" </dev/null >/dev/null 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] && grep -qF "spfctl: $T/d5/a.spf: chunk $(entry "$T/d5/a.spf" 0 0): " "$T/err" &&
	pass "encrypted chain without key: crc errors still found" ||
	fail "encrypted chain without key: crc errors still found" "exit $rc: $(head -n 2 "$T/err" | tr '\n' ' ')"

# Consistent checksums, inconsistent contents: the summary and the
# trailer's counts are checked against the index.
region_of() { python3 -c "import sys; print(int(sys.argv[1]) >> int(sys.argv[2]))" "$1" "$2"; }
mkdir "$T/d6"; cp "$T/c/a.spf" "$T/d6/"
c6=$(entry "$T/d6/a.spf" 0 0)
shift_=$(spfpatch "$T/d6/a.spf" get s.region_shift)
r=$(region_of "$c6" "$shift_")
python3 - "$T/d6/a.spf" "$r" "$ROOT/tests/tools" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
import spfpatch
img = spfpatch.Image(sys.argv[1])
r = int(sys.argv[2])
img.buf[img.summary_offset + 32 + r // 8] &= ~(1 << (r % 8)) & 0xff
img.fix()
img.save()
PY
expect_error "summary misses a region the index holds" 1 "spfctl: $T/d6/a.spf: " \
	"$SPFCTL" verify "$T/d6/a.spf"
mkdir "$T/d7"; cp "$T/c/a.spf" "$T/d7/"
spfpatch "$T/d7/a.spf" set t.nr_stored=-1
expect_error "trailer's stored count off by one" 1 "spfctl: $T/d7/a.spf: " \
	"$SPFCTL" verify "$T/d7/a.spf"
mkdir "$T/d8"; cp "$T/c/a.spf" "$T/d8/"
spfpatch "$T/d8/a.spf" set t.stored_bytes=-1
expect_error "trailer's stored bytes off by one" 1 "spfctl: $T/d8/a.spf: " \
	"$SPFCTL" verify "$T/d8/a.spf"

# A damaged parent header stops the chain; the parent is named.
mkdir "$T/d9"; cp "$T"/c/* "$T/d9/"
poke "$T/d9/b.spi" 40
expect_error "damaged parent header" 1 "spfctl: $T/d9/b.spi: header checksum mismatch" \
	"$SPFCTL" verify "$T/d9/c.spi"

# Unfinalised top image.
mkdir "$T/d10"; cp "$T"/c/* "$T/d10/"
truncate -s -100 "$T/d10/c.spi"
expect_error "unfinalised top" 1 "spfctl: $T/d10/c.spi: not finalised (interrupted backup?)" \
	"$SPFCTL" verify "$T/d10/c.spi"

# verify reads, never writes
sum_before=$(cat "$T"/c/* | sha256sum)
"$SPFCTL" verify "$T/c/c.spi" >/dev/null 2>&1
[ "$(cat "$T"/c/* | sha256sum)" = "$sum_before" ] && [ "$(ls "$T/c" | wc -l)" = 3 ] &&
	pass "verify changes nothing" || fail "verify changes nothing" "$(ls "$T/c")"

finish
