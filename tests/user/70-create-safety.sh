#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# create's safety: no overwrite without --force, a temporary name renamed
# on success (nothing left behind on failure, nothing that looks complete
# after a crash), output to a pipe, passphrase handling, silence without a
# TTY and a progress bar with one.
. "$(dirname "$0")/../lib.sh"
need_spfctl

mkkey "$T/key"
mkdisk_mixed "$T/src.raw" 2048 safety
mkdir "$T/out"

# leftovers DIR: files in DIR other than those named
leftovers() {
	local d=$1; shift
	local f keep out=""
	for f in "$d"/* "$d"/.[!.]*; do
		[ -e "$f" ] || continue
		keep=0
		for k in "$@"; do [ "$(basename "$f")" = "$k" ] && keep=1; done
		[ "$keep" = 0 ] && out="$out $(basename "$f")"
	done
	echo "$out"
}

# --- overwrite ------------------------------------------------------------------
"$SPFCTL" create "$T/src.raw" "$T/out/a.spf" 2>/dev/null
cp "$T/out/a.spf" "$T/a.keep"
expect_error "existing image refused without --force" 1 "spfctl: $T/out/a.spf: " \
	"$SPFCTL" create "$T/src.raw" "$T/out/a.spf"
same_bytes "refused overwrite leaves the image as it was" "$T/a.keep" "$T/out/a.spf"
echo "precious" > "$T/out/notes.txt"
expect_error "existing other file refused without --force" 1 "spfctl: $T/out/notes.txt: " \
	"$SPFCTL" create "$T/src.raw" "$T/out/notes.txt"
[ "$(cat "$T/out/notes.txt")" = precious ] && pass "refused overwrite keeps the file" ||
	fail "refused overwrite keeps the file" "file changed"
check "--force replaces an image" "$SPFCTL" create --force --compress lz4 "$T/src.raw" "$T/out/a.spf"
[ "$(spfpatch "$T/out/a.spf" get h.codec)" = 3 ] && pass "--force wrote the new image" ||
	fail "--force wrote the new image" "codec $(spfpatch "$T/out/a.spf" get h.codec)"
[ -z "$(leftovers "$T/out" a.spf notes.txt)" ] && pass "no temporary files after success" ||
	fail "no temporary files after success" "left:$(leftovers "$T/out" a.spf notes.txt)"
cp "$T/src.raw" "$T/self.raw"
"$SPFCTL" create --force "$T/self.raw" "$T/self.raw" 2>"$T/err" && rc=0 || rc=$?
cmp -s "$T/src.raw" "$T/self.raw" && [ "$rc" -ne 0 ] &&
	pass "image over its own source refused, even with --force (exit $rc)" ||
	fail "image over its own source refused, even with --force" "exit $rc; source intact: $(cmp -s "$T/src.raw" "$T/self.raw" && echo yes || echo no)"
ln -s "$T/self.raw" "$T/self.link"
"$SPFCTL" create --force "$T/self.link" "$T/self.raw" 2>"$T/err" && rc=0 || rc=$?
cmp -s "$T/src.raw" "$T/self.raw" && pass "image over its source via a symlink: source intact (exit $rc)" ||
	fail "image over its source via a symlink: source intact" "source overwritten (exit $rc)"
"$SPFCTL" create --force --parent "$T/out/a.spf" "$T/src.raw" "$T/out/a.spf" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" -ne 0 ] && cmp -s <(spfpatch "$T/out/a.spf" get h.codec) <(echo 3) &&
	pass "incremental over its own parent refused (exit $rc)" ||
	fail "incremental over its own parent refused" "exit $rc"
expect_error "export refuses an existing output without --force" 1 "spfctl: $T/out/notes.txt: " \
	"$SPFCTL" export "$T/out/a.spf" "$T/out/notes.txt"
[ "$(cat "$T/out/notes.txt")" = precious ] && pass "export refusal keeps the file" ||
	fail "export refusal keeps the file" "file changed"

# --- failures leave nothing behind ---------------------------------------------------
mkdir "$T/f"
check_clean() {	# check_clean NAME: $T/f must be empty
	local l; l=$(leftovers "$T/f")
	[ -z "$l" ] && pass "$1: nothing left behind" || fail "$1: nothing left behind" "left:$l"
	rm -rf "$T/f"/* "$T/f"/.[!.]* 2>/dev/null
}
"$SPFCTL" create "$T/nonexistent" "$T/f/x.spf" 2>/dev/null
check_clean "missing source"
"$SPFCTL" create "$T" "$T/f/x.spf" 2>/dev/null && rc=0 || rc=$?
[ "$rc" = 1 ] && pass "directory as source: exit 1" || fail "directory as source: exit 1" "exit $rc"
check_clean "directory as source"
"$SPFCTL" create --parent "$T/nonexistent.spf" "$T/src.raw" "$T/f/x.spi" 2>/dev/null
check_clean "missing parent"
"$SPFCTL" create --encrypt --key-file "$T/f/nokey" "$T/src.raw" "$T/f/x.spf" 2>/dev/null
check_clean "missing key file"
: > "$T/empty.key"
"$SPFCTL" create --encrypt --key-file "$T/empty.key" $KDF_FAST "$T/src.raw" "$T/f/x.spf" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" -ne 0 ] && pass "empty passphrase refused (exit $rc)" || fail "empty passphrase refused" "exit 0"
check_clean "empty passphrase"
# The rename fails at the very end (a non-empty directory in the way).
mkdir -p "$T/f/x.spf/sub"
"$SPFCTL" create --force "$T/src.raw" "$T/f/x.spf" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] && [ -d "$T/f/x.spf/sub" ] && grep -qF "spfctl: $T/f/x.spf: " "$T/err" &&
	pass "rename onto a directory fails cleanly (exit 1)" ||
	fail "rename onto a directory fails cleanly" "exit $rc: $(head -n 1 "$T/err")"
rm -rf "$T/f/x.spf"
check_clean "failed rename"
# The output file system fills up half-way (needs root to mount a tmpfs).
mkdir "$T/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m spftest "$T/small" 2>/dev/null; then
	cleanup_add "umount '$T/small'"
	rand_bytes full $((3 << 20)) > "$T/random.raw"
	"$SPFCTL" create "$T/random.raw" "$T/small/x.spf" 2>"$T/err" && rc=0 || rc=$?
	[ "$rc" = 1 ] && grep -qF "spfctl: $T/small/" "$T/err" && grep -qi "no space" "$T/err" &&
		pass "disk full: exit 1, says so" ||
		fail "disk full: exit 1, says so" "exit $rc: $(head -n 2 "$T/err" | tr '\n' ' ')"
	l=$(leftovers "$T/small")
	[ -z "$l" ] && pass "disk full: temporary file removed" ||
		fail "disk full: temporary file removed" "left:$l"
	rand_bytes full2 $((3 << 20)) > "$T/random2.raw"
	"$SPFCTL" create --compress none "$T/random2.raw" - 2>/dev/null > "$T/small/pipe.spf" && rc=0 || rc=$?
	[ "$rc" = 1 ] && pass "disk full on stdout: exit 1" || fail "disk full on stdout: exit 1" "exit $rc"
	umount "$T/small"
else
	skip "disk full" "cannot mount a tmpfs (needs root)"
fi

# --- a crash never leaves a complete-looking image ---------------------------------------
# SIGKILL half-way through a slow stdin: the image name must not exist, and
# any temporary file left must not read as an image.
mkdir "$T/k"
{ head -c $((1 << 20)) "$T/src.raw"; sleep 2; head -c $((1 << 20)) "$T/src.raw"; } |
	"$SPFCTL" create - "$T/k/x.spf" 2>/dev/null &
pid=$!
sleep 1
p=$(pgrep -f "$SPFCTL create - $T/k/x.spf" | head -n 1)
[ -n "$p" ] && kill -KILL "$p"
wait "$pid" 2>/dev/null
[ ! -e "$T/k/x.spf" ] && pass "killed create: no image under the final name" ||
	fail "killed create: no image under the final name" "$T/k/x.spf exists"
bad=""
for f in "$T"/k/* "$T"/k/.[!.]*; do
	[ -e "$f" ] || continue
	"$SPFCTL" verify "$f" >/dev/null 2>&1 && bad="$bad $(basename "$f")"
done
[ -z "$bad" ] && pass "killed create: leftovers do not verify as images" ||
	fail "killed create: leftovers do not verify as images" "$bad verify clean"
# SIGTERM / SIGINT: cleaned up.
for sig in TERM INT; do
	rm -rf "$T/k"; mkdir "$T/k"
	{ head -c $((1 << 20)) "$T/src.raw"; sleep 2; } | "$SPFCTL" create - "$T/k/x.spf" 2>/dev/null &
	sleep 1
	p=$(pgrep -f "$SPFCTL create - $T/k/x.spf" | head -n 1)
	[ -n "$p" ] && kill -$sig "$p"
	wait 2>/dev/null
	l=$(leftovers "$T/k")
	[ -n "$p" ] && [ -z "$l" ] && pass "SIG$sig: temporary file removed" ||
		fail "SIG$sig: temporary file removed" "pid '$p', left:$l"
done

# --- output to a pipe -----------------------------------------------------------------
"$SPFCTL" create --chunk-size 4K --compress zstd "$T/src.raw" - 2>"$T/err" | cat > "$T/pipe.spf"
"$SPFCTL" create --chunk-size 4K --compress zstd "$T/src.raw" "$T/file.spf" 2>/dev/null
check "image written to a pipe verifies" "$SPFCTL" verify "$T/pipe.spf"
"$SPFCTL" export "$T/pipe.spf" "$T/pipe.out" 2>/dev/null
same_bytes "image written to a pipe exports the source" "$T/src.raw" "$T/pipe.out"
# Same bytes as the file output, but for the uuid- and time-dependent
# header and trailer (the data, index and summary do not depend on them).
[ "$(stat -c %s "$T/pipe.spf")" = "$(stat -c %s "$T/file.spf")" ] &&
	cmp -s <(tail -c +4097 "$T/pipe.spf" | head -c -512) <(tail -c +4097 "$T/file.spf" | head -c -512) &&
	pass "pipe output equals file output (data, index, summary)" ||
	fail "pipe output equals file output (data, index, summary)" "sizes $(stat -c %s "$T/pipe.spf" "$T/file.spf" | tr '\n' ' ')"
[ ! -s "$T/err" ] && pass "create to a pipe: nothing on stderr" ||
	fail "create to a pipe: nothing on stderr" "$(head -n 1 "$T/err")"
mkkey "$T/key"
"$SPFCTL" create --encrypt --key-file "$T/key" $KDF_FAST "$T/src.raw" - 2>/dev/null | cat > "$T/epipe.spf"
"$SPFCTL" export --key-file "$T/key" "$T/epipe.spf" "$T/epipe.out" 2>/dev/null
same_bytes "encrypted image written to a pipe" "$T/src.raw" "$T/epipe.out"

# --- passphrase ----------------------------------------------------------------------------
# from stdin with --key-file -, one trailing newline removed
rm -f "$T/k1.spf"
printf 'pass phrase\n' | "$SPFCTL" create --encrypt --key-file - $KDF_FAST "$T/src.raw" "$T/k1.spf" 2>"$T/err"
mkkey "$T/k1.key" "pass phrase"
printf 'pass phrase' | "$SPFCTL" export --key-file - "$T/k1.spf" "$T/k1.out" 2>"$T/err"
same_bytes "--key-file - (stdin); trailing newline dropped" "$T/src.raw" "$T/k1.out"
rm -f "$T/k1.out"
check "same passphrase from a file without the newline" "$SPFCTL" export --key-file "$T/k1.key" "$T/k1.spf" "$T/k1.out"
# no TTY and no key file: refused at once, never hangs
rm -f "$T/nt.spf"
timeout 20 setsid "$SPFCTL" create --encrypt $KDF_FAST "$T/src.raw" "$T/nt.spf" </dev/null >/dev/null 2>"$T/err" && rc=0 || rc=$?
[ "$rc" = 1 ] || [ "$rc" = 2 ] && grep -q '^spfctl: ' "$T/err" && [ ! -e "$T/nt.spf" ] &&
	pass "--encrypt without a TTY or key file: refused (exit $rc)" ||
	fail "--encrypt without a TTY or key file: refused" "exit $rc: $(head -n 1 "$T/err")"
# the passphrase is not kept in the image in any form we can grep
mkkey "$T/k2.key" "Sup3rUniqueMarker"
"$SPFCTL" create --encrypt --key-file "$T/k2.key" $KDF_FAST "$T/src.raw" "$T/k2.spf" 2>/dev/null
! grep -qa "Sup3rUniqueMarker" "$T/k2.spf" && pass "passphrase not in the image" ||
	fail "passphrase not in the image" "found in $T/k2.spf"
# the plaintext is not in an encrypted image
yes "PLAINTEXT-MARKER-LINE" | head -c $((1 << 20)) > "$T/text.raw"
"$SPFCTL" create --encrypt --key-file "$T/key" --compress none $KDF_FAST "$T/text.raw" "$T/k3.spf" 2>/dev/null
! grep -qa "PLAINTEXT-MARKER" "$T/k3.spf" && [ -s "$T/k3.spf" ] && pass "no plaintext in an encrypted image" ||
	fail "no plaintext in an encrypted image" "marker found (or no image)"
"$SPFCTL" create --key-file "$T/key" "$T/src.raw" "$T/k4.spf" 2>"$T/err" && rc=0 || rc=$?
[ "$rc" -ne 0 ] && [ ! -e "$T/k4.spf" ] && pass "--key-file without --encrypt on a full image refused (exit $rc)" ||
	fail "--key-file without --encrypt on a full image refused" "exit $rc"

# --- TTY: silence without one, a progress bar with one -----------------------------------------
rm -f "$T/q.spf"
err=$("$SPFCTL" create "$T/src.raw" "$T/q.spf" 2>&1 >/dev/null)
[ -z "$err" ] && pass "create: silent without a TTY" || fail "create: silent without a TTY" "$err"
err=$("$SPFCTL" verify "$T/q.spf" 2>&1 >/dev/null)
[ -z "$err" ] && pass "verify: silent on stderr without a TTY" || fail "verify: silent on stderr without a TTY" "$err"
if command -v script >/dev/null; then
	rand_bytes tty $((32 << 20)) > "$T/big.raw"
	rm -f "$T/tty.spf"
	script -qfec "$SPFCTL create --threads 1 --compress deflate --level 9 $T/big.raw $T/tty.spf" "$T/typescript" >/dev/null 2>&1
	if grep -qaE '[0-9.]+ ?[KMG]i?B/s' "$T/typescript" && grep -qaiE 'eta|[0-9]+%' "$T/typescript"; then
		pass "create: progress bar (rate, ETA or percent) on a TTY"
	else
		fail "create: progress bar (rate, ETA or percent) on a TTY" "typescript: $(tr '\r' '\n' < "$T/typescript" | head -c 300)"
	fi
	[ -s "$T/tty.spf" ] && pass "create on a TTY writes the image" || fail "create on a TTY writes the image" "no image"
else
	skip "progress bar" "script(1) missing"
fi

finish
