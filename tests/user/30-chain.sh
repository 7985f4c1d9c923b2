#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Chains of depth 1, 2, 10 and 100 built from random modifications
# (including a grown disk): every level exports to that level's source, and
# each incremental holds exactly the chunks that changed.
#
# SPF_TEST_QUICK=1 builds the depth-100 chain to depth 30 only.
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
ENC=(--encrypt --key-file "$T/key" $KDF_FAST)

# diffchunks OLD NEW CS: "N Z": chunks that differ (past OLD's end: that
# are non-zero) and how many of those are all zeros in NEW.
diffchunks() {
	python3 - "$@" <<'PY'
import sys
a, b, cs = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), int(sys.argv[3])
n = z = 0
for i in range(0, max(len(a), len(b)), cs):
    x, y = a[i:i + cs].ljust(cs, b"\0"), b[i:i + cs].ljust(cs, b"\0")
    if x != y:
        n += 1
        z += not any(y)
print(n, z)
PY
}

# nr IMAGE FIELD: a trailer/header count via the patch tool.
nr() { spfpatch "$1" get "$2" 2>/dev/null || echo "?"; }

# expect_counts NAME IMAGE ENTRIES STORED
expect_counts() {
	local e s
	e=$(nr "$2" t.nr_entries) s=$(nr "$2" t.nr_stored)
	if [ "$e" = "$3" ] && [ "$s" = "$4" ]; then
		pass "$1"
	else
		fail "$1" "nr_entries/nr_stored $e/$s, expected $3/$4"
	fi
}

# export_is NAME IMAGE SOURCE [ARGS...]
export_is() {
	local name=$1 img=$2 src=$3; shift 3
	rm -f "$T/x.out"
	if "$SPFCTL" export "$@" "$img" "$T/x.out" 2>"$T/err"; then
		same_bytes "$name" "$src" "$T/x.out"
	else
		fail "$name" "export failed: $(head -n 2 "$T/err" | tr '\n' ' ')"
	fi
}

# --- depth 1 and 2, 64K chunks, on an ext4 disk -----------------------------
mkdir "$T/c2"
mkdisk_ext4 "$T/c2/l0.raw" 16 || fail "mkdisk_ext4" "could not build the disk"
"$SPFCTL" create --chunk-size 64K "$T/c2/l0.raw" "$T/c2/full.spf" 2>/dev/null
cp "$T/c2/l0.raw" "$T/c2/l1.raw"
chunks=$(modify_chunks "$T/c2/l1.raw" 65536 d1 7)
"$SPFCTL" create --parent "$T/c2/full.spf" "$T/c2/l1.raw" "$T/c2/i1.spi" 2>"$T/err" ||
	fail "depth 1 create" "$(head -n 2 "$T/err")"
expect_counts "depth 1: 7 changed chunks -> 7 stored (chunks $chunks)" "$T/c2/i1.spi" 7 7
export_is "depth 1 export" "$T/c2/i1.spi" "$T/c2/l1.raw"
export_is "depth 1: the full image still exports level 0" "$T/c2/full.spf" "$T/c2/l0.raw"
sz=$(stat -c %s "$T/c2/i1.spi" 2>/dev/null || echo 0)
[ "$sz" -le $((4096 + 7 * 65536 + 4096 + 4096 + 512)) ] &&
	pass "depth 1 image size ($sz) bounded by the changed chunks" ||
	fail "depth 1 image size bounded by the changed chunks" "$sz bytes for 7 chunks of 64K"
[ "$(nr "$T/c2/i1.spi" h.depth)" = 1 ] && pass "depth 1 header depth" ||
	fail "depth 1 header depth" "$(nr "$T/c2/i1.spi" h.depth)"

# Level 2: a zeroed chunk (-> ZERO entry), a chunk restored to level 0's
# content (differs from level 1: stored), and 3 plain changes.
cp "$T/c2/l1.raw" "$T/c2/l2.raw"
first=${chunks%% *}
dd if=/dev/zero of="$T/c2/l2.raw" bs=65536 seek=100 count=1 conv=notrunc status=none
dd if="$T/c2/l0.raw" of="$T/c2/l2.raw" bs=65536 skip="$first" seek="$first" count=1 conv=notrunc status=none
modify_chunks "$T/c2/l2.raw" 65536 d2 3 >/dev/null
read -r changed zeroed < <(diffchunks "$T/c2/l1.raw" "$T/c2/l2.raw" 65536)
"$SPFCTL" create --parent "$T/c2/i1.spi" "$T/c2/l2.raw" "$T/c2/i2.spi" 2>"$T/err" ||
	fail "depth 2 create" "$(head -n 2 "$T/err")"
expect_counts "depth 2: $changed changed chunks ($zeroed zeroed) -> entries" "$T/c2/i2.spi" \
	"$changed" $((changed - zeroed))
export_is "depth 2 export" "$T/c2/i2.spi" "$T/c2/l2.raw"
export_is "depth 2: level 1 still exports" "$T/c2/i1.spi" "$T/c2/l1.raw"
check "depth 2 verify" "$SPFCTL" verify "$T/c2/i2.spi"

# No change at all: an empty incremental.
"$SPFCTL" create --parent "$T/c2/i2.spi" "$T/c2/l2.raw" "$T/c2/i3.spi" 2>/dev/null
expect_counts "unchanged source -> empty incremental" "$T/c2/i3.spi" 0 0
[ "$(stat -c %s "$T/c2/i3.spi" 2>/dev/null)" = 8704 ] &&
	pass "empty incremental is 8704 bytes" ||
	fail "empty incremental is 8704 bytes" "$(stat -c %s "$T/c2/i3.spi" 2>&1)"
export_is "empty incremental export" "$T/c2/i3.spi" "$T/c2/l2.raw"

# The chunk size (64K here, not zstd's default) and parent name come from
# the parent.
[ "$(nr "$T/c2/i1.spi" h.chunk_shift)" = 16 ] && pass "incremental keeps the parent's chunk size" ||
	fail "incremental keeps the parent's chunk size" "chunk_shift $(nr "$T/c2/i1.spi" h.chunk_shift)"
pn=$(spfpatch "$T/c2/i2.spi" show 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["parent_name"])')
[ "$pn" = i1.spi ] && pass "parent name hint is the parent's basename" ||
	fail "parent name hint is the parent's basename" "parent_name '$pn'"
"$SPFCTL" create --chunk-size 4K --parent "$T/c2/i2.spi" "$T/c2/l2.raw" "$T/c2/bad.spi" 2>"$T/err" && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && [ ! -e "$T/c2/bad.spi" ]; then
	pass "--chunk-size different from the parent's is refused (exit $rc)"
else
	fail "--chunk-size different from the parent's is refused" "exit $rc"
fi

# Parent found by uuid when the hint is stale (parent renamed).
mv "$T/c2/i1.spi" "$T/c2/renamed.spi"
export_is "parent renamed: found by uuid in the folder" "$T/c2/i2.spi" "$T/c2/l2.raw"
mv "$T/c2/renamed.spi" "$T/c2/i1.spi"
# --chain overrides discovery: the chain in another folder.
mkdir "$T/elsewhere"
cp "$T/c2/full.spf" "$T/c2/i1.spi" "$T/elsewhere/"
cp "$T/c2/i2.spi" "$T/top.spi"
export_is "--chain with the parents in another folder" "$T/top.spi" "$T/c2/l2.raw" \
	--chain "$T/elsewhere/full.spf" "$T/elsewhere/i1.spi"

# A sparse source whose holes cover the parent's data: holes are zeros, so
# those chunks need ZERO entries.
mkdir "$T/h"
rand_bytes holes $((1 << 20)) > "$T/h/l0.raw"
"$SPFCTL" create --chunk-size 4K "$T/h/l0.raw" "$T/h/a.spf" 2>/dev/null
cp --sparse=always "$T/h/l0.raw" "$T/h/l1.raw"
fallocate -p -o $((16 * 4096)) -l $((8 * 4096)) "$T/h/l1.raw" 2>/dev/null ||
	dd if=/dev/zero of="$T/h/l1.raw" bs=4096 seek=16 count=8 conv=notrunc status=none
"$SPFCTL" create --parent "$T/h/a.spf" "$T/h/l1.raw" "$T/h/b.spi" 2>/dev/null
expect_counts "holes punched in the source over data: 8 ZERO entries" "$T/h/b.spi" 8 0
export_is "holes over parent data export" "$T/h/b.spi" "$T/h/l1.raw"
# An incremental from stdin, and with create --chain.
cp "$T/h/l1.raw" "$T/h/l2.raw"; modify_chunks "$T/h/l2.raw" 4096 hs 3 >/dev/null
"$SPFCTL" create --parent "$T/h/b.spi" - "$T/h/c.spi" < "$T/h/l2.raw" 2>"$T/err" ||
	fail "incremental from stdin" "$(head -n 1 "$T/err")"
expect_counts "incremental from stdin: 3 stored" "$T/h/c.spi" 3 3
export_is "incremental from stdin export" "$T/h/c.spi" "$T/h/l2.raw"
mkdir "$T/h2"; mv "$T/h/a.spf" "$T/h/b.spi" "$T/h2/"
"$SPFCTL" create --parent "$T/h2/b.spi" --chain "$T/h2/a.spf" "$T/h/l2.raw" "$T/h/d.spi" 2>"$T/err" ||
	fail "create --chain" "$(head -n 1 "$T/err")"
expect_counts "create --parent with --chain: 3 stored" "$T/h/d.spi" 3 3

# Codecs may differ along a chain.
mkdir "$T/mix"
mkdisk_mixed "$T/mix/l0.raw" 2048 mixc
"$SPFCTL" create --compress zstd --chunk-size 4K "$T/mix/l0.raw" "$T/mix/a.spf" 2>/dev/null
prev=$T/mix/a.spf
cp "$T/mix/l0.raw" "$T/mix/cur.raw"
for codec in deflate lz4 none; do
	modify_chunks "$T/mix/cur.raw" 4096 "mix$codec" 5 >/dev/null
	"$SPFCTL" create --compress $codec --parent "$prev" "$T/mix/cur.raw" "$T/mix/$codec.spi" 2>/dev/null
	prev=$T/mix/$codec.spi
done
export_is "chain zstd -> deflate -> lz4 -> none" "$prev" "$T/mix/cur.raw"
expect_counts "codec change: 5 stored" "$prev" 5 5

# --- a grown disk ------------------------------------------------------------
mkdir "$T/g"
mkdisk_mixed "$T/g/l0.raw" 1024 grow
"$SPFCTL" create --chunk-size 4K "$T/g/l0.raw" "$T/g/a.spf" 2>/dev/null
# grow by 1 MiB of zeros: nothing to store
{ cat "$T/g/l0.raw"; head -c $((1 << 20)) /dev/zero; } > "$T/g/l1.raw"
"$SPFCTL" create --parent "$T/g/a.spf" "$T/g/l1.raw" "$T/g/b.spi" 2>"$T/err" ||
	fail "grow create" "$(head -n 2 "$T/err")"
expect_counts "grown by zeros -> no entries" "$T/g/b.spi" 0 0
[ "$(nr "$T/g/b.spi" h.disk_size)" = $((2 << 20)) ] && [ "$(nr "$T/g/b.spi" h.parent_disk_size)" = $((1 << 20)) ] &&
	pass "grown disk: disk_size and parent_disk_size" ||
	fail "grown disk: disk_size and parent_disk_size" "$(nr "$T/g/b.spi" h.disk_size)/$(nr "$T/g/b.spi" h.parent_disk_size)"
export_is "grown by zeros export" "$T/g/b.spi" "$T/g/l1.raw"
# grow by 10 chunks of data, an odd size, plus 2 changes in the old part
{ cat "$T/g/l1.raw"; rand_bytes grow2 $((10 * 4096 - 1000)); } > "$T/g/l2.raw"
python3 - "$T/g/l2.raw" <<'PY'
import sys
f = open(sys.argv[1], "r+b")
for c in (3, 200):
    f.seek(c * 4096 + 100)
    f.write(b"changed!" * 8)
PY
"$SPFCTL" create --parent "$T/g/b.spi" "$T/g/l2.raw" "$T/g/c.spi" 2>/dev/null
expect_counts "grown by 10 chunks + 2 changes -> 12 stored" "$T/g/c.spi" 12 12
# disk size rounds up to 512: compare the source's bytes, the rest zeros
"$SPFCTL" export "$T/g/c.spi" "$T/g/c.out" 2>/dev/null
if cmp -s -n "$(stat -c %s "$T/g/l2.raw")" "$T/g/l2.raw" "$T/g/c.out" &&
   [ "$(stat -c %s "$T/g/c.out")" = $(( ($(stat -c %s "$T/g/l2.raw") + 511) / 512 * 512 )) ]; then
	pass "grown by data export"
else
	fail "grown by data export" "$(cmp "$T/g/l2.raw" "$T/g/c.out" 2>&1 | head -n 1)"
fi
export_is "grown chain: level 1 still exports" "$T/g/b.spi" "$T/g/l1.raw"
# Shrinking is refused.
head -c $((1 << 20)) "$T/g/l2.raw" > "$T/g/small.raw"
"$SPFCTL" create --parent "$T/g/c.spi" "$T/g/small.raw" "$T/g/shrunk.spi" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] && [ ! -e "$T/g/shrunk.spi" ] && grep -q "^spfctl: " "$T/err" &&
	pass "a smaller disk than the parent's is refused" ||
	fail "a smaller disk than the parent's is refused" "exit $rc: $(head -n 1 "$T/err")"

# --- encrypted chain -----------------------------------------------------------
mkdir "$T/e"
mkdisk_mixed "$T/e/l0.raw" 1024 enc
"$SPFCTL" create "${ENC[@]}" --chunk-size 4K "$T/e/l0.raw" "$T/e/a.spf" 2>/dev/null
cp "$T/e/l0.raw" "$T/e/l1.raw"
modify_chunks "$T/e/l1.raw" 4096 enc1 6 >/dev/null
# --parent of an encrypted chain implies --encrypt
"$SPFCTL" create --key-file "$T/key" $KDF_FAST --parent "$T/e/a.spf" "$T/e/l1.raw" "$T/e/b.spi" 2>"$T/err" ||
	fail "encrypted incremental create" "$(head -n 2 "$T/err")"
expect_counts "encrypted incremental: 6 changed -> 6 stored" "$T/e/b.spi" 6 6
[ "$(nr "$T/e/b.spi" h.incompat)" = 1 ] && pass "incremental of an encrypted chain is encrypted" ||
	fail "incremental of an encrypted chain is encrypted" "incompat $(nr "$T/e/b.spi" h.incompat)"
export_is "encrypted chain export" "$T/e/b.spi" "$T/e/l1.raw" --key-file "$T/key"
# docs/format.md section 6: an incremental copies the chain's KDF salt and
# parameters (one derivation per chain), with its own wrap nonce and keys.
if [ "$(nr "$T/e/a.spf" h.salt)" = "$(nr "$T/e/b.spi" h.salt)" ] &&
   [ "$(nr "$T/e/a.spf" h.kdf_m_cost)" = "$(nr "$T/e/b.spi" h.kdf_m_cost)" ] &&
   [ "$(nr "$T/e/a.spf" h.wrap_nonce)" != "$(nr "$T/e/b.spi" h.wrap_nonce)" ] &&
   [ "$(nr "$T/e/a.spf" h.wrapped_keys)" != "$(nr "$T/e/b.spi" h.wrapped_keys)" ]; then
	pass "incremental: the chain's salt, its own wrap nonce and wrapped keys"
else
	fail "incremental: the chain's salt, its own wrap nonce and wrapped keys" \
		"salt $(nr "$T/e/a.spf" h.salt)/$(nr "$T/e/b.spi" h.salt) nonce $(nr "$T/e/a.spf" h.wrap_nonce)/$(nr "$T/e/b.spi" h.wrap_nonce)"
fi
# digests are keyed: the same content in two encrypted chains gives
# different digests; in two plain chains the same.
"$SPFCTL" create "${ENC[@]}" --chunk-size 4K "$T/e/l0.raw" "$T/e/a2.spf" 2>/dev/null
"$SPFCTL" create --chunk-size 4K "$T/e/l0.raw" "$T/e/p1.spf" 2>/dev/null
"$SPFCTL" create --chunk-size 4K "$T/e/l0.raw" "$T/e/p2.spf" 2>/dev/null
d1=$(nr "$T/e/a.spf" 'b[0].e[0].digest') d2=$(nr "$T/e/a2.spf" 'b[0].e[0].digest')
p1=$(nr "$T/e/p1.spf" 'b[0].e[0].digest') p2=$(nr "$T/e/p2.spf" 'b[0].e[0].digest')
if [ "$d1" != "$d2" ] && [ "$p1" = "$p2" ] && [ "$d1" != "$p1" ] && [ "$d1" != "?" ]; then
	pass "digests of encrypted chains are keyed"
else
	fail "digests of encrypted chains are keyed" "enc $d1 / $d2, plain $p1 / $p2"
fi
# a plain incremental on an encrypted parent cannot leak: refused or encrypted
"$SPFCTL" create --parent "$T/e/b.spi" "$T/e/l1.raw" "$T/e/nokey.spi" </dev/null 2>"$T/err" && rc=0 || rc=$?
[ "$rc" -ne 0 ] && [ ! -e "$T/e/nokey.spi" ] &&
	pass "incremental of an encrypted chain without a key is refused" ||
	fail "incremental of an encrypted chain without a key is refused" "exit $rc"

# --- depth 10 (64K chunks, 2 threads) and depth 100 (4K chunks) ---------------
# mklevels DIR DEPTH CHUNK_BYTES KB SEED: DIR/src.0 .. DIR/src.DEPTH, each
# the previous with a few chunks changed (and, half-way, grown by 3 chunks
# of data); DIR/want.I holds "entries stored" expected of level I.
mklevels() {
	mkdir -p "$1"
	mkdisk_mixed "$1/src.0" "$4" "$5"
	python3 - "$@" <<'PY'
import hashlib, random, sys
d, depth, cs, kb, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rng = random.Random(seed)
cur = bytearray(open("%s/src.0" % d, "rb").read())
for i in range(1, depth + 1):
    prev = bytes(cur)
    n = len(cur) // cs
    k = (i * 7) % 5 + 1
    for c in rng.sample(range(n), k):
        off = c * cs + rng.randrange(0, cs - 512 + 1)
        cur[off:off + 512] = (hashlib.sha256(b"%s.%d.%d" % (seed.encode(), i, c)).digest() * 16)
    if i == depth // 2:
        cur += hashlib.sha256(b"grow").digest() * (3 * cs // 32)
    open("%s/src.%d" % (d, i), "wb").write(cur)
    e = st = 0
    for off in range(0, len(cur), cs):
        a, b = prev[off:off + cs].ljust(cs, b"\0"), bytes(cur[off:off + cs])
        if a != b:
            e += 1
            st += any(b)
    open("%s/want.%d" % (d, i), "w").write("%d %d\n" % (e, st))
PY
}

build_chain() {	# build_chain DIR DEPTH CHUNK KB SEED [CREATE ARGS...]
	local dir=$1 depth=$2 cs=$3 kb=$4 seed=$5 i prev bytes
	shift 5
	bytes=$(case $cs in 4K) echo 4096;; 64K) echo 65536;; esac)
	mklevels "$dir" "$depth" "$bytes" "$kb" "$seed"
	"$SPFCTL" create --chunk-size "$cs" "$@" "$dir/src.0" "$dir/0.spf" 2>"$T/err" ||
		{ fail "$seed create level 0" "$(head -n 2 "$T/err")"; return 1; }
	prev=$dir/0.spf
	for i in $(seq 1 "$depth"); do
		if ! "$SPFCTL" create "$@" --parent "$prev" "$dir/src.$i" "$dir/$i.spi" 2>"$T/err"; then
			fail "$seed create level $i" "$(head -n 2 "$T/err")"
			return 1
		fi
		prev=$dir/$i.spi
	done
	# Each level holds exactly the chunks that changed: one python run
	# reads every image's trailer.
	python3 - "$dir" "$depth" "$seed" "$TESTS_DIR/tools" <<'PY'
import sys
d, depth, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, sys.argv[4])
import spfpatch
bad = []
for i in range(1, depth + 1):
    img = spfpatch.Image("%s/%d.spi" % (d, i))
    got = "%d %d" % (img.get("t.nr_entries"), img.get("t.nr_stored"))
    want = open("%s/want.%d" % (d, i)).read().strip()
    if got != want:
        bad.append("level %d: entries/stored %s, changed chunks %s" % (i, got, want))
    if img.get("h.depth") != i:
        bad.append("level %d: depth %d" % (i, img.get("h.depth")))
if bad:
    print("FAIL %s: every level holds exactly the changed chunks: %s" % (seed, "; ".join(bad[:5])))
else:
    print("PASS %s: every level holds exactly the changed chunks (%d levels)" % (seed, depth))
PY
}

# export_levels DIR DEPTH STEP NAME [ARGS]: export every STEP-th level
export_levels() {
	local dir=$1 depth=$2 step=$3 name=$4 i img bad=0
	shift 4
	for i in $(seq 0 "$step" "$depth") "$depth"; do
		img=$dir/$i.spi; [ "$i" = 0 ] && img=$dir/0.spf
		if ! "$SPFCTL" export "$@" "$img" - 2>"$T/err" | cmp -s - "$dir/src.$i"; then
			fail "$name: export of level $i" "differs from the source: $(head -n 1 "$T/err")"
			bad=1
		fi
	done
	[ "$bad" = 0 ] && pass "$name: every exported level equals its source"
}

build_chain "$T/d10" 10 64K 4096 d10 --threads 2 &&
	export_levels "$T/d10" 10 1 d10 &&
	check "d10: verify the top" "$SPFCTL" verify "$T/d10/10.spi"

depth=100
[ "${SPF_TEST_QUICK:-0}" = 1 ] && depth=30
build_chain "$T/d100" $depth 4K 1024 d100 --compress lz4 &&
	export_levels "$T/d100" $depth 1 d$depth &&
	check "d$depth: verify the top" "$SPFCTL" verify "$T/d100/$depth.spi"
out=$("$SPFCTL" info "$T/d100/$depth.spi" 2>&1)
printf '%s' "$out" | grep -qw "$depth" && pass "d$depth: info shows depth $depth" ||
	fail "d$depth: info shows depth $depth" "$(printf '%s' "$out" | head -n 5 | tr '\n' ' ')"

# Depth 4096 ("chains of at least 4096 images"): written by the reference
# writer in seconds (spfctl would re-read the chain 4096 times), then read,
# verified and extended by spfctl.
mkdir "$T/d4k"
if spfpatch mkchain "$T/d4k" 4096 2>"$T/err"; then
	export_is "depth 4096: export" "$T/d4k/4096.spi" "$T/d4k/expected.raw"
	check "depth 4096: verify" "$SPFCTL" verify "$T/d4k/4096.spi"
	cp "$T/d4k/expected.raw" "$T/d4k/next.raw"
	printf 'one more change' | dd of="$T/d4k/next.raw" bs=1 seek=5000 conv=notrunc status=none
	"$SPFCTL" create --parent "$T/d4k/4096.spi" "$T/d4k/next.raw" "$T/d4k/4097.spi" 2>"$T/err" ||
		fail "depth 4097: create" "$(head -n 1 "$T/err")"
	expect_counts "depth 4097: 1 stored" "$T/d4k/4097.spi" 1 1
	export_is "depth 4097: export" "$T/d4k/4097.spi" "$T/d4k/next.raw"
	rm -rf "$T/d4k"
else
	fail "depth 4096: reference chain" "$(tail -n 1 "$T/err")"
fi

build_chain "$T/d10e" 10 4K 512 d10e "${ENC[@]}" &&
	export_levels "$T/d10e" 10 3 d10e --key-file "$T/key"

finish
