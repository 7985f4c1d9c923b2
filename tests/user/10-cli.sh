#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# spfctl's command line: help, usage errors (exit 2), --version, the
# "spfctl: <file>: <what>: <reason>" error format (exit 1).
. "$(dirname "$0")/../lib.sh"
need_spfctl

# help: exit 0, text on stdout, nothing on stderr
out=$("$SPFCTL" --help 2>"$T/err") && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$T/err" ] &&
   printf '%s' "$out" | grep -q create && printf '%s' "$out" | grep -q info &&
   printf '%s' "$out" | grep -q verify && printf '%s' "$out" | grep -q export; then
	pass "help lists create/info/verify/export"
else
	fail "help lists create/info/verify/export" "exit $rc; stdout: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ') stderr: $(head -n 2 "$T/err")"
fi

# each command's --help: exit 0 and names the command's options
cmd_help() {	# cmd_help CMD OPTION...
	local cmd=$1 o missing=""; shift
	local out rc
	out=$("$SPFCTL" "$cmd" --help 2>"$T/err") && rc=0 || rc=$?
	for o in "$@"; do
		printf '%s\n' "$out" | grep -qF -- "$o" || missing="$missing $o"
	done
	if [ "$rc" -ne 0 ]; then
		fail "$cmd --help" "exit $rc: $(head -n 2 "$T/err")"
	elif [ -n "$missing" ]; then
		fail "$cmd --help" "does not mention:$missing"
	elif [ -s "$T/err" ]; then
		fail "$cmd --help" "writes to stderr: $(head -n 2 "$T/err")"
	else
		pass "$cmd --help"
	fi
}
cmd_help create --compress --level --chunk-size --parent --encrypt --key-file \
	--threads --label --force none deflate zstd lz4
cmd_help info --json
cmd_help verify --key-file
cmd_help export --key-file
for c in verify export; do
	# Chain discovery override, documented on every command reading a chain.
	"$SPFCTL" $c --help 2>/dev/null | grep -q -- --chain &&
		pass "$c --help mentions --chain" ||
		fail "$c --help mentions --chain" "no --chain in '$c --help'"
done
"$SPFCTL" help create >/dev/null 2>&1 || "$SPFCTL" create -h >/dev/null 2>&1 &&
	pass "create -h or help create" || fail "create -h or help create" "neither works"

# --version
out=$("$SPFCTL" --version 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -qE '^spfctl [0-9]'; then
	pass "--version"
else
	fail "--version" "exit $rc: $out"
fi

# usage errors: exit 2, a message starting with "spfctl: " on stderr,
# nothing on stdout
usage_err() {	# usage_err NAME ARGS...
	local name=$1; shift
	local out rc
	out=$("$SPFCTL" "$@" 2>"$T/err") && rc=0 || rc=$?
	if [ "$rc" -ne 2 ]; then
		fail "$name" "exit $rc, expected 2 (spfctl $*): $(head -n 2 "$T/err" | tr '\n' ' ')"
	elif ! grep -q '^spfctl: ' "$T/err"; then
		fail "$name" "no 'spfctl: ' message on stderr: $(head -n 2 "$T/err" | tr '\n' ' ')"
	elif [ -n "$out" ]; then
		fail "$name" "usage error printed on stdout: $(printf '%s' "$out" | head -n 1)"
	else
		pass "$name"
	fi
}
head -c 65536 /dev/zero > "$T/src"
usage_err "no arguments"
usage_err "unknown command" frobnicate
usage_err "unknown option" info --frobnicate "$T/src"
usage_err "create without operands" create
usage_err "create with one operand" create "$T/src"
usage_err "create with three operands" create "$T/src" "$T/a" "$T/b"
usage_err "info without image" info
usage_err "verify without image" verify
usage_err "export without output" export "$T/src"
usage_err "bad codec" create --compress lzma "$T/src" "$T/x.spf"
for cs in 2K 3K 2M 0 100000 abc 64Q -4K; do
	usage_err "bad chunk size $cs" create --chunk-size "$cs" "$T/src" "$T/x.spf"
done
usage_err "bad level" create --level abc "$T/src" "$T/x.spf"
usage_err "bad threads" create --threads abc "$T/src" "$T/x.spf"
usage_err "threads 0" create --threads 0 "$T/src" "$T/x.spf"
usage_err "option missing its value" create "$T/src" "$T/x.spf" --label
# The passphrase never comes from argv.
usage_err "no passphrase option" create --encrypt --passphrase secret "$T/src" "$T/x.spf"
usage_err "stdin for both source and key" create --encrypt --key-file - - "$T/x.spf"
[ ! -e "$T/x.spf" ] && pass "usage errors create nothing" ||
	fail "usage errors create nothing" "$T/x.spf exists"
ls "$T" | grep -v '^src$\|^err$' | grep -q . &&
	fail "usage errors leave no temp files" "$(ls "$T")" ||
	pass "usage errors leave no temp files"

# accepted chunk size spellings
for cs in 4K 4k 4096 64K 65536 1M 1m; do
	rm -f "$T/cs.spf"
	if "$SPFCTL" create --chunk-size "$cs" "$T/src" "$T/cs.spf" 2>"$T/err"; then
		pass "chunk size $cs accepted"
	else
		fail "chunk size $cs accepted" "$(head -n 2 "$T/err")"
	fi
done

# failures: exit 1, "spfctl: <file>: ..." naming the file
expect_error "missing image" 1 "spfctl: $T/nonexistent.spf: " \
	"$SPFCTL" info "$T/nonexistent.spf"
expect_error "missing image says why" 1 "No such file or directory" \
	"$SPFCTL" info "$T/nonexistent.spf"
expect_error "missing source" 1 "spfctl: $T/nosource: " \
	"$SPFCTL" create "$T/nosource" "$T/y.spf"
[ ! -e "$T/y.spf" ] && pass "missing source creates nothing" ||
	fail "missing source creates nothing" "$T/y.spf exists"
expect_error "missing key file" 1 "spfctl: $T/nokey: " \
	"$SPFCTL" create --encrypt --key-file "$T/nokey" $KDF_FAST "$T/src" "$T/y.spf"
expect_error "not an image" 1 "spfctl: $T/src: not an SPF image (bad magic)" \
	"$SPFCTL" info "$T/src"
mkdir "$T/dir"
expect_error "directory as image" 1 "spfctl: $T/dir: " "$SPFCTL" info "$T/dir"
: > "$T/empty"
expect_error "empty source refused" 1 "spfctl: $T/empty: " \
	"$SPFCTL" create "$T/empty" "$T/e.spf"
[ ! -e "$T/e.spf" ] && pass "empty source creates nothing" ||
	fail "empty source creates nothing" "$T/e.spf exists"

finish
