#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The documentation follows the code: every command of `spfctl --help` and
# every long option of each `spfctl CMD --help` is in man/spfctl.8 (in
# that command's section) and is what contrib/bash-completion/spfctl
# completes (no more, no less); the man pages render without a warning;
# --version's format, and that --help and the man page carry the same
# version; and the completion's values: codecs, images, devices, mount
# points, key files.
. "$(dirname "$0")/../lib.sh"
need_spfctl

MAN8=$ROOT/man/spfctl.8
MAN4=$ROOT/man/spfblk.4
COMP=$ROOT/contrib/bash-completion/spfctl

# ---- --version ------------------------------------------------------------------------
ver=$("$SPFCTL" --version 2>&1) && rc=0 || rc=$?
re='^spfctl ([0-9]+\.[0-9]+(\.[0-9]+)?) \(SPF format version 1\)$'
if [ "$rc" = 0 ] && [[ $ver =~ $re ]]; then
	pass version-format
	v=${BASH_REMATCH[1]}
else
	fail version-format "exit $rc: '$ver'"
	v=
fi
[ "$("$SPFCTL" -V 2>&1)" = "$ver" ] && pass version-short || fail version-short "-V differs from --version"
help=$("$SPFCTL" --help)
printf '%s\n' "$help" | grep -qxF "This is $ver." && pass version-in-help ||
	fail version-in-help "--help lacks 'This is $ver.'"
printf '%s\n' "$help" | grep -qE '^  -V, --version ' && pass help-lists-version ||
	fail help-lists-version "--help does not list -V, --version"
[ -n "$v" ] && grep -q "^\.TH SPFCTL 8 .*\"spfctl $v\"" "$MAN8" && pass man-version ||
	fail man-version "man/spfctl.8's .TH does not say spfctl $v"

# ---- commands ---------------------------------------------------------------------------
cmds=$(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | awk 'NF && !/^Commands:/ { print $1 }')
[ "$(echo $cmds | wc -w)" -ge 10 ] && pass help-commands ||
	fail help-commands "--help lists only: $(echo $cmds)"

# shellcheck source=../../contrib/bash-completion/spfctl
. "$COMP"
# complete WORD...: run _spfctl on "spfctl WORD..." (the last word is the
# one being completed); prints the candidates sorted, one a line.
complete_words() {
	COMP_WORDS=(spfctl "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	_spfctl spfctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}

# The man page with roff's \- as -, one command's section.
man_plain=$(sed 's/\\-/-/g' "$MAN8")
man_section() {
	printf '%s\n' "$man_plain" |
		awk -v c="$1" '/^\.S[SH] / { on = ($1 == ".SS" && ($2 == "\"" c || $2 == c)) } on'
}

for c in $cmds; do
	sec=$(man_section "$c")
	[ -n "$sec" ] && pass "man-command-$c" || fail "man-command-$c" "no '.SS \"$c ...' section in man/spfctl.8"
	printf '%s\n' "$man_plain" | grep -q "^\.B $c\$" && pass "man-synopsis-$c" ||
		fail "man-synopsis-$c" "not in the SYNOPSIS"
	out=$("$SPFCTL" "$c" --help 2>&1) || { fail "help-$c" "spfctl $c --help failed: $out"; continue; }
	opts=$(printf '%s\n' "$out" | grep -oE '^ {2,6}(-[A-Za-z], )?--[a-z][a-z0-9-]*' |
		grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	missing=
	for o in $opts; do
		[ "$o" = --help ] && continue
		printf '%s\n' "$sec" | grep -qE -- "$o([^a-z0-9-]|\$)" || missing="$missing $o"
	done
	[ -z "$missing" ] && pass "man-options-$c" ||
		fail "man-options-$c" "not in man/spfctl.8's $c section:$missing"
	have=$(complete_words "$c" --)
	want=$(printf '%s\n' $opts | sort)
	[ "$have" = "$want" ] && pass "completion-options-$c" ||
		fail "completion-options-$c" "completes '$(echo $have)', --help has '$(echo $want)'"
done
# `help` is a command of its own, not in the list
have=$(complete_words "")
want=$(printf '%s\n' $cmds help | sort -u)
[ "$have" = "$want" ] && pass completion-commands ||
	fail completion-commands "completes '$(echo $have)', expected '$(echo $want)'"
grep -q -- '-\\-help' "$MAN8" && grep -q -- '-\\-version' "$MAN8" && pass man-global-options ||
	fail man-global-options "--help or --version missing"
for s in "EXIT STATUS" DIAGNOSTICS FILES EXAMPLES "SEE ALSO"; do
	grep -q "^\.SH \"\{0,1\}$s" "$MAN8" || fail man-sections "man/spfctl.8 has no $s section"
done
pass man-sections

# ---- rendering ------------------------------------------------------------------------------
for m in "$MAN8" "$MAN4"; do
	n=man-render-$(basename "$m")
	if ! command -v groff >/dev/null; then
		skip "$n" "groff is not installed"
		continue
	fi
	w=$(groff -man -ww -z "$m" 2>&1)
	if command -v man >/dev/null; then
		w="$w$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)"
	fi
	lines=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$m" 2>/dev/null | wc -l)
	[ -z "$w" ] && [ "$lines" -gt 50 ] && pass "$n" || fail "$n" "$lines lines; warnings: $(printf '%s' "$w" | head -n 3 | tr '\n' ' ')"
done
for s in "MODULE PARAMETERS" IOCTLS SYSFS DIAGNOSTICS FILES "SEE ALSO"; do
	grep -q "^\.SH \"\{0,1\}$s" "$MAN4" || fail man4-sections "man/spfblk.4 has no $s section"
done
pass man4-sections
# Every sysfs file and module parameter of the driver is in spfblk.4.
missing=
for a in $(grep -oE '^[[:space:]]*What:[[:space:]]+/sys/block/spfN/spf/[a-z_]+' "$ROOT/docs/sysfs-ABI.md" |
	sed 's|.*/||'); do
	grep -q "$a" "$MAN4" || missing="$missing $a"
done
for a in $(grep -oE 'module_param_(named|string)\([a-z0-9_]+' "$ROOT"/drivers/block/spfblk/*.c | sed 's/.*(//'); do
	grep -q "^\.BR $a " "$MAN4" || missing="$missing $a"
done
for a in $(grep -oE '^#define SPF_IOC_[A-Z_]+[[:space:]]+_IO' "$ROOT/include/uapi/linux/spfblk.h" | awk '{ print $2 }'); do
	grep -q "^\.B $a\$" "$MAN4" || missing="$missing $a"
done
[ -z "$missing" ] && pass man4-complete || fail man4-complete "not in man/spfblk.4:$missing"

# ---- completion values ----------------------------------------------------------------------
expect_completion() {	# NAME WANT WORD...
	local name=$1 want=$2 have; shift 2
	have=$(complete_words "$@" | tr '\n' ' ')
	[ "$have" = "$want" ] && pass "$name" || fail "$name" "'spfctl $*' completes '$have', expected '$want'"
}
mkdir "$T/w" && cd "$T/w" || exit 1
mkdir sub
touch a.spf b.spi notes.txt pass.key
expect_completion completion-command "attach " at
expect_completion completion-help-command "merge mount " help m
expect_completion completion-codecs "deflate lz4 none zstd " create --compress ""
expect_completion completion-codecs-short "zstd " merge -c z
expect_completion completion-cache-no-codecs "" attach -c ""
expect_completion completion-key-via "ioctl keyring " attach --key-via ""
expect_completion completion-images "a.spf b.spi sub " info ""
expect_completion completion-images-after-opts "a.spf b.spi sub " verify -t 2 --chain a.spf ""
expect_completion completion-parent "a.spf b.spi sub " create --parent ""
expect_completion completion-key-file "a.spf b.spi notes.txt pass.key sub " attach --key-file ""
expect_completion completion-key-file-prefix "pass.key " mount -k p
expect_completion completion-create-source "a.spf b.spi notes.txt pass.key sub " create -L lab ""
expect_completion completion-create-image "a.spf b.spi sub " create -c zstd notes.txt ""
expect_completion completion-export-output "a.spf b.spi notes.txt pass.key sub " export a.spf ""
expect_completion completion-mount-dir "sub " mount -m a.spf ""
expect_completion completion-fstype "ext2 ext3 ext4 " mount -t ext

mkdir -p "$T"/sys/spf0/spf "$T"/sys/spf3/spf "$T"/sys/spf7 "$T"/sys/sda
SPFCTL_SYSFS_BLOCK=$T/sys expect_completion completion-detach \
	"/dev/spf0 /dev/spf3 a.spf b.spi sub " detach ""
SPFCTL_SYSFS_BLOCK=$T/sys expect_completion completion-detach-dev "/dev/spf3 " detach -L /dev/spf3
cat > "$T/mounts" <<'EOF'
/dev/sda1 / ext4 rw 0 0
/dev/spf0p1 /mnt/a ext4 ro 0 0
/dev/spf2 /mnt/with\040space vfat ro 0 0
tmpfs /tmp tmpfs rw 0 0
EOF
_SPFCTL_MOUNTS=$T/mounts expect_completion completion-umount "/mnt/a /mnt/with space " umount ""
_SPFCTL_MOUNTS=$T/mounts expect_completion completion-umount-once "" umount /mnt/a ""
finish
