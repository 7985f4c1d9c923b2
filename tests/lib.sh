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

# poke FILE OFFSET [MASK]: flip the bits MASK (default 1, the low bit) of
# the byte at OFFSET.
poke() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ ${3:-1}) & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# summary_mark IMAGE REGION: flip REGION's bit (clear in a good image) in
# IMAGE's summary block, then recompute the checksums and the seal
# (spfpatch fix), so that only the summary's meaning is wrong.
summary_mark() {
	local so
	so=$(spfpatch "$1" get t.summary_offset) || return 1
	poke "$1" $((so + 32 + $2 / 8)) $((1 << ($2 % 8)))
	spfpatch "$1" fix >/dev/null
}

# le64 FILE OFFSET: read a little-endian 64-bit value.
le64() { od -An -tu8 -j "$2" -N8 "$1" | tr -d ' '; }
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# Test disks ---------------------------------------------------------------

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

# Additions for the userspace suite (tests/user) ----------------------------

# mkdisk_ext4 OUT SIZE_MB: an ext4 filesystem populated with real files.
# (Copying all of /usr/share/doc does not fit the few-MiB disks the suites
# use, and mke2fs -d then fails half-way.)  It copies only as much of /usr/share/doc as fits
# in about 40% of the filesystem, keeps the binaries, random and zero files
# (scaled down on small disks), and fails if mke2fs fails.
mkdisk_ext4() {
	local out=$1 mb=$2 src budget rnd zer
	src=$(mktemp -d "$T/tree.XXXXXX")
	mkdir -p "$src/doc" "$src/bin" "$src/data"
	cp /bin/ls /bin/cp "$src/bin/"
	[ "$mb" -ge 16 ] && cp /bin/bash "$src/bin/"
	rnd=$((mb * 1024 * 1024 / 8)); [ "$rnd" -gt $((3 * 1024 * 1024)) ] && rnd=$((3 * 1024 * 1024))
	zer=$((mb * 1024 * 1024 / 16)); [ "$zer" -gt $((2 * 1024 * 1024)) ] && zer=$((2 * 1024 * 1024))
	rand_bytes "$out" "$rnd" > "$src/data/random.bin"
	head -c "$zer" /dev/zero > "$src/data/zeros.bin"
	budget=$(( mb * 1024 * 4 / 10 - $(du -sk "$src" | cut -f1) ))
	# Whole package doc folders, smallest first, until the budget is used.
	du -sk /usr/share/doc/* 2>/dev/null | sort -n |
		awk -v b="$budget" '{ s += $1; if (s > b) exit; print $2 }' |
		while read -r d; do cp -a "$d" "$src/doc/" 2>/dev/null || true; done
	truncate -s "${mb}M" "$out"
	if ! mke2fs -q -F -t ext4 -d "$src" -L spftest "$out" >/dev/null 2>"$T/mke2fs.err"; then
		echo "mkdisk_ext4: mke2fs failed: $(cat "$T/mke2fs.err")" >&2
		rm -rf "$src"
		return 1
	fi
	rm -rf "$src"
}

# python3: resolved once.  A version-manager shim (pyenv) on PATH costs
# half a second per call, and the suites call python a few hundred times.
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)}
python3() { command "$PYTHON" "$@"; }

# SPFPATCH: inspect, patch and check images (tests/tools/spfpatch.py).
SPFPATCH="$PYTHON $TESTS_DIR/tools/spfpatch.py"
spfpatch() { $SPFPATCH "$@"; }

# need_spfctl: stop the script with one FAIL if spfctl is not built.
need_spfctl() {
	if [ ! -x "$SPFCTL" ]; then
		fail "spfctl-built" "$SPFCTL is missing (make -C tools/spfctl)"
		finish
	fi
}

# mkkey FILE [PASSPHRASE]: a key file for --key-file.
mkkey() { printf '%s' "${2:-correct horse battery staple}" > "$1"; }

# expect_ok NAME CMD...: CMD must exit 0 and print nothing on stderr
# (spfctl is silent when stderr is not a TTY).
expect_ok() {
	local name=$1; shift
	local err rc
	err=$("$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit $rc: $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	elif [ -n "$err" ]; then
		fail "$name" "exit 0 but stderr not empty: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# expect_error_re NAME STATUS ERE CMD...: like expect_error with an extended
# regular expression.
expect_error_re() {
	local name=$1 want=$2 pattern=$3; shift 3
	local err rc
	err=$("$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name" "exit $rc, expected $want; stderr: $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	elif ! printf '%s\n' "$err" | grep -qE -- "$pattern"; then
		fail "$name" "stderr does not match /$pattern/: $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# json_get FILE PATH: a value from a JSON document (PATH: a.b.c), printed
# as JSON (strings quoted, true/false, numbers).
json_get() {
	python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v))
PY
}

# modify_chunks FILE CHUNK_SIZE SEED K: overwrite 512 random bytes inside K
# distinct chunks (chosen from SEED), so exactly K chunks change.  Prints
# the chunk numbers.
modify_chunks() {
	python3 - "$@" <<'PY'
import hashlib, os, random, sys
path, cs, seed, k = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
size = os.path.getsize(path)
n = (size + cs - 1) // cs
rng = random.Random(seed)
chunks = sorted(rng.sample(range(n), k))
with open(path, "r+b") as f:
    for c in chunks:
        span = min(cs, size - c * cs)
        ln = min(512, span)
        off = c * cs + rng.randrange(0, span - ln + 1)
        f.seek(off)
        f.write((hashlib.sha256(("%s.%d" % (seed, c)).encode()).digest() * (ln // 32 + 1))[:ln])
print(" ".join(map(str, chunks)))
PY
}

# allocated FILE: bytes allocated on disk (sparse files use less than size).
allocated() { echo $(( $(stat -c %b "$1") * $(stat -c %B "$1") )); }

# mkdisk_gpt OUT SIZE_MB: a GPT disk with several partitions.  (With -q,
# sgdisk 1.0.9 exits 0 but does not write the table.)  Layout (SIZE_MB >= 16): ext4 at 1 MiB (8 MiB), random
# data (4 MiB), a 2 MiB FAT-type partition left zero; fails loudly.
mkdisk_gpt() {
	local out=$1 mb=$2 p1
	truncate -s "${mb}M" "$out"
	if ! sgdisk -o -n 1:1M:+8M -t 1:8300 -c 1:one \
		-n 2:0:+4M -t 2:8300 -c 2:two \
		-n 3:0:+2M -t 3:0700 -c 3:three "$out" >/dev/null 2>&1 ||
	   [ "$(sgdisk -p "$out" 2>/dev/null | grep -c '^ *[0-9]')" -ne 3 ]; then
		echo "mkdisk_gpt: sgdisk failed on $out" >&2
		return 1
	fi
	p1=$(mktemp "$T/p1.XXXXXX")
	mkdisk_ext4 "$p1" 8 || return 1
	dd if="$p1" of="$out" bs=1M seek=1 conv=notrunc status=none
	rand_bytes "gpt$out" $((4 * 1024 * 1024)) |
		dd of="$out" bs=1M seek=9 iflag=fullblock conv=notrunc status=none
	rm -f "$p1"
}

# VM guest helpers (tests/vm/guest) ------------------------------------------
# The guest scripts run inside the test VM with spfblk loaded and the
# fixtures (tests/vm/mkfixtures) copied to $SPF_FIX on a tmpfs.  Forks cost
# tens of milliseconds under TCG: these helpers read sysfs with builtins.

SPF_FIX=${SPF_FIX:-/tmp/fix}
SPF_TOOLS=${SPF_TOOLS:-$ROOT/build/vm-abi}
SPFIOC=$SPF_TOOLS/spfioc

# Writable devices (70-74-writable*).

# wattach NAME OVERLAY IMAGE [OPTIONS...]: spfctl attach --writable --overlay
# OVERLAY OPTIONS IMAGE; sets DEV and IDX; checks the device is writable
# (ro 0, spf/writable 1, spf/overlay the overlay's path).
wattach() {
	local name=$1 ov=$2 img=$3 out rc n v; shift 3
	DEV='' IDX=''
	out=$("$SPFCTL" attach --writable --overlay "$ov" "$@" "$img" 2>"$T/attach.err") && rc=0 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name" "spfctl attach --writable exited $rc: $(head -n 3 "$T/attach.err" | tr '\n' ' ')"
		return 1
	fi
	ATTACH_OUT=$out
	out=${out%%$'\n'*}
	out=${out%%[ :,]*}
	if [[ ! "$out" =~ ^/dev/spf([0-9]+)$ ]]; then
		fail "$name" "spfctl attach --writable printed '$ATTACH_OUT', not /dev/spfN first"
		return 1
	fi
	IDX=${BASH_REMATCH[1]}
	DEV=$out
	n=spf$IDX
	if [ ! -b "$DEV" ]; then
		fail "$name" "$DEV is not a block device"
		return 1
	fi
	v="ro=$(sysval "/sys/block/$n/ro") writable=$(sysval "/sys/block/$n/spf/writable")"
	if [ "$v" != "ro=0 writable=1" ]; then
		fail "$name" "$DEV: $v (want ro=0 writable=1)"
		return 1
	fi
	v=$(sysval "/sys/block/$n/spf/overlay")
	if [ "$v" != "$(readlink -f "$ov")" ]; then
		fail "$name" "spf/overlay is '$v', not $(readlink -f "$ov")"
		return 1
	fi
	pass "$name"
}

# reads_as NAME DEV FILE: DEV (read with O_DIRECT) has FILE's size and bytes.
reads_as() {
	local size out
	size=$(dev_bytes "$2")
	if [ "$size" != "$(stat -c %s "$3")" ]; then
		fail "$1" "$2 has $size bytes, $(basename "$3") $(stat -c %s "$3")"
	elif out=$(dd if="$2" iflag=direct bs=1M status=none | cmp - "$3" 2>&1); then
		pass "$1"
	else
		fail "$1" "$2 differs from $(basename "$3"): $out"
	fi
}

# put DEV MODEL OFFSET LEN: LEN random bytes at OFFSET (O_DIRECT), in both.
put() {
	head -c "$4" /dev/urandom > "$T/pat"
	dd if="$T/pat" of="$1" bs="$4" count=1 seek="$3" oflag=seek_bytes,direct conv=notrunc status=none &&
	dd if="$T/pat" of="$2" bs="$4" count=1 seek="$3" oflag=seek_bytes conv=notrunc status=none
}

# no_devices NAME: PASS if no /dev/spfN is left.
no_devices() {
	local left
	left=$(spf_devices | tr '\n' ' ')
	[ -z "$left" ] && pass "$1" || fail "$1" "devices left: $left"
}

# vm_attach NAME ARGS...: spfctl attach ARGS; sets DEV (/dev/spfN) and IDX.
# On failure reports FAIL NAME and returns 1.
vm_attach() {
	local name=$1 out rc; shift
	DEV= IDX=
	out=$("$SPFCTL" attach "$@" 2>"$T/attach.err") && rc=0 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name" "spfctl attach $* exited $rc: $(head -n 3 "$T/attach.err" | tr '\n' ' ')"
		return 1
	fi
	out=${out%%$'\n'*}
	if [[ ! "$out" =~ ^/dev/spf([0-9]+)$ ]]; then
		fail "$name" "spfctl attach printed '$out', not /dev/spfN"
		return 1
	fi
	IDX=${BASH_REMATCH[1]}
	DEV=$out
	if [ ! -b "$DEV" ]; then
		fail "$name" "spfctl attach returned but $DEV is not a block device"
		return 1
	fi
}

# vm_detach NAME DEV: spfctl detach DEV; FAIL NAME unless it works and the
# node is gone.
vm_detach() {
	local name=$1 dev=$2 err
	if ! err=$("$SPFCTL" detach "$dev" 2>&1 >/dev/null); then
		fail "$name" "spfctl detach $dev: $(printf '%s' "$err" | head -n 2 | tr '\n' ' ')"
		return 1
	fi
	if [ -e "$dev" ] || [ -e "/sys/block/${dev#/dev/}" ]; then
		fail "$name" "$dev still exists after spfctl detach"
		return 1
	fi
}

# sysval FILE: print the first line of FILE (no fork), or nothing.
sysval() {
	local v=
	[ -r "$1" ] && read -r v < "$1"
	printf '%s' "$v"
}

# dev_bytes DEV: the size of /dev/spfN (or a partition) in bytes.
dev_bytes() {
	local n=${1#/dev/} s
	if [ -r "/sys/block/$n/size" ]; then
		s=$(sysval "/sys/block/$n/size")
	else
		s=$(sysval "/sys/class/block/$n/size")
	fi
	echo $(( ${s:-0} * 512 ))
}

# sha_of FILE: sha256 of FILE (one fork).
sha_of() {
	local s
	s=$(sha256sum < "$1") || return 1
	printf '%s' "${s%% *}"
}

# wait_gone DEV [TENTHS]: wait until DEV and its sysfs dir are gone
# (default 5 s).
wait_gone() {
	local dev=$1 n=${2:-50}
	while [ "$n" -gt 0 ]; do
		[ ! -e "$dev" ] && [ ! -e "/sys/block/${dev#/dev/}" ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# kmsg_mark: put a unique marker in the kernel log; kmsg_since prints the
# log lines after the last marker.
kmsg_mark() {
	_KMSG_MARK="spftest-mark-$$-$RANDOM"
	echo "$_KMSG_MARK" > /dev/kmsg
}
kmsg_since() {
	if [ -x "$SPFIOC" ]; then
		"$SPFIOC" kmsg "$_KMSG_MARK"
	else
		dmesg | sed -n "/$_KMSG_MARK/,\$p" | tail -n +2
	fi
}

# fixline NAME: the data.list line of chain NAME (fields: name dir top
# sha_src sha_export size layers chunk codec enc).
fixline() {
	local l
	while read -r l; do
		[ "${l%% *}" = "$1" ] && { printf '%s\n' "$l"; return 0; }
	done < "$SPF_FIX/data.list"
	return 1
}

# meta FILE KEY: a value from a key=value file.
meta() {
	local l
	while IFS= read -r l; do
		[ "${l%%=*}" = "$2" ] && { printf '%s' "${l#*=}"; return 0; }
	done < "$1"
	return 1
}

# keys_setup: the key tests' (75-keys*) tools and fixtures: SPFKEYS, key,
# enc (an encrypted image), enc_sha (its disk's sha256), c (the 3-image
# encrypted chain).  FAIL keys-tools and returns 1 if spfkeys is not built.
keys_setup() {
	SPFKEYS=$SPF_TOOLS/spfkeys
	key=$SPF_FIX/key
	enc=$SPF_FIX/ctl/enc.spf
	enc_sha=$(meta "$SPF_FIX/ctl/ctl.meta" enc_sha)
	c=$SPF_FIX/conc
	if [ ! -x "$SPFKEYS" ]; then
		fail keys-tools "$SPFKEYS is not built (make -C tests/vm/abi)"
		return 1
	fi
}

# spf_devices: the attached /dev/spfN names (from sysfs), one a line.
spf_devices() {
	local d
	for d in /sys/block/spf*; do
		[ -e "$d" ] && echo "/dev/${d##*/}"
	done
	return 0
}
