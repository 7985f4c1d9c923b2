#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# spfctl info: every field a user cares about, in the human output and in
# --json (valid, typed, equal to what the image's header and trailer say).
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
mkdisk_mixed "$T/src.raw" 2048 info
"$SPFCTL" create --compress deflate --chunk-size 4K --label "nightly ünïcode" \
	"$T/src.raw" "$T/full.spf" 2>/dev/null || { fail "setup" "create failed"; finish; }
cp "$T/src.raw" "$T/l1.raw"; modify_chunks "$T/l1.raw" 4096 info1 4 >/dev/null
"$SPFCTL" create --parent "$T/full.spf" "$T/l1.raw" "$T/incr.spi" 2>/dev/null
"$SPFCTL" create --encrypt --key-file "$T/key" $KDF_FAST --compress lz4 \
	"$T/src.raw" "$T/enc.spf" 2>/dev/null

# Human output: the fields are there.
out=$("$SPFCTL" info "$T/full.spf" 2>"$T/err") && rc=0 || rc=$?
[ "$rc" = 0 ] && [ ! -s "$T/err" ] && pass "info exits 0, nothing on stderr" ||
	fail "info exits 0, nothing on stderr" "exit $rc: $(head -n 1 "$T/err")"
for f in "disk size" "chunk size" codec "stored bytes" "compression ratio" encrypted \
	uuid parent depth sealed label created; do
	printf '%s\n' "$out" | grep -qi "^ *$f" && pass "info shows '$f'" ||
		fail "info shows '$f'" "no line for it in: $(printf '%s' "$out" | head -n 30 | tr '\n' '|')"
done
printf '%s\n' "$out" | grep -qF "nightly ünïcode" && pass "info shows the label" ||
	fail "info shows the label" "label missing"
printf '%s\n' "$out" | grep -qw deflate && pass "info shows the codec name" ||
	fail "info shows the codec name" "no 'deflate'"
printf '%s\n' "$out" | grep -q 2097152 && pass "info shows the disk size in bytes" ||
	fail "info shows the disk size in bytes" "no 2097152"
printf '%s\n' "$out" | grep -qE "$(spfpatch "$T/full.spf" get h.uuid | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12})$/\1-\2-\3-\4-\5/')" &&
	pass "info shows the uuid" || fail "info shows the uuid" "uuid missing"

# JSON: valid, typed, and equal to the header/trailer fields.
for img in full.spf incr.spi enc.spf; do
	if "$SPFCTL" info --json "$T/$img" > "$T/$img.json" 2>"$T/err" &&
	   python3 -m json.tool "$T/$img.json" >/dev/null 2>"$T/jerr"; then
		pass "info --json $img is valid JSON"
	else
		fail "info --json $img is valid JSON" "$(head -n 2 "$T/err" "$T/jerr" | tr '\n' ' ')"
	fi
done

python3 - "$T" "$ROOT/tests/tools/spfpatch.py" <<'PY'
import calendar, json, re, subprocess, sys, time
T, patch = sys.argv[1], sys.argv[2]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

def show(img):
    return json.loads(subprocess.run(["python3", patch, img, "show"],
                                     capture_output=True, check=True).stdout)

def fmt(u):
    return "%s-%s-%s-%s-%s" % (u[:8], u[8:12], u[12:16], u[16:20], u[20:])

def res(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))

def typed(name, j, key, t, want=None):
    if key not in j:
        res(name + ": " + key, False, "missing from %s" % sorted(j))
        return
    v = j[key]
    if not isinstance(v, t) or (t is not bool and isinstance(v, bool)):
        res(name + ": " + key, False, "%r is %s" % (v, type(v).__name__))
    elif want is not None and v != want:
        res(name + ": " + key, False, "%r, expected %r" % (v, want))
    else:
        res(name + ": " + key, True)

for img in ("full.spf", "incr.spi", "enc.spf"):
    try:
        j = json.load(open("%s/%s.json" % (T, img)))
    except Exception as e:
        res("json " + img, False, str(e))
        continue
    d = show("%s/%s" % (T, img))
    h, t = d["header"], d["trailer"]
    n = "json " + img
    typed(n, j, "disk_size", int, h["disk_size"])
    typed(n, j, "chunk_size", int, 1 << h["chunk_shift"])
    typed(n, j, "codec", str, ["none", "deflate", "zstd", "lz4"][h["codec"]])
    typed(n, j, "stored_bytes", int, t["stored_bytes"])
    typed(n, j, "encrypted", bool, bool(h["incompat"] & 1))
    typed(n, j, "uuid", str, fmt(h["uuid"]))
    typed(n, j, "depth", int, h["depth"])
    typed(n, j, "sealed", bool, True)
    typed(n, j, "file_size", int, d["file_size"])
    typed(n, j, "chunks", int, (h["disk_size"] + (1 << h["chunk_shift"]) - 1) >> h["chunk_shift"])
    typed(n, j, "stored_chunks", int, t["nr_stored"])
    typed(n, j, "entries", int, t["nr_entries"])
    res(n + ": uuid is a v4 uuid", bool(UUID.match(j.get("uuid", ""))), j.get("uuid"))
    if t["stored_bytes"]:
        r = t["nr_stored"] * (1 << h["chunk_shift"]) / t["stored_bytes"]
        cr = j.get("compression_ratio")
        res(n + ": compression_ratio", isinstance(cr, (int, float)) and
            not isinstance(cr, bool) and abs(cr - r) < 0.01 * r,
            "%r, expected %.3f" % (cr, r))
    for k in ("created", "sealed_at"):
        v = j.get(k)
        ok = isinstance(v, str)
        if ok:
            try:
                ts = calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ"))
                ok = abs(ts - time.time()) < 3600
            except ValueError:
                ok = False
        res(n + ": " + k + " is a recent UTC time", ok, repr(v))
    if h["depth"] == 0:
        res(n + ": parent_uuid null", j.get("parent_uuid", 0) is None, repr(j.get("parent_uuid")))
    else:
        p = show(T + "/full.spf")["header"]
        typed(n, j, "parent_uuid", str, fmt(p["uuid"]))
        typed(n, j, "parent_name", str, "full.spf")
        typed(n, j, "chain_uuid", str, fmt(p["uuid"]))
    if img == "full.spf":
        typed(n, j, "label", str, "nightly ünïcode")
    else:
        res(n + ": label null", j.get("label", 0) is None, repr(j.get("label")))
    if img == "enc.spf":
        kdf = j.get("kdf")
        res(n + ": kdf parameters", isinstance(kdf, dict) and
            kdf.get("memory_kib") == h["kdf_m_cost"] and
            kdf.get("time_cost") == h["kdf_t_cost"], repr(kdf))
PY

# The incremental's stored counts are small; the JSON says so.
[ "$(json_get "$T/incr.spi.json" stored_chunks 2>/dev/null)" = 4 ] &&
	pass "incremental: 4 stored chunks" ||
	fail "incremental: 4 stored chunks" "$(json_get "$T/incr.spi.json" stored_chunks 2>&1)"

# An unfinalised image: exit 1, "not finalised" on stderr, the header still
# shown, sealed false.
head -c 20000 "$T/full.spf" > "$T/trunc.spf"
"$SPFCTL" info --json "$T/trunc.spf" > "$T/trunc.json" 2>"$T/err" && rc=0 || rc=$?
if [ "$rc" = 1 ] && grep -qF "spfctl: $T/trunc.spf: not finalised (interrupted backup?)" "$T/err" &&
   [ "$(json_get "$T/trunc.json" sealed 2>/dev/null)" = false ] &&
   [ "$(json_get "$T/trunc.json" disk_size 2>/dev/null)" = 2097152 ]; then
	pass "info on an unfinalised image: exit 1, header shown, sealed false"
else
	fail "info on an unfinalised image: exit 1, header shown, sealed false" "exit $rc: $(head -n 1 "$T/err"); json: $(head -c 300 "$T/trunc.json" | tr '\n' ' ')"
fi
out=$("$SPFCTL" info "$T/trunc.spf" 2>/dev/null)
printf '%s\n' "$out" | grep -Ei '^ *sealed' | grep -qiw no && pass "info human output: sealed no" ||
	fail "info human output: sealed no" "$(printf '%s' "$out" | grep -i sealed)"

# The passphrase check of info --key-file.
mkkey "$T/wrong" wrong
"$SPFCTL" info --json --key-file "$T/key" "$T/enc.spf" > "$T/k.json" 2>/dev/null &&
	[ "$(json_get "$T/k.json" passphrase_ok)" = true ] && pass "info --key-file: right passphrase" ||
	fail "info --key-file: right passphrase" "$(cat "$T/k.json" | head -c 200)"
"$SPFCTL" info --key-file "$T/wrong" "$T/enc.spf" >/dev/null 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] && grep -q "wrong passphrase" "$T/err" && pass "info --key-file: wrong passphrase, exit 1" ||
	fail "info --key-file: wrong passphrase, exit 1" "exit $rc: $(head -n 1 "$T/err")"

# info reads only the image: works without its parent.
mkdir "$T/alone"; cp "$T/incr.spi" "$T/alone/"
check "info on an incremental without its parent" "$SPFCTL" info "$T/alone/incr.spi"

# A long label (127 bytes) is kept whole; 128 is refused.
lab=$(printf 'L%.0s' $(seq 127))
"$SPFCTL" create --label "$lab" "$T/src.raw" "$T/lab.spf" 2>/dev/null
"$SPFCTL" info --json "$T/lab.spf" > "$T/lab.json" 2>/dev/null
[ "$(json_get "$T/lab.json" label 2>/dev/null)" = "\"$lab\"" ] && pass "127-byte label kept" ||
	fail "127-byte label kept" "$(json_get "$T/lab.json" label 2>&1)"
expect_error "128-byte label refused" 2 "label" "$SPFCTL" create --label "${lab}L" "$T/src.raw" "$T/lab2.spf"
# JSON escaping: quotes, backslashes and control characters in the label.
"$SPFCTL" create --label 'a "quoted" \ back	tab' "$T/src.raw" "$T/q.spf" 2>/dev/null
"$SPFCTL" info --json "$T/q.spf" > "$T/q.json" 2>/dev/null
[ "$(json_get "$T/q.json" label 2>/dev/null)" = '"a \"quoted\" \\ back\ttab"' ] &&
	pass "label escaped in JSON" || fail "label escaped in JSON" "$(json_get "$T/q.json" label 2>&1)"

# A crafted label or parent name must not reach the terminal raw (escape
# sequences could rewrite the screen or the window title).
cp "$T/incr.spi" "$T/esc.spi"
spfpatch "$T/esc.spi" set h.label=hex:411b5b33316d42 h.compat=3 h.parent_name=hex:1b5d303b6576696c07
"$SPFCTL" info "$T/esc.spi" > "$T/esc.out" 2>&1
if ! grep -q "$(printf '\033')" "$T/esc.out" && ! grep -q "$(printf '\007')" "$T/esc.out"; then
	pass "info: control characters in label and parent name are escaped"
else
	fail "info: control characters in label and parent name are escaped" "raw ESC/BEL in: $(grep -a -e label -e 'parent name' "$T/esc.out" | od -c | head -n 2 | tr '\n' ' ')"
fi
mkdir "$T/esc"; cp "$T/esc.spi" "$T/esc/"
"$SPFCTL" export "$T/esc/esc.spi" "$T/esc/out" > /dev/null 2> "$T/esc.err"
if ! grep -q "$(printf '\033')" "$T/esc.err" && ! grep -q "$(printf '\007')" "$T/esc.err"; then
	pass "missing parent message: control characters in the hint are escaped"
else
	fail "missing parent message: control characters in the hint are escaped" "raw ESC/BEL in: $(od -c "$T/esc.err" | head -n 3 | tr '\n' ' ')"
fi

finish
