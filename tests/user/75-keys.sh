#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Key hygiene in spfctl (the driver's side is tests/vm/guest/75-keys.sh):
# no option takes a key or passphrase; while spfctl waits for a passphrase
# (a FIFO key file, a terminal prompt) its command line and environment
# hold none; a core dump of spfctl taken at _exit (after the atexit wipe
# of the KEK cache) holds neither the data key nor the passphrase, for
# verify, export and info -k, while one taken before the wipe does (the
# control that proves the scan); --key-via is checked.
. "$(dirname "$0")/../lib.sh"
need_spfctl

pw='hygiene-test-passphrase-7f3a'
mkkey "$T/key" "$pw"
mkdisk_mixed "$T/src.raw" 1024 keys
"$SPFCTL" create --encrypt --key-file "$T/key" $KDF_FAST --chunk-size 4K \
	"$T/src.raw" "$T/a.spf" 2>/dev/null ||
	{ fail setup "cannot build the encrypted image"; finish; }
# The data key, from the header (spfpatch.py unwraps it with the
# cryptography module).
dk=$(cd "$TESTS_DIR/tools" && python3 -c '
import sys, spfpatch
k = spfpatch.unwrap_keys(spfpatch.Image(sys.argv[1]), sys.argv[2].encode())
print(k[0].hex() if k else "")' "$T/a.spf" "$pw" 2>/dev/null)
[ ${#dk} = 64 ] || { skip keys-core "cannot unwrap the data key (python3 cryptography missing?)"; dk=; }

# ---- no option takes a key or a passphrase --------------------------------------
# Every long option of every command whose name speaks of keys, passphrases
# or secrets must be --key-file (a file name) or --key-via (a method).
lopt='{[[:space:]]*"[a-z-]*",[[:space:]]*[a-z_]*_argument'
bad=$(grep -ho "$lopt" "$ROOT"/tools/spfctl/*.c |
	sed 's/{[[:space:]]*"\([a-z-]*\)".*/\1/' | grep -iE 'key|pass|secret|pw' |
	grep -vxE 'key-file|key-via' | sort -u | tr '\n' ' ')
nopts=$(grep -ho "$lopt" "$ROOT"/tools/spfctl/*.c | grep -c .)
if [ "$nopts" -lt 20 ]; then
	fail keys-no-secret-options "found only $nopts long options in tools/spfctl/*.c: the pattern is stale"
elif [ -n "$bad" ]; then
	fail keys-no-secret-options "options that may take a secret: $bad"
else
	pass keys-no-secret-options
fi
ok=1
for cmd in create info verify export merge attach mount; do
	h=$("$SPFCTL" "$cmd" --help 2>&1) || continue
	o=$(printf '%s\n' "$h" | grep -oE -- '--[a-z-]+' | grep -iE 'key|pass|secret|pw' |
		grep -vxE -- '--key-file|--key-via' | sort -u | tr '\n' ' ')
	[ -z "$o" ] || { ok=0; fail keys-no-secret-options-help "spfctl $cmd --help lists $o"; }
done
[ "$ok" = 1 ] && pass keys-no-secret-options-help
for o in --passphrase --password --pass --secret; do
	expect_error "keys-rejects-$o" 2 "unrecognized option '$o'" \
		"$SPFCTL" verify "$o" "$pw" "$T/a.spf"
done
# --key is getopt's abbreviation of --key-file: its argument is a file name.
expect_error keys-key-is-key-file 1 "spfctl: $T/nofile: cannot open key file: No such file or directory" \
	"$SPFCTL" verify --key "$T/nofile" "$T/a.spf"

# ---- the command line while spfctl waits for the passphrase -------------------------
# cmdline_has PID: 0 if /proc/PID/cmdline or environ holds the passphrase
# or the data key (hex).
cmdline_has() {
	local f
	for f in cmdline environ; do
		tr '\0' '\n' < "/proc/$1/$f" | grep -qiF -e "$pw" ${dk:+-e "$dk"} && return 0
	done
	return 1
}
mkfifo "$T/fifo"
"$SPFCTL" verify --key-file "$T/fifo" "$T/a.spf" > "$T/fifo.out" 2>&1 &
pid=$!
# Wait until it blocks in open() of the FIFO.
for i in $(seq 50); do
	grep -q fifo "/proc/$pid/syscall" 2>/dev/null && break
	[ -r "/proc/$pid/cmdline" ] && [ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$SPFCTL")" ] && break
	sleep 0.1
done
if [ ! -r "/proc/$pid/cmdline" ]; then
	fail keys-argv-fifo "spfctl verify did not wait for the FIFO: $(cat "$T/fifo.out")"
elif cmdline_has "$pid"; then
	fail keys-argv-fifo "the passphrase or key is in spfctl's cmdline or environment"
else
	tr '\0' ' ' < "/proc/$pid/cmdline" > "$T/cmdline"
	# timeout: opening a FIFO with no reader left would block for ever.
	timeout 30 sh -c 'printf "%s\n" "$1" > "$2"' sh "$pw" "$T/fifo"
	if wait "$pid"; then
		grep -q -- "--key-file $T/fifo" "$T/cmdline" && pass keys-argv-fifo ||
			fail keys-argv-fifo "unexpected cmdline: $(cat "$T/cmdline")"
	else
		fail keys-argv-fifo "verify through the FIFO failed: $(cat "$T/fifo.out")"
	fi
fi

# At a terminal prompt (a pty): the command line while it waits, then the
# passphrase typed.
out=$(python3 - "$SPFCTL" "$T/a.spf" "$pw" "${dk:-none}" <<'PY'
import os, pty, select, signal, sys, time
spfctl, img, pw, dk = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.execv(spfctl, [spfctl, "verify", img])
def rd(end):
    # One read, or b"" once the deadline passes: never hang the suite.
    left = end - time.time()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        return b""
    try:
        return os.read(fd, 1024)
    except OSError:
        return b""
buf = b""
end = time.time() + 20
while b"Enter passphrase" not in buf and time.time() < end:
    buf += rd(end)
if b"Enter passphrase" not in buf:
    os.kill(pid, signal.SIGKILL)
    print("no prompt: %r" % buf); sys.exit(0)
for f in ("cmdline", "environ"):
    data = open("/proc/%d/%s" % (pid, f), "rb").read()
    if pw.encode() in data or dk.encode() in data.lower():
        print("secret in /proc/PID/%s" % f); sys.exit(0)
cmd = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
os.write(fd, pw.encode() + b"\n")
rest = b""
end = time.time() + 60
while True:
    d = rd(end)
    if not d:
        break
    rest += d
if time.time() >= end:
    os.kill(pid, signal.SIGKILL)
_, st = os.waitpid(pid, 0)
if pw.encode() in buf + rest:
    print("the passphrase was echoed"); sys.exit(0)
print("ok" if os.WEXITSTATUS(st) == 0 and b": ok" in rest else
      "exit %d: %r" % (os.WEXITSTATUS(st), rest))
PY
)
[ "$out" = ok ] && pass keys-argv-prompt || fail keys-argv-prompt "$out"

# ---- core dumps: nothing left at _exit ----------------------------------------------
# core_count BREAK CMD...: run CMD under gdb, dump a core at the first stop
# at BREAK, let it finish; prints "KEYS PASSES" (copies in the core).
core_count() {
	local brk=$1; shift
	rm -f "$T/core"
	timeout 300 gdb -q -batch -nx -ex 'set breakpoint pending on' -ex "break $brk" \
		-ex run -ex "gcore $T/core" -ex delete -ex continue \
		--args "$@" > "$T/gdb.out" 2>&1
	[ -s "$T/core" ] || { echo "no-core"; return; }
	python3 - "$T/core" "$dk" "$pw" <<'PY'
import sys
core = open(sys.argv[1], "rb").read()
print(core.count(bytes.fromhex(sys.argv[2])), core.count(sys.argv[3].encode()))
PY
}
if [ -z "$dk" ]; then
	:
elif ! command -v gdb > /dev/null; then
	skip keys-core "no gdb"
else
	# Control: at chain_close() (export, verify) the unwrapped keys are
	# still in memory, about to be wiped.
	read -r kn pn <<< "$(core_count chain_close "$SPFCTL" verify -k "$T/key" "$T/a.spf")"
	if [ "$kn" = no-core ]; then
		fail keys-core-control "gdb made no core: $(tail -n 3 "$T/gdb.out" | tr '\n' ' ')"
	elif [ "$kn" -gt 0 ] 2>/dev/null; then
		pass keys-core-control
	else
		fail keys-core-control "no copy of the data key in a core taken at chain_close(): the scan proves nothing"
	fi
	for c in "verify -k $T/key $T/a.spf" "export -k $T/key $T/a.spf $T/out.raw" \
		 "info -k $T/key $T/a.spf"; do
		rm -f "$T/out.raw"
		name=keys-core-${c%% *}
		read -r kn pn <<< "$(core_count _exit "$SPFCTL" $c)"
		if [ "$kn" = no-core ]; then
			fail "$name" "gdb made no core: $(tail -n 3 "$T/gdb.out" | tr '\n' ' ')"
		elif [ "$kn" != 0 ] || [ "$pn" != 0 ]; then
			fail "$name" "at _exit spfctl $c still holds $kn copies of the data key and $pn of the passphrase"
		elif [ "$name" = keys-core-export ] && ! cmp -s "$T/src.raw" "$T/out.raw"; then
			fail "$name" "the export under gdb differs from the source"
		else
			pass "$name"
		fi
	done
fi

# ---- --key-via ---------------------------------------------------------------------
expect_error keys-via-bad 2 "invalid --key-via 'x' (keyring or ioctl)" \
	"$SPFCTL" attach --key-via x -k "$T/key" "$T/a.spf"
"$SPFCTL" attach --help | grep -q -- '--key-via HOW' && pass keys-via-help ||
	fail keys-via-help "attach --help does not document --key-via"
finish
