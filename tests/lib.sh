# SPDX-License-Identifier: GPL-2.0
# Common helpers for spfblk test scripts (sourced, not run).
#
# A test script reports one line per result on stdout:
#   PASS <name>
#   FAIL <name>: <reason>
#   SKIP <name>: <reason>
# tests/run counts them.  A script that exits non-zero without reporting a
# FAIL counts as one failure.  Scratch files go to $T, removed on exit.

set -u

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$TESTS_DIR/.." && pwd)
SPFCTL=${SPFCTL:-$ROOT/tools/spfctl/spfctl}
# Fast key derivation for tests; real images use the defaults.
KDF_FAST="--kdf-memory 64 --kdf-time 1"

T=$(mktemp -d "${TMPDIR:-/tmp}/spftest.XXXXXX")
_cleanup_fns=""
cleanup_add() { _cleanup_fns="$1; $_cleanup_fns"; }
_on_exit() {
	eval "$_cleanup_fns" 2>/dev/null || true
	rm -rf "$T"
}
trap _on_exit EXIT

_nfail=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-failed}"; _nfail=$((_nfail + 1)); }
skip() { echo "SKIP $1: ${2:-skipped}"; }
# Exit status of a test script: 1 if any FAIL was reported.
finish() { [ "$_nfail" -eq 0 ]; exit $?; }

# check NAME CMD...: PASS if CMD succeeds.
check() {
	local name=$1; shift
	local out
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}

# expect_error NAME STATUS PATTERN CMD...: CMD must exit with STATUS and
# print a line on stderr matching the fixed string PATTERN.
expect_error() {
	local name=$1 want=$2 pattern=$3; shift 3
	local err rc
	err=$("$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name" "exit $rc, expected $want; stderr: $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	elif ! printf '%s\n' "$err" | grep -qF -- "$pattern"; then
		fail "$name" "stderr lacks '$pattern': $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# same_bytes NAME A B: byte-for-byte equality of two files or devices.
same_bytes() {
	if cmp -s "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "$2 and $3 differ: $(cmp "$2" "$3" 2>&1 | head -n 1)"
	fi
}

# A deterministic pseudo-random stream: rand_bytes SEED BYTES
rand_bytes() {
	openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 -iter 1 \
		-in /dev/zero 2>/dev/null | head -c "$2"
}

# poke FILE OFFSET: flip the low bit of the byte at OFFSET.
poke() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 1) & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# le64 FILE OFFSET: read a little-endian 64-bit value.
le64() { od -An -tu8 -j "$2" -N8 "$1" | tr -d ' '; }
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# Test disks ---------------------------------------------------------------

# mkdisk_ext4 OUT SIZE_MB: an ext4 filesystem populated with real files.
mkdisk_ext4() {
	local out=$1 mb=$2 src
	src=$(mktemp -d "$T/tree.XXXXXX")
	cp -a /usr/share/doc/. "$src/doc/" 2>/dev/null || true
	mkdir -p "$src/bin" "$src/data"
	cp /bin/ls /bin/bash /bin/cp "$src/bin/"
	rand_bytes "$out" $((3 * 1024 * 1024)) > "$src/data/random.bin"
	head -c $((2 * 1024 * 1024)) /dev/zero > "$src/data/zeros.bin"
	truncate -s "${mb}M" "$out"
	mke2fs -q -F -t ext4 -d "$src" -L spftest "$out" >/dev/null
	rm -rf "$src"
}

# mkdisk_gpt OUT SIZE_MB: a GPT disk with several partitions (ext4, raw
# random data, a zero gap) built without loop devices.
mkdisk_gpt() {
	local out=$1 mb=$2 p1
	truncate -s "${mb}M" "$out"
	sgdisk -q -o -n 1:1M:+8M -t 1:8300 -c 1:one \
		-n 2:0:+4M -t 2:8300 -c 2:two \
		-n 3:0:+2M -t 3:0700 -c 3:three "$out" >/dev/null
	p1=$(mktemp "$T/p1.XXXXXX")
	mkdisk_ext4 "$p1" 8
	dd if="$p1" of="$out" bs=1M seek=1 conv=notrunc status=none
	rand_bytes "gpt$out" $((4 * 1024 * 1024)) |
		dd of="$out" bs=1M seek=9 conv=notrunc status=none
	rm -f "$p1"
}

# mkdisk_mixed OUT SIZE_KB SEED: stretches of zeros, random bytes and text.
mkdisk_mixed() {
	local out=$1 kb=$2 seed=${3:-mixed} half
	half=$((kb / 4))
	{
		rand_bytes "$seed" $((half * 1024))
		head -c $((half * 1024)) /dev/zero
		yes "spfblk test line $seed" | head -c $((half * 1024))
		rand_bytes "$seed.2" $(((kb - 3 * half) * 1024))
	} > "$out"
}

# mutate FILE SEED COUNT [BYTES]: overwrite COUNT random places in FILE.
mutate() {
	local f=$1 seed=$2 n=$3 len=${4:-4096} size i off
	size=$(stat -c %s "$f")
	for i in $(seq 1 "$n"); do
		off=$(( ($(printf '%s' "$seed$i" | cksum | cut -d' ' -f1) * 4096) % (size - len) ))
		rand_bytes "$seed.$i" "$len" |
			dd of="$f" bs=1 seek="$off" conv=notrunc status=none
	done
}
