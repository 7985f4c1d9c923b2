#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Write-back overlays (docs/format.md section 11) without the driver:
#  - usage errors of attach --writable/--overlay/--compress, detach and
#    recover (exit 2, exact message);
#  - attach --writable refusing unusable overlays before it needs the driver
#    (a chain file, a sealed image, another chain, the wrong parent, not an
#    SPF file) and removing a new overlay the driver never took;
#  - info describes an overlay; verify, export, merge and create --parent
#    refuse one with the validator's message;
#  - overlays written by tests/tools/mklog (the records the kernel would
#    append) seal with `spfctl recover` into an incremental that verifies
#    and exports byte for byte to the expected disk: latest record per
#    chunk, zero records, unchanged chunks left out, encrypted overlays;
#  - torn tails (cut in a record header, cut in the data, garbage appended,
#    bad data_crc in the last record, a bad record in the middle, a seq gap)
#    are dropped with the exact message and only the good records count;
#  - a record compressed at the driver's write level (zstd 1) is
#    recompressed at the header's level, to what spfctl create stores;
#  - a seal that fails (no or wrong passphrase, undecodable record) leaves
#    the overlay byte-identical and no temporary file; an overlay attached
#    right now (fake sysfs) is refused; list shows writable devices.
. "$(dirname "$0")/../lib.sh"
need_spfctl

# --- the record writer, linked with spfctl's objects ---
PKGS="libzstd liblz4 libcrypto zlib libargon2 smartcols blkid"
OBJS=()
for o in "$ROOT"/tools/spfctl/obj/*.o; do
	case ${o##*/} in spfctl.o | cmd_*) ;; *) OBJS+=("$o") ;; esac
done
MKLOG=$T/mklog
# shellcheck disable=SC2046,SC2086
if ! cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
	-I"$ROOT/tools/spfctl" -I"$ROOT/include/uapi" -I"$ROOT/drivers/block/spfblk" \
	$(pkg-config --cflags $PKGS) "$ROOT/tests/tools/mklog.c" "${OBJS[@]}" \
	-o "$MKLOG" $(pkg-config --libs $PKGS) -pthread 2>"$T/mklog.err"; then
	fail overlay-mklog-build "$(head -n 3 "$T/mklog.err" | tr '\n' ' ')"
	finish
fi

mkkey "$T/key"
mkkey "$T/wrong" "not the passphrase"
S=$SPFCTL

# expect FILE CS OUT OPS...: OUT = FILE with OPS applied, in order:
# "d:CHUNK:SRC:OFF" (chunk = CS bytes of SRC at OFF) or "z:CHUNK".
expect() {
	python3 - "$@" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read()); cs = int(sys.argv[2])
for op in sys.argv[4:]:
    f = op.split(":")
    c = int(f[1])
    if f[0] == "z":
        b = bytes(cs)
    else:
        s = open(f[2], "rb"); s.seek(int(f[3])); b = s.read(cs).ljust(cs, b"\0")
    d[c * cs:(c + 1) * cs] = b
open(sys.argv[3], "wb").write(d)
PY
}

# recrc FILE OFFSET FIELD VALUE: set a field of the record at OFFSET
# (seq, or data:N = flip byte N of its data) and fix its crcs.
recrc() {
	python3 - "$ROOT/tests/tools" "$@" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[1])
from spfpatch import crc32c
path, off, field, val = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
f = open(path, "r+b"); f.seek(off); r = bytearray(f.read(64))
ln = struct.unpack_from("<I", r, 24)[0]
data = bytearray(f.read(ln))
if field == "seq":
    struct.pack_into("<Q", r, 8, int(val))
else:
    data[int(val)] ^= 0xFF
    struct.pack_into("<I", r, 28, crc32c(bytes(data)))
struct.pack_into("<I", r, 60, 0)
struct.pack_into("<I", r, 60, crc32c(bytes(r)))
f.seek(off); f.write(r); f.write(data)
PY
}

# --- usage errors ---
mkdir "$T/u"
rand_bytes base 262144 > "$T/u/d0"
"$S" create --chunk-size 4K "$T/u/d0" "$T/u/a.spf" 2>/dev/null
A=$T/u/a.spf
expect_error overlay-usage-writable-alone 2 "spfctl: --writable needs --overlay FILE" \
	"$S" attach --writable "$A"
expect_error overlay-usage-overlay-alone 2 "spfctl: --overlay needs --writable" \
	"$S" attach --overlay "$T/u/n.spi" "$A"
expect_error overlay-usage-compress-alone 2 "spfctl: --compress needs --writable --overlay" \
	"$S" attach --compress lz4 "$A"
expect_error overlay-usage-log-compress-alone 2 "spfctl: --log-compress needs --writable --overlay" \
	"$S" attach --log-compress "$A"
expect_error overlay-usage-bad-codec 2 "spfctl: invalid codec 'lzma' (none, deflate, zstd or lz4)" \
	"$S" attach -w -o "$T/u/n.spi" --compress lzma "$A"
expect_error overlay-usage-bad-level 2 "spfctl: invalid level '99' for lz4 (1 to 12)" \
	"$S" attach -w -o "$T/u/n.spi" --compress lz4:99 "$A"
expect_error overlay-usage-lazy 2 "spfctl: --lazy cannot be used with --writable (the overlay is sealed by spfctl detach)" \
	"$S" attach -w -o "$T/u/n.spi" --lazy "$A"
expect_error overlay-usage-detach-discard-lazy 2 "spfctl: --discard cannot be used with --lazy" \
	"$S" detach --discard --lazy spf0
expect_error overlay-usage-recover-noarg 2 "spfctl: missing arguments" "$S" recover
expect_error overlay-usage-recover-check-key 2 "spfctl: --check needs no --key-file" \
	"$S" recover --check --key-file "$T/key" "$T/u/n.spi"
expect_error overlay-usage-recover-option 2 "spfctl: unrecognized option '--bogus'" \
	"$S" recover --bogus "$T/u/n.spi"
[ ! -e "$T/u/n.spi" ] && pass overlay-usage-no-file || fail overlay-usage-no-file "a usage error created n.spi"

# --- attach --writable refusals (checked before the driver is needed) ---
"$MKLOG" create "$T/u/m.spi" "$A" || fail overlay-mklog-create
printf 'not an image at all\n' > "$T/u/text"
rand_bytes other 65536 > "$T/u/o0"
"$S" create --chunk-size 4K "$T/u/o0" "$T/u/other.spf" 2>/dev/null
"$S" create --parent "$A" "$T/u/d0" "$T/u/b.spi" 2>/dev/null
expect_error overlay-attach-chain-file 1 "spfctl: $A: cannot use as overlay: is an image of the chain" \
	"$S" attach -w -o "$A" "$A"
expect_error overlay-attach-sealed 1 "spfctl: $T/u/b.spi: cannot use as overlay: is already a sealed image; choose a new overlay name" \
	"$S" attach -w -o "$T/u/b.spi" "$A"
expect_error overlay-attach-other-chain 1 "spfctl: $T/u/m.spi: cannot use as overlay: belongs to another chain" \
	"$S" attach -w -o "$T/u/m.spi" "$T/u/other.spf"
expect_error overlay-attach-wrong-parent 1 "spfctl: $T/u/m.spi: cannot use as overlay: its parent is not $T/u/b.spi: wrong parent" \
	"$S" attach -w -o "$T/u/m.spi" "$T/u/b.spi"
expect_error overlay-attach-not-spf 1 "spfctl: $T/u/text: cannot use as overlay: not an SPF image" \
	"$S" attach -w -o "$T/u/text" "$A"
expect_error overlay-attach-compress-existing 1 "spfctl: $T/u/m.spi: cannot use as overlay: --compress is only for a new overlay" \
	"$S" attach -w -o "$T/u/m.spi" --compress lz4 "$A"
if [ ! -e /dev/spf-control ]; then
	expect_error overlay-attach-no-driver 1 "spfctl: /dev/spf-control: no such device" \
		"$S" attach -w -o "$T/u/new.spi" "$A"
	[ ! -e "$T/u/new.spi" ] && pass overlay-attach-new-removed ||
		fail overlay-attach-new-removed "a new overlay the driver never took is left behind"
else
	skip overlay-attach-no-driver "the driver is loaded"
fi

# --- readers refuse an overlay; info describes it ---
MSG="is an unsealed write-back overlay, not an image: attach it with --writable --overlay, or seal it with \`spfctl recover\`"
M=$T/u/m.spi
expect_error overlay-verify-refuses 1 "spfctl: $M: $MSG" "$S" verify "$M"
expect_error overlay-export-refuses 1 "spfctl: $M: $MSG" "$S" export "$M" "$T/u/x.raw"
expect_error overlay-merge-refuses 1 "spfctl: $M: $MSG" "$S" merge "$A" "$M" "$T/u/x.spi"
expect_error overlay-create-parent-refuses 1 "spfctl: $M: $MSG" \
	"$S" create --parent "$M" "$T/u/d0" "$T/u/x.spi"
expect_error overlay-recover-image 1 "spfctl: $A: cannot recover: is already a sealed image" \
	"$S" recover "$A"
expect_error overlay-recover-text 1 "spfctl: $T/u/text: cannot recover: not an SPF image" \
	"$S" recover "$T/u/text"

# --- plain overlay: seal, verify, export ---
mkdir "$T/p"
P=$T/p
{ rand_bytes p0 $((65536 * 3)); head -c $((65536 * 2)) /dev/zero; rand_bytes p1 $((65536 * 11)); } > "$P/d0"
"$S" create --chunk-size 64K "$P/d0" "$P/a.spf" 2>/dev/null
rand_bytes r1 65536 > "$P/r1"; rand_bytes r2 65536 > "$P/r2"
yes hello | head -c 65536 > "$P/t1"
"$MKLOG" create "$P/n.spi" "$P/a.spf" || fail overlay-mklog-create-plain
"$MKLOG" append "$P/n.spi" <<EOF || fail overlay-mklog-append-plain
data 0 $P/r1 0
data 0 $P/t1 0
zero 2
data 5 $P/r2 0
data 9 $P/d0 $((9 * 65536))
raw 10 $P/r1 0
zero 3
raw 12 $P/t1 0
EOF
expect "$P/d0" 65536 "$P/want" "d:0:$P/t1:0" z:2 "d:5:$P/r2:0" "d:10:$P/r1:0" z:3 "d:12:$P/t1:0"
"$S" info "$P/n.spi" > "$P/info.txt" 2>&1 && rc=0 || rc=$?
if [ "$rc" = 0 ] && grep -qx 'type:               overlay' "$P/info.txt" &&
   grep -qx 'records:            8' "$P/info.txt" &&
   grep -qx 'record chunks:      7' "$P/info.txt" &&
   grep -qx 'parent name:        a.spf' "$P/info.txt" &&
   grep -qx 'torn tail:          0 (0 B)' "$P/info.txt"; then
	pass overlay-info
else
	fail overlay-info "exit $rc: $(head -c 400 "$P/info.txt" | tr '\n' ' ')"
fi
"$S" info --json "$P/n.spi" > "$P/info.json" 2>/dev/null
[ "$(json_get "$P/info.json" type)" = '"overlay"' ] &&
[ "$(json_get "$P/info.json" records)" = 8 ] &&
[ "$(json_get "$P/info.json" superseded)" = 1 ] &&
[ "$(json_get "$P/info.json" sealed)" = false ] && pass overlay-info-json ||
	fail overlay-info-json "$(head -c 300 "$P/info.json" | tr '\n' ' ')"
sha256sum "$P/n.spi" > "$P/n.sha"
out=$("$S" recover --check "$P/n.spi" 2>&1) && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$out" = "$P/n.spi: write-back overlay on a.spf: 8 records of 7 chunks, 320.0 KiB of data" ] &&
	pass overlay-recover-check || fail overlay-recover-check "exit $rc: $out"
sha256sum -c --quiet "$P/n.sha" && pass overlay-recover-check-changes-nothing ||
	fail overlay-recover-check-changes-nothing
out=$("$S" recover "$P/n.spi" 2>"$P/err") && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$out" = "spfctl: sealed $P/n.spi: 5 chunks (8 records, 1 superseded dropped, 2 unchanged left out, 1 raw compressed), parent a.spf" ] &&
	[ ! -s "$P/err" ] && pass overlay-recover-seal ||
	fail overlay-recover-seal "exit $rc: $out $(head -c 300 "$P/err")"
expect_ok overlay-sealed-verifies "$S" verify "$P/n.spi"
"$S" export "$P/n.spi" "$P/out" 2>/dev/null
same_bytes overlay-sealed-export "$P/out" "$P/want"
"$S" info --json "$P/n.spi" > "$P/sealed.json" 2>/dev/null
[ "$(json_get "$P/sealed.json" type)" = '"incremental"' ] &&
[ "$(json_get "$P/sealed.json" entries)" = 5 ] &&
[ "$(json_get "$P/sealed.json" zero_chunks)" = 1 ] && pass overlay-sealed-entries ||
	fail overlay-sealed-entries "$(tr '\n' ' ' < "$P/sealed.json" | head -c 300)"
# Chunk 12's text, stored raw in the log, is compressed by the seal: the
# two random chunks are all that stay raw.
sb=$(json_get "$P/sealed.json" stored_bytes)
[ "$sb" -lt $((3 * 65536)) ] && pass overlay-sealed-compresses-raw ||
	fail overlay-sealed-compresses-raw "stored_bytes $sb, expected under $((3 * 65536)) (chunk 12 compressed)"
[ "$(stat -c %a "$P/n.spi")" = 600 ] && pass overlay-sealed-mode ||
	fail overlay-sealed-mode "mode $(stat -c %a "$P/n.spi"), expected the overlay's 600"
rand_bytes p2 65536 > "$P/r3"
expect "$P/want" 65536 "$P/want2" "d:7:$P/r3:0"
"$S" create --parent "$P/n.spi" "$P/want2" "$P/c.spi" 2>/dev/null &&
	"$S" export "$P/c.spi" "$P/out2" 2>/dev/null
same_bytes overlay-sealed-continues-chain "$P/out2" "$P/want2"
if compgen -G "$P/*.tmp.*" >/dev/null; then fail overlay-no-temp-left "$(ls "$P")"; else pass overlay-no-temp-left; fi

# --- records compressed at the driver's write level are recompressed ---
# The driver (and mklog) compresses records at zstd level 1; the seal
# gives them the header's level (3, a.spf's): the same bytes as spfctl
# create stores.  Counted text compresses to 27835 bytes at level 1 and
# 22933 at level 3.
R=$T/r
mkdir "$R"
seq 1 100000 | head -c 65536 > "$R/s1"
cp "$P/a.spf" "$R/a.spf"
"$MKLOG" create "$R/n.spi" "$R/a.spf" || fail overlay-mklog-create-recompress
echo "data 4 $R/s1 0" | "$MKLOG" append "$R/n.spi" || fail overlay-mklog-append-recompress
expect "$P/d0" 65536 "$R/want" "d:4:$R/s1:0"
"$S" info --json "$R/n.spi" > "$R/ovl.json" 2>/dev/null
ob=$(json_get "$R/ovl.json" record_bytes)
out=$("$S" recover "$R/n.spi" 2>"$R/err") && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$out" = "spfctl: sealed $R/n.spi: 1 chunks (1 records, 0 superseded dropped, 1 recompressed), parent a.spf" ] &&
	[ ! -s "$R/err" ] && pass overlay-seal-recompresses ||
	fail overlay-seal-recompresses "exit $rc: $out $(head -c 300 "$R/err")"
"$S" export "$R/n.spi" "$R/out" 2>/dev/null
same_bytes overlay-seal-recompressed-export "$R/out" "$R/want"
"$S" create --parent "$R/a.spf" "$R/want" "$R/c.spi" 2>/dev/null
"$S" info --json "$R/n.spi" > "$R/sealed.json" 2>/dev/null
"$S" info --json "$R/c.spi" > "$R/created.json" 2>/dev/null
sb=$(json_get "$R/sealed.json" stored_bytes) cb=$(json_get "$R/created.json" stored_bytes)
[ -n "$sb" ] && [ "$sb" = "$cb" ] && [ "${ob:-0}" -gt "$sb" ] && pass overlay-seal-recompressed-size ||
	fail overlay-seal-recompressed-size "overlay data $ob, sealed stored_bytes $sb, spfctl create $cb"

# An empty overlay seals into an empty incremental.
"$MKLOG" create "$P/e.spi" "$P/a.spf"
out=$("$S" recover "$P/e.spi" 2>&1) && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$out" = "spfctl: sealed $P/e.spi: 0 chunks (0 records, 0 superseded dropped), parent a.spf" ] &&
	pass overlay-empty || fail overlay-empty "exit $rc: $out"
"$S" export "$P/e.spi" "$P/out3" 2>/dev/null
same_bytes overlay-empty-export "$P/out3" "$P/d0"

# Without the parent beside it, every record is kept (zero ones too).
mkdir "$P/alone"
"$MKLOG" create "$P/alone/n.spi" "$P/a.spf" &&
	printf 'zero 3\ndata 9 %s %d\n' "$P/d0" $((9 * 65536)) | "$MKLOG" append "$P/alone/n.spi"
expect_error overlay-no-chain-note 0 "spfctl: $P/alone/n.spi: note: the chain below cannot be opened; every chunk with a record is kept" \
	"$S" recover "$P/alone/n.spi"
cp "$P/a.spf" "$P/alone/"
"$S" export "$P/alone/n.spi" "$P/out4" 2>/dev/null
same_bytes overlay-no-chain-export "$P/out4" "$P/d0"

# --- encrypted overlay ---
mkdir "$T/e"
E=$T/e
"$S" create --encrypt --key-file "$T/key" $KDF_FAST --chunk-size 4K "$P/d0" "$E/a.spf" 2>/dev/null
"$MKLOG" create "$E/n.spi" "$E/a.spf" "$T/key" || fail overlay-mklog-create-enc
"$MKLOG" append "$E/n.spi" "$T/key" <<EOF || fail overlay-mklog-append-enc
data 0 $P/r1 0
data 0 $P/t1 0
zero 2
data 5 $P/r2 0
raw 10 $P/r1 0
data 11 $P/d0 $((11 * 4096))
raw 12 $P/t1 0
EOF
expect "$P/d0" 4096 "$E/want" "d:0:$P/t1:0" z:2 "d:5:$P/r2:0" "d:10:$P/r1:0" "d:12:$P/t1:0"
sha256sum "$E/n.spi" > "$E/sha"
expect_error overlay-enc-no-pass 1 "spfctl: $E/n.spi: no passphrase: the image is encrypted; use --key-file FILE (stdin is not a terminal)" \
	"$S" recover "$E/n.spi"
expect_error overlay-enc-wrong-pass 1 "spfctl: $E/n.spi: cannot unlock: wrong passphrase" \
	"$S" recover --key-file "$T/wrong" "$E/n.spi"
sha256sum -c --quiet "$E/sha" && pass overlay-enc-failed-untouched || fail overlay-enc-failed-untouched
grep -qx 'passphrase ok:      yes' <("$S" info --key-file "$T/key" "$E/n.spi" 2>&1) &&
	pass overlay-enc-info-key || fail overlay-enc-info-key
out=$("$S" recover --key-file "$T/key" "$E/n.spi" 2>&1) && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$out" = "spfctl: sealed $E/n.spi: 5 chunks (7 records, 1 superseded dropped, 1 unchanged left out, 1 raw compressed), parent a.spf" ] &&
	pass overlay-enc-seal || fail overlay-enc-seal "exit $rc: $out"
expect_ok overlay-enc-verifies "$S" verify --key-file "$T/key" "$E/n.spi"
"$S" export --key-file "$T/key" "$E/n.spi" "$E/out" 2>/dev/null
same_bytes overlay-enc-export "$E/out" "$E/want"
grep -qx 'encrypted:          yes' <("$S" info "$E/n.spi" 2>&1) && pass overlay-enc-sealed-encrypted ||
	fail overlay-enc-sealed-encrypted

# --- torn tails ---
mkdir "$T/t"
D=$T/t
cp "$P/d0" "$D/d0"
"$S" create --chunk-size 4K "$D/d0" "$D/a.spf" 2>/dev/null
"$MKLOG" create "$D/base.spi" "$D/a.spf"
rand_bytes torn 16384 > "$D/r"
"$MKLOG" append "$D/base.spi" <<EOF
raw 1 $D/r 0
raw 2 $D/r 4096
raw 3 $D/r 8192
raw 4 $D/r 12288
EOF
REC=4160			# 64-byte record + 4 KiB raw data
off() { echo $((4096 + ($1) * REC)); }
for k in 1 3 4; do
	ops=()
	for i in $(seq 1 "$k"); do ops+=("d:$i:$D/r:$(((i - 1) * 4096))"); done
	expect "$D/d0" 4096 "$D/want$k" "${ops[@]}"
done

# torn NAME GOOD DROPPED REASON: recover $D/NAME.spi, prepared by the caller.
torn() {
	local name=$1 good=$2 dropped=$3 reason=$4 f=$D/$1.spi
	expect_error "overlay-torn-$name" 0 \
		"spfctl: $f: dropped $dropped bytes of torn tail after record $good (offset $(off "$good")): $reason" \
		"$S" recover "$f"
	"$S" export "$f" "$D/$name.out" 2>/dev/null
	same_bytes "overlay-torn-$name-export" "$D/$name.out" "$D/want$good"
}
cp "$D/base.spi" "$D/hdrcut.spi"; truncate -s $(($(off 3) + 30)) "$D/hdrcut.spi"
torn hdrcut 3 30 "file ends inside a record"
cp "$D/base.spi" "$D/datacut.spi"; truncate -s $(($(off 3) + 64 + 100)) "$D/datacut.spi"
torn datacut 3 164 "file ends inside the record's data"
cp "$D/base.spi" "$D/garbage.spi"; rand_bytes junk 100 >> "$D/garbage.spi"
torn garbage 4 100 "no record (bad magic)"
cp "$D/base.spi" "$D/zeros.spi"; head -c 8192 /dev/zero >> "$D/zeros.spi"
torn zeros 4 8192 "no record (bad magic)"
cp "$D/base.spi" "$D/datacrc.spi"; poke "$D/datacrc.spi" $(($(off 3) + 64 + 10))
torn datacrc 3 $REC "record data checksum mismatch"
cp "$D/base.spi" "$D/middle.spi"; poke "$D/middle.spi" $(($(off 1) + 16))
torn middle 1 $((3 * REC)) "record checksum mismatch"
cp "$D/base.spi" "$D/seqgap.spi"; recrc "$D/seqgap.spi" "$(off 3)" seq 9
torn seqgap 3 $REC "record sequence 9, expected 4"
cp "$D/base.spi" "$D/info.spi"; truncate -s $(($(off 3) + 30)) "$D/info.spi"
"$S" info --json "$D/info.spi" > "$D/info.json" 2>/dev/null
[ "$(json_get "$D/info.json" records)" = 3 ] &&
[ "$(json_get "$D/info.json" torn_tail_bytes)" = 30 ] &&
[ "$(json_get "$D/info.json" torn_tail_reason)" = '"file ends inside a record"' ] &&
	pass overlay-torn-info || fail overlay-torn-info "$(tr '\n' ' ' < "$D/info.json" | head -c 300)"

# A seal that fails part way leaves the overlay as it was and no temp file.
cp "$D/base.spi" "$D/bad.spi"
printf 'data 6 %s 0\n' "$P/t1" | "$MKLOG" append "$D/bad.spi"
recrc "$D/bad.spi" "$(off 4)" data 3
sha256sum "$D/bad.spi" > "$D/bad.sha"
expect_error_re overlay-seal-fails 1 "^spfctl: $D/bad.spi: record 5 \\(chunk 6\\): " \
	"$S" recover "$D/bad.spi"
sha256sum -c --quiet "$D/bad.sha" && pass overlay-seal-fails-untouched ||
	fail overlay-seal-fails-untouched
if compgen -G "$D/*.tmp.*" >/dev/null; then fail overlay-seal-fails-no-temp "$(ls "$D")"; else
	pass overlay-seal-fails-no-temp; fi

# --- an attached overlay (fake sysfs) and list ---
mkdir -p "$T/sys/spf3/spf" "$T/sys/spf4/spf"
cp "$D/base.spi" "$D/att.spi"
ln "$D/att.spi" "$D/att-link.spi"
echo "$D/att.spi" > "$T/sys/spf3/spf/overlay"
echo 1 > "$T/sys/spf3/spf/writable"
echo 0 > "$T/sys/spf4/spf/writable"
: > "$T/sys/spf4/spf/overlay"
SPFCTL_SYSFS_BLOCK=$T/sys expect_error overlay-recover-attached 1 \
	"spfctl: $D/att-link.spi: is attached as /dev/spf3: detach it, which seals it" \
	"$S" recover "$D/att-link.spi"
SPFCTL_SYSFS_BLOCK=$T/sys "$S" list --json > "$T/list.json" 2>/dev/null
[ "$(json_get "$T/list.json" spfdevices.0.writable)" = true ] &&
[ "$(json_get "$T/list.json" spfdevices.0.overlay)" = "\"$D/att.spi\"" ] &&
[ "$(json_get "$T/list.json" spfdevices.1.writable)" = false ] &&
[ "$(json_get "$T/list.json" spfdevices.1.overlay)" = null ] && pass overlay-list-json ||
	fail overlay-list-json "$(tr '\n' ' ' < "$T/list.json" | head -c 400)"
SPFCTL_SYSFS_BLOCK=$T/sys "$S" list > "$T/list.txt" 2>/dev/null
head -n 1 "$T/list.txt" | grep -q 'WRITABLE OVERLAY$' &&
	grep -q "^/dev/spf3 .* 1 $D/att.spi\$" "$T/list.txt" && pass overlay-list ||
	fail overlay-list "$(head -c 300 "$T/list.txt" | tr '\n' ' ')"

finish
