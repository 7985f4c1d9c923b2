#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# spfctl merge: consolidating a run of a chain into one image.
#  - a plain chain mixing every codec (zstd full, lz4, deflate, none, zstd),
#    with chunks zeroed over data, a chunk restored to the full image's
#    content and a disk that grows; and an encrypted chain with 4K chunks;
#  - merges of a middle run, of a single image, from the full image (a
#    consolidated full image), of everything, of an already consolidated
#    image, with --compress recoding and with --chain: each merged image
#    exports byte for byte to the source of its last image, the chain with
#    it replacing the run exports to every later level (found in the folder
#    and with --chain), verify passes, a new incremental written on top of
#    it works, and its entry counts are exactly the chunks that differ from
#    the chain below;
#  - the originals are byte-identical afterwards (sha256);
#  - an interrupted merge (SIGKILL, SIGINT, ENOSPC) leaves no OUTPUT and no
#    file any reader accepts;
#  - bad input, each with its exact message.
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
mkkey "$T/wrong" "not the passphrase"

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

# nonzero FILE CS: chunks of FILE that are not all zeros.
nonzero() {
	python3 - "$@" <<'PY'
import sys
d, cs = open(sys.argv[1], "rb").read(), int(sys.argv[2])
print(sum(1 for i in range(0, len(d), cs) if any(d[i:i + cs])))
PY
}

# info_of IMAGE KEY [ARGS...]: one value of spfctl info --json.
info_of() {
	local img=$1 key=$2; shift 2
	"$SPFCTL" info --json "$@" "$img" > "$T/info.json" 2>/dev/null
	json_get "$T/info.json" "$key" 2>/dev/null || echo "?"
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

# merge_ok NAME ARGS...: spfctl merge ARGS must succeed silently.
merge_ok() {
	local name=$1; shift
	expect_ok "$name" "$SPFCTL" merge "$@"
}

# counts_are NAME IMAGE ENTRIES ZERO [ARGS...]
counts_are() {
	local name=$1 img=$2 e z; shift 2
	local we=$1 wz=$2; shift 2
	e=$(info_of "$img" entries "$@") z=$(info_of "$img" zero_chunks "$@")
	if [ "$e" = "$we" ] && [ "$z" = "$wz" ]; then
		pass "$name"
	else
		fail "$name" "entries/zero chunks $e/$z, expected $we/$wz"
	fi
}

# is_value NAME GOT WANT
is_value() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', expected '$3'"; fi
}

# --- help -------------------------------------------------------------------------------------
out=$("$SPFCTL" merge --help 2>"$T/err") && rc=0 || rc=$?
missing=""
for o in IMAGE_FROM IMAGE_TO OUTPUT --compress --level --key-file --chain --threads --force; do
	printf '%s\n' "$out" | grep -qF -- "$o" || missing="$missing $o"
done
if [ "$rc" = 0 ] && [ -z "$missing" ] && [ ! -s "$T/err" ]; then
	pass "merge --help"
else
	fail "merge --help" "exit $rc, missing:$missing $(head -n 1 "$T/err")"
fi
"$SPFCTL" --help 2>/dev/null | grep -q '^ *merge ' && pass "spfctl --help lists merge" ||
	fail "spfctl --help lists merge" "$("$SPFCTL" --help 2>&1 | head -n 12 | tr '\n' ' ')"
expect_error "usage: unknown option" 2 "spfctl: unrecognized option '--bogus'" \
	"$SPFCTL" merge --bogus a b c

# --- the sources: 5 levels, 64K chunks ---------------------------------------------------
# l1 zeroes chunks 3-4 (data in l0) and changes chunk 10; l2 grows the disk
# by 1 MiB + 1 KiB and zeroes chunk 7; l3 restores chunk 10 to l0's
# content and changes 2 more; l4 changes 3 chunks.
CS=65536
mksources() {	# mksources DIR PREFIX
	local d=$1 p=$2
	mkdisk_mixed "$d/l0.raw" 4096 "$p"
	cp "$d/l0.raw" "$d/l1.raw"
	dd if=/dev/zero of="$d/l1.raw" bs=$CS seek=3 count=2 conv=notrunc status=none
	rand_bytes "$p.c10" $CS | dd of="$d/l1.raw" bs=$CS seek=10 conv=notrunc status=none
	modify_chunks "$d/l1.raw" $CS "$p.1" 4 >/dev/null
	{ cat "$d/l1.raw"; rand_bytes "$p.grow" $((CS * 16 + 1024)); } > "$d/l2.raw"
	dd if=/dev/zero of="$d/l2.raw" bs=$CS seek=7 count=1 conv=notrunc status=none
	cp "$d/l2.raw" "$d/l3.raw"
	dd if="$d/l0.raw" of="$d/l3.raw" bs=$CS skip=10 seek=10 count=1 conv=notrunc status=none
	modify_chunks "$d/l3.raw" $CS "$p.3" 2 >/dev/null
	cp "$d/l3.raw" "$d/l4.raw"
	modify_chunks "$d/l4.raw" $CS "$p.4" 3 >/dev/null
}

# --- plain chain: every codec ------------------------------------------------------------
P=$T/p
mkdir "$P" "$T/o"
mksources "$P" plain
{
	"$SPFCTL" create --compress zstd --chunk-size 64K "$P/l0.raw" "$P/full.spf" &&
	"$SPFCTL" create --compress lz4 --parent "$P/full.spf" "$P/l1.raw" "$P/i1.spi" &&
	"$SPFCTL" create --compress deflate --parent "$P/i1.spi" "$P/l2.raw" "$P/i2.spi" &&
	"$SPFCTL" create --compress none --parent "$P/i2.spi" "$P/l3.raw" "$P/i3.spi" &&
	"$SPFCTL" create --compress zstd --parent "$P/i3.spi" "$P/l4.raw" "$P/i4.spi"
} 2>"$T/err" || { fail "plain chain" "$(head -n 2 "$T/err")"; finish; }
(cd "$P" && sha256sum full.spf i1.spi i2.spi i3.spi i4.spi) > "$T/p.sha"

# mkdir_chain DIR IMAGE...: a folder holding copies of the images.
mkdir_chain() {
	local d=$1; shift
	rm -rf "$d"; mkdir -p "$d"
	cp "$@" "$d/"
}

# 1. A middle run of incrementals: i1 .. i3 -> one incremental.
merge_ok "merge i1..i3 (lz4, deflate, none)" "$P/i1.spi" "$P/i3.spi" "$T/o/m13.spi"
export_is "merged i1..i3 exports level 3" "$T/o/m13.spi" "$P/l3.raw" --chain "$P/full.spf"
read -r n z < <(diffchunks "$P/l0.raw" "$P/l3.raw" $CS)
counts_are "merged i1..i3 holds exactly the $n chunks that differ from level 0 ($z zero)" \
	"$T/o/m13.spi" "$n" "$z"
is_value "merged i1..i3 is consolidated" "$(info_of "$T/o/m13.spi" type)" '"consolidated"'
is_value "merged i1..i3 has i3's depth" "$(info_of "$T/o/m13.spi" depth)" 3
is_value "merged i1..i3 takes i3's link identity" "$(info_of "$T/o/m13.spi" link_uuid)" \
	"$(info_of "$P/i3.spi" uuid)"
is_value "merged i1..i3: default codec = most stored bytes (deflate, the grown part)" \
	"$(info_of "$T/o/m13.spi" codec)" '"deflate"'
mkdir_chain "$T/d13" "$P/full.spf" "$T/o/m13.spi" "$P/i4.spi"
export_is "full + merged i1..i3 + i4 (found in the folder) exports level 4" "$T/d13/i4.spi" "$P/l4.raw"
export_is "full + merged i1..i3 + i4 (--chain) exports level 4" "$P/i4.spi" "$P/l4.raw" \
	--chain "$P/full.spf" "$T/o/m13.spi"
check "verify full + merged i1..i3 + i4" "$SPFCTL" verify "$T/d13/i4.spi"
expect_ok "a new incremental on top of merged i1..i3" \
	"$SPFCTL" create --parent "$T/d13/m13.spi" "$P/l4.raw" "$T/d13/new.spi"
export_is "the new incremental exports level 4" "$T/d13/new.spi" "$P/l4.raw"
counts_are "the new incremental holds only the 3 chunks changed since level 3" "$T/d13/new.spi" 3 0

# 2. From the full image: full .. i3 -> a consolidated full image.
merge_ok "merge full..i3" "$P/full.spf" "$P/i3.spi" "$T/o/f3.spf"
export_is "merged full..i3 exports level 3" "$T/o/f3.spf" "$P/l3.raw"
counts_are "merged full..i3 holds every non-zero chunk, no ZERO entry" "$T/o/f3.spf" \
	"$(nonzero "$P/l3.raw" $CS)" 0
is_value "merged full..i3 has depth 0" "$(info_of "$T/o/f3.spf" depth)" 0
is_value "merged full..i3 keeps the chain uuid" "$(info_of "$T/o/f3.spf" chain_uuid)" \
	"$(info_of "$P/full.spf" uuid)"
mkdir_chain "$T/df3" "$T/o/f3.spf" "$P/i4.spi"
export_is "merged full..i3 + i4 exports level 4" "$T/df3/i4.spi" "$P/l4.raw"
check "verify merged full..i3 + i4" "$SPFCTL" verify "$T/df3/i4.spi"
expect_ok "a new incremental on top of merged full..i3" \
	"$SPFCTL" create --parent "$T/df3/f3.spf" "$P/l4.raw" "$T/df3/new.spi"
export_is "the new incremental on the merged full exports level 4" "$T/df3/new.spi" "$P/l4.raw"

# 3. Everything, a single incremental, the full image alone.
merge_ok "merge full..i4" "$P/full.spf" "$P/i4.spi" "$T/o/f4.spf"
export_is "merged full..i4 exports level 4" "$T/o/f4.spf" "$P/l4.raw"
check "verify merged full..i4" "$SPFCTL" verify "$T/o/f4.spf"
merge_ok "merge i2 alone" "$P/i2.spi" "$P/i2.spi" "$T/o/m2.spi"
export_is "merged i2 exports level 2" "$T/o/m2.spi" "$P/l2.raw" --chain "$P/full.spf" "$P/i1.spi"
export_is "full, i1, merged i2, i3, i4 exports level 4" "$P/i4.spi" "$P/l4.raw" \
	--chain "$P/full.spf" "$P/i1.spi" "$T/o/m2.spi" "$P/i3.spi"
read -r n z < <(diffchunks "$P/l1.raw" "$P/l2.raw" $CS)
counts_are "merged i2 has i2's entries" "$T/o/m2.spi" "$(info_of "$P/i2.spi" entries)" \
	"$(info_of "$P/i2.spi" zero_chunks)"
merge_ok "merge the full image alone" "$P/full.spf" "$P/full.spf" "$T/o/f0.spf"
export_is "merged full exports level 0" "$T/o/f0.spf" "$P/l0.raw"
export_is "merged full + i1..i4 exports level 4" "$P/i4.spi" "$P/l4.raw" \
	--chain "$T/o/f0.spf" "$P/i1.spi" "$P/i2.spi" "$P/i3.spi"

# 4. Merging consolidated images again: (i1..i3) + i4, and full + (i1..i3).
merge_ok "merge merged i1..i3 with i4" --chain "$P/full.spf" "$T/o/m13.spi" "$P/i4.spi" \
	"$T/o/m14.spi"
export_is "merged (i1..i3)..i4 exports level 4" "$T/o/m14.spi" "$P/l4.raw" --chain "$P/full.spf"
merge_ok "merge full with merged i1..i3" "$T/d13/full.spf" "$T/d13/m13.spi" "$T/o/fm.spf"
export_is "merged full..(i1..i3) exports level 3" "$T/o/fm.spf" "$P/l3.raw"

# 5. --compress: recode everything into one codec.
for codec in lz4 none zstd; do
	merge_ok "merge full..i4 --compress $codec" --compress "$codec" --threads 2 \
		"$P/full.spf" "$P/i4.spi" "$T/o/c-$codec.spf"
	export_is "merged --compress $codec exports level 4" "$T/o/c-$codec.spf" "$P/l4.raw"
	is_value "merged --compress $codec uses $codec" "$(info_of "$T/o/c-$codec.spf" codec)" "\"$codec\""
done
check "verify merged --compress lz4" "$SPFCTL" verify "$T/o/c-lz4.spf"
merge_ok "merge i1..i2 --compress deflate --level 9" --compress deflate --level 9 \
	"$P/i1.spi" "$P/i2.spi" "$T/o/c-d9.spi"
is_value "--level 9 recorded" "$(info_of "$T/o/c-d9.spi" codec_level)" 9
export_is "merged --compress deflate --level 9 exports level 2" "$T/o/c-d9.spi" "$P/l2.raw" \
	--chain "$P/full.spf"

# 6. --chain: the run's images in another folder; the parents listed.
mkdir_chain "$T/sep" "$P/i1.spi" "$P/i2.spi"
merge_ok "merge with --chain (parents elsewhere)" --chain "$P/full.spf" "$T/sep/i1.spi" \
	"$T/sep/i2.spi" "$T/o/sep.spi"
export_is "merged with --chain exports level 2" "$T/o/sep.spi" "$P/l2.raw" --chain "$P/full.spf"
# IMAGE_FROM is matched by identity (uuid and seal): a copy will do.
merge_ok "merge with IMAGE_FROM a copy in another folder" "$T/sep/i1.spi" "$P/i2.spi" "$T/o/copy.spi"
export_is "merged from a copy exports level 2" "$T/o/copy.spi" "$P/l2.raw" --chain "$P/full.spf"

# 7. The output goes beside the originals: later reads prefer it.
merge_ok "merge i1..i3 into the chain's own folder" "$P/i1.spi" "$P/i3.spi" "$P/m13.spi"
mkdir_chain "$T/moved" "$P/i1.spi" "$P/i2.spi" "$P/i3.spi"
rm "$P/i1.spi" "$P/i2.spi" "$P/i3.spi"
export_is "replaced images deleted: i4 finds the merged image" "$P/i4.spi" "$P/l4.raw"
check "replaced images deleted: verify passes" "$SPFCTL" verify "$P/i4.spi"
mv "$T/moved/"*.spi "$P/"; rm "$P/m13.spi"

# --- encrypted chain, 4K chunks -----------------------------------------------------------
E=$T/e
mkdir "$E"
CS=4096
mksources "$E" enc
K=(--key-file "$T/key")
{
	"$SPFCTL" create --encrypt "${K[@]}" $KDF_FAST --chunk-size 4K --compress lz4 "$E/l0.raw" "$E/full.spf" &&
	"$SPFCTL" create "${K[@]}" --compress zstd --parent "$E/full.spf" "$E/l1.raw" "$E/i1.spi" &&
	"$SPFCTL" create "${K[@]}" --compress none --parent "$E/i1.spi" "$E/l2.raw" "$E/i2.spi" &&
	"$SPFCTL" create "${K[@]}" --compress deflate --parent "$E/i2.spi" "$E/l3.raw" "$E/i3.spi" &&
	"$SPFCTL" create "${K[@]}" --parent "$E/i3.spi" "$E/l4.raw" "$E/i4.spi"
} 2>"$T/err" || { fail "encrypted chain" "$(head -n 2 "$T/err")"; finish; }
(cd "$E" && sha256sum full.spf i1.spi i2.spi i3.spi i4.spi) > "$T/e.sha"

merge_ok "encrypted: merge i1..i3" "${K[@]}" "$E/i1.spi" "$E/i3.spi" "$T/o/e13.spi"
export_is "encrypted: merged i1..i3 exports level 3" "$T/o/e13.spi" "$E/l3.raw" "${K[@]}" \
	--chain "$E/full.spf"
read -r n z < <(diffchunks "$E/l0.raw" "$E/l3.raw" $CS)
counts_are "encrypted: merged i1..i3 holds exactly the $n changed chunks ($z zero)" \
	"$T/o/e13.spi" "$n" "$z"
is_value "encrypted: merged i1..i3 is encrypted" "$(info_of "$T/o/e13.spi" encrypted)" true
mkdir_chain "$T/de13" "$E/full.spf" "$T/o/e13.spi" "$E/i4.spi"
export_is "encrypted: full + merged i1..i3 + i4 exports level 4" "$T/de13/i4.spi" "$E/l4.raw" "${K[@]}"
check "encrypted: verify full + merged i1..i3 + i4" "$SPFCTL" verify "${K[@]}" "$T/de13/i4.spi"
check "encrypted: merged image unlocks with the chain's passphrase" \
	"$SPFCTL" info "${K[@]}" "$T/de13/e13.spi"
expect_ok "encrypted: a new incremental on top of merged i1..i3" \
	"$SPFCTL" create "${K[@]}" --parent "$T/de13/e13.spi" "$E/l4.raw" "$T/de13/new.spi"
export_is "encrypted: the new incremental exports level 4" "$T/de13/new.spi" "$E/l4.raw" "${K[@]}"
merge_ok "encrypted: merge full..i4" "${K[@]}" "$E/full.spf" "$E/i4.spi" "$T/o/ef4.spf"
export_is "encrypted: merged full..i4 exports level 4" "$T/o/ef4.spf" "$E/l4.raw" "${K[@]}"
check "encrypted: verify merged full..i4" "$SPFCTL" verify "${K[@]}" "$T/o/ef4.spf"
merge_ok "encrypted: merge full..i2 --compress zstd" "${K[@]}" --compress zstd \
	"$E/full.spf" "$E/i2.spi" "$T/o/ef2.spf"
mkdir_chain "$T/def2" "$T/o/ef2.spf" "$E/i3.spi" "$E/i4.spi"
export_is "encrypted: merged full..i2 + i3 + i4 exports level 4" "$T/def2/i4.spi" "$E/l4.raw" "${K[@]}"
check "encrypted: verify merged full..i2 + i3 + i4" "$SPFCTL" verify "${K[@]}" "$T/def2/i4.spi"
# The stored chunks were sealed again: no stored chunk of the output
# equals (ciphertext) a chunk of the originals.
python3 - "$T/o/e13.spi" "$E/i1.spi" "$E/i2.spi" "$E/i3.spi" > "$T/reseal" <<'PY' 2>&1
import sys
out = open(sys.argv[1], "rb").read()
orig = b"".join(open(p, "rb").read() for p in sys.argv[2:])
blocks = [out[o:o + 64] for o in range(4096, 4096 + 64 * 20, 64)]
print(sum(1 for b in blocks if b in orig))
PY
is_value "encrypted: merged chunks are re-sealed (no ciphertext copied)" "$(cat "$T/reseal")" 0

# --- the originals ------------------------------------------------------------------------
(cd "$P" && sha256sum -c --quiet "$T/p.sha") >"$T/err" 2>&1 &&
	pass "plain originals unchanged (sha256)" || fail "plain originals unchanged" "$(head -n 2 "$T/err")"
(cd "$E" && sha256sum -c --quiet "$T/e.sha") >"$T/err" 2>&1 &&
	pass "encrypted originals unchanged (sha256)" || fail "encrypted originals unchanged" "$(head -n 2 "$T/err")"

# --- bad input ------------------------------------------------------------------------------
mkdir "$T/other"
"$SPFCTL" create --chunk-size 64K "$P/l0.raw" "$T/other/full.spf" 2>/dev/null
expect_error "FROM from another chain" 1 \
	"spfctl: $T/other/full.spf: is not $P/i2.spi or one of its ancestors" \
	"$SPFCTL" merge "$T/other/full.spf" "$P/i2.spi" "$T/o/bad.spi"
expect_error "FROM after TO (swapped)" 1 \
	"spfctl: $P/i3.spi: comes after $P/i1.spi in the chain (IMAGE_FROM must be the older image)" \
	"$SPFCTL" merge "$P/i3.spi" "$P/i1.spi" "$T/o/bad.spi"
expect_error "FROM is the child of TO" 1 \
	"spfctl: $P/i2.spi: comes after $P/i1.spi in the chain" \
	"$SPFCTL" merge "$P/i2.spi" "$P/i1.spi" "$T/o/bad.spi"
expect_error "FROM missing" 1 "spfctl: $T/nope.spi: cannot open: No such file or directory" \
	"$SPFCTL" merge "$T/nope.spi" "$P/i1.spi" "$T/o/bad.spi"
expect_error "wrong passphrase" 1 "spfctl: $E/i2.spi: cannot unlock: wrong passphrase" \
	"$SPFCTL" merge --key-file "$T/wrong" "$E/i1.spi" "$E/i2.spi" "$T/o/bad.spi"
expect_error "encrypted chain without a key" 1 \
	"spfctl: $E/i2.spi: no passphrase: the image is encrypted; use --key-file FILE (stdin is not a terminal)" \
	"$SPFCTL" merge "$E/i1.spi" "$E/i2.spi" "$T/o/bad.spi"
expect_error "OUTPUT exists" 1 "spfctl: $T/o/m2.spi: already exists (use --force to overwrite)" \
	"$SPFCTL" merge "$P/i2.spi" "$P/i2.spi" "$T/o/m2.spi"
expect_ok "OUTPUT exists, --force" "$SPFCTL" merge --force "$P/i1.spi" "$P/i2.spi" "$T/o/m2.spi"
export_is "the replaced OUTPUT exports level 2" "$T/o/m2.spi" "$P/l2.raw" --chain "$P/full.spf"
expect_error "OUTPUT is an input" 1 "spfctl: $P/i2.spi: is an image of the chain" \
	"$SPFCTL" merge --force "$P/i1.spi" "$P/i2.spi" "$P/i2.spi"
expect_error "OUTPUT is the parent of the run" 1 "spfctl: $P/full.spf: is an image of the chain" \
	"$SPFCTL" merge --force "$P/i1.spi" "$P/i2.spi" "$P/full.spf"
ln "$P/i1.spi" "$T/o/hardlink.spi"
expect_error "OUTPUT is a hard link to an input" 1 "spfctl: $T/o/hardlink.spi: is an image of the chain" \
	"$SPFCTL" merge --force "$P/i1.spi" "$P/i2.spi" "$T/o/hardlink.spi"
mkdir_chain "$T/nofull" "$P/i1.spi" "$P/i2.spi"
expect_error_re "missing parent" 1 \
	"^spfctl: $T/nofull/i1.spi: missing parent: no image with uuid [0-9a-f-]{36} \\(hint \"full.spf\"\\) in $T/nofull\$" \
	"$SPFCTL" merge "$T/nofull/i1.spi" "$T/nofull/i2.spi" "$T/o/bad.spi"
head -c 100000 "$P/i2.spi" > "$T/nofull/cut.spi"
expect_error "unfinished TO" 1 "spfctl: $T/nofull/cut.spi: not finalised (interrupted backup?)" \
	"$SPFCTL" merge "$P/i1.spi" "$T/nofull/cut.spi" "$T/o/bad.spi"
expect_error "usage: missing arguments" 2 "spfctl: missing argument" \
	"$SPFCTL" merge "$P/i1.spi" "$P/i2.spi"
expect_error "usage: OUTPUT -" 2 "spfctl: OUTPUT must be a file" \
	"$SPFCTL" merge "$P/i1.spi" "$P/i2.spi" -
expect_error "usage: --level without --compress" 2 "spfctl: --level needs --compress" \
	"$SPFCTL" merge --level 3 "$P/i1.spi" "$P/i2.spi" "$T/o/bad.spi"
expect_error "usage: bad codec" 2 "spfctl: invalid codec 'xz' (none, deflate, zstd or lz4)" \
	"$SPFCTL" merge --compress xz "$P/i1.spi" "$P/i2.spi" "$T/o/bad.spi"
expect_error "usage: bad level" 2 "spfctl: invalid level 30 for zstd (1 to 22)" \
	"$SPFCTL" merge --compress zstd --level 30 "$P/i1.spi" "$P/i2.spi" "$T/o/bad.spi"
# A damaged chunk in the run: refused, nothing left behind.
mkdir_chain "$T/dmg" "$P/full.spf" "$P/i1.spi" "$P/i2.spi"
chunk=10	# stored by i1 (random data), not changed by i2
off=$(spfpatch "$T/dmg/i1.spi" get "c[$chunk].offset")
poke "$T/dmg/i1.spi" $((off + 10))
expect_error "damaged chunk in the run" 1 \
	"spfctl: $T/dmg/i1.spi: chunk $chunk: checksum mismatch (corrupt data)" \
	"$SPFCTL" merge "$T/dmg/full.spf" "$T/dmg/i2.spi" "$T/dmg/out.spf"
left=$(ls "$T/dmg" | grep -c out || true)
is_value "damaged chunk: no OUTPUT or temporary file left" "$left" 0
[ -e "$T/o/bad.spi" ] && fail "no OUTPUT after the errors" "$T/o/bad.spi exists" ||
	pass "no OUTPUT after the errors"

# --- interrupted merges --------------------------------------------------------------------
# A 16 MiB chain recompressed at zstd level 19 on one thread, interrupted
# as soon as its temporary file exists (its output is buffered, so waiting
# for data could let it finish).  The disk is lines of numbers: lz4
# stores every chunk compressed and level 19 takes about 1.5 s to
# recompress them.  (A disk of zeros, random bytes and one repeated line
# merged in 0.1 s, often before the signal could be sent: random chunks
# are copied as stored.)  interrupt() still retries a signal that came
# too late.
B=$T/big
mkdir "$B"
seq 1 100000000 | head -c $((16 << 20)) > "$B/l0.raw"
cp "$B/l0.raw" "$B/l1.raw"; modify_chunks "$B/l1.raw" 65536 big1 20 >/dev/null
"$SPFCTL" create --compress lz4 "$B/l0.raw" "$B/full.spf" 2>/dev/null
"$SPFCTL" create --parent "$B/full.spf" "$B/l1.raw" "$B/i1.spi" 2>/dev/null
sha_before=$(cat "$B/full.spf" "$B/i1.spi" | sha256sum)

# interrupt SIGNAL: start a merge into $B/out, send SIGNAL once its
# temporary file exists; prints the merge's exit status.  A merge that
# finished before the signal could be sent, or that had written its whole
# temporary file (trailer included) and was only missing the rename (a
# scheduling accident: it tests nothing; the merge takes about 0.1 s), is
# tried again, up to 5 times.
interrupt() {
	local pid i tmp rc try
	for try in 1 2 3 4 5; do
		rm -f "$B"/out*
		"$SPFCTL" merge --compress zstd --level 19 --threads 1 "$B/full.spf" "$B/i1.spi" \
			"$B/out.spf" 2>"$T/int.err" &
		pid=$!
		for i in $(seq 1 600); do
			tmp=$(ls "$B"/out.spf.tmp.* 2>/dev/null | head -n 1)
			[ -n "$tmp" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "-$1" "$pid" 2>/dev/null
		wait "$pid" && rc=0 || rc=$?
		tmp=$(ls "$B"/out.spf.tmp.* 2>/dev/null | head -n 1)
		if [ "$rc" = 0 ] && [ -e "$B/out.spf" ]; then
			echo "# merge finished before SIG$1 (try $try); again" >&2
		elif [ -n "$tmp" ] && "$SPFCTL" info "$tmp" >/dev/null 2>&1; then
			echo "# merge had written all of $tmp before SIG$1 (try $try); again" >&2
		else
			break
		fi
	done
	echo "$rc"
}
rc=$(interrupt KILL)
tmp=$(ls "$B"/out.spf.tmp.* 2>/dev/null | head -n 1)
if [ "$rc" = 137 ] && [ ! -e "$B/out.spf" ] && [ -n "$tmp" ]; then
	pass "SIGKILL mid-merge: no OUTPUT, a temporary file (exit $rc)"
	# Empty, or a header and some data but no trailer.
	re="^spfctl: $tmp: (not finalised \\(interrupted backup\\?\\)|not an SPF image \\(bad magic\\)).*\$"
	expect_error_re "SIGKILL mid-merge: the temporary file is refused" 1 \
		"$re" "$SPFCTL" info "$tmp"
	expect_error_re "SIGKILL mid-merge: export refuses the temporary file" 1 \
		"$re" "$SPFCTL" export "$tmp" "$T/o/int.raw"
	export_is "SIGKILL mid-merge: the chain still exports (the leftover is ignored)" \
		"$B/i1.spi" "$B/l1.raw"
else
	fail "SIGKILL mid-merge" "exit $rc, files: $(ls "$B" | tr '\n' ' ')"
fi
rc=$(interrupt INT)
if [ "$rc" != 0 ] && [ -z "$(ls "$B" | grep out)" ]; then
	pass "SIGINT mid-merge: no OUTPUT and no temporary file (exit $rc)"
else
	fail "SIGINT mid-merge" "exit $rc, files: $(ls "$B" | tr '\n' ' ')"
fi
is_value "interrupted merges left the originals unchanged" "$(cat "$B/full.spf" "$B/i1.spi" | sha256sum)" \
	"$sha_before"

# ENOSPC on a 2 MiB tmpfs (root only).
mkdir "$T/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m spftest "$T/small" 2>/dev/null; then
	cleanup_add "umount '$T/small'"
	expect_error "ENOSPC: merge fails" 1 "spfctl: $T/small/out.spf: write failed: No space left on device" \
		"$SPFCTL" merge "$B/full.spf" "$B/i1.spi" "$T/small/out.spf"
	is_value "ENOSPC: no OUTPUT and no temporary file" "$(ls -A "$T/small" | wc -l)" 0
	umount "$T/small"
else
	skip "ENOSPC" "cannot mount a tmpfs (not root)"
fi
finish
