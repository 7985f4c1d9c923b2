#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Packaging: `make deb` builds spfctl_VER_ARCH.deb and spfblk-dkms_VER_all.deb
# (scripts/mkdeb); lintian finds nothing; dpkg -i installs both and the
# postinst has DKMS build and install spfblk.ko for both test kernels; a
# guest on each kernel loads the packaged module with modprobe and the
# packaged /usr/sbin/spfctl attaches an image through it and reads it back
# byte for byte; the man pages, bash completion and udev rule are where
# they belong; dpkg -r and dpkg -P leave nothing behind and the host as it
# was.  Leftovers of an interrupted run are purged first; a spfblk.ko that
# `make install` put under /lib/modules/KVER/extra is moved aside for the
# run (DKMS would not replace an identical module) and put back after.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v dkms >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
	skip deb "needs root, dkms and dpkg-dev"
	finish
fi
ver=$(cat "$ROOT/VERSION")
arch=$(dpkg --print-architecture)
debdir=$ROOT/build/deb
deb_ctl=$debdir/spfctl_${ver}_${arch}.deb
deb_dkms=$debdir/spfblk-dkms_${ver}_all.deb
PKGS="spfblk-dkms spfctl"
kernels=()
for series in 6.1 6.12; do
	if k=$("$ROOT/tests/vm/kernels" --kver "$series" 2>&1); then
		kernels+=("$k")
	else
		fail "deb-kernel-$series" "$k"
	fi
done
[ "${#kernels[@]}" -gt 0 ] || finish
t0=$(date +%s)
lap() { echo "# deb: $1 at $(($(date +%s) - t0)) s"; }

# dpkg ARGS: dpkg, waiting up to 5 minutes for a lock another dpkg or apt
# holds.
dpkg_run() {
	local n=0 rc
	while :; do
		command dpkg "$@" >"$T/dpkg.out" 2>&1 && { cat "$T/dpkg.out"; return 0; }
		rc=$?
		grep -q 'lock' "$T/dpkg.out" && [ "$n" -lt 60 ] || { cat "$T/dpkg.out"; return "$rc"; }
		n=$((n + 1))
		sleep 5
	done
}

# The packages (in whatever state an interrupted run left them), the DKMS
# registration and the source folder.
purge() {
	dpkg_run -P $PKGS >/dev/null 2>&1 || dpkg_run --force-all -P $PKGS >/dev/null 2>&1 || true
	dkms remove -m spfblk -v "$ver" --all >/dev/null 2>&1 || true
	rm -rf "/usr/src/spfblk-$ver" "/var/lib/dkms/spfblk/$ver"
	rmdir /var/lib/dkms/spfblk 2>/dev/null || true
}

# What the packages touch on the host, for a before/after comparison.
host_state() {
	dkms status 2>/dev/null | grep '^spfblk' || true
	ls -d /usr/src/spfblk-* /var/lib/dkms/spfblk 2>/dev/null || true
	find /lib/modules -name 'spfblk.ko*' 2>/dev/null | sort
	ls -l /usr/sbin/spfctl /usr/lib/udev/rules.d/60-spfblk.rules \
		/usr/share/bash-completion/completions/spfctl \
		/usr/share/man/man8/spfctl.8.gz /usr/share/man/man4/spfblk.4.gz 2>/dev/null || true
	for p in $PKGS; do
		dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$p" 2>/dev/null || true
	done
	for k in "${kernels[@]}"; do
		echo "$k: $(modinfo -k "$k" -n spfblk 2>&1)"
	done
}

purge
cleanup_add purge

# A spfblk.ko installed by other means (make install: /extra) would keep
# DKMS from installing its own; move it aside for the run.
aside=$T/aside
restore_aside() {
	local f k
	[ -d "$aside" ] || return 0
	while IFS= read -r f; do
		mkdir -p "$(dirname "$f")"
		mv -f "$aside$f" "$f"
	done < "$aside.list"
	for k in "${kernels[@]}"; do depmod -a "$k"; done
}
: > "$aside.list"
for k in "${kernels[@]}"; do
	find "/lib/modules/$k" -name 'spfblk.ko*' >> "$aside.list"
done
if [ -s "$aside.list" ]; then
	while IFS= read -r f; do
		mkdir -p "$aside$(dirname "$f")"
		mv "$f" "$aside$f"
		echo "# deb: moved $f aside for the run"
	done < "$aside.list"
	for k in "${kernels[@]}"; do depmod -a "$k"; done
	cleanup_add restore_aside
fi
host_state > "$T/state.before"

# --- build --------------------------------------------------------------
# VERSION is the one version: dkms.conf and the man pages' .TH repeat it.
dkver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$ROOT/dkms.conf")
th8=$(sed -n 's/^\.TH SPFCTL 8 [^"]*"spfctl \([^"]*\)".*/\1/p' "$ROOT/man/spfctl.8")
th4=$(sed -n 's/^\.TH SPFBLK 4 [^"]*"spfblk \([^"]*\)".*/\1/p' "$ROOT/man/spfblk.4")
if [ "$dkver" = "$ver" ] && [ "$th8" = "$ver" ] && [ "$th4" = "$ver" ]; then
	pass deb-version-agree
else
	fail deb-version-agree "VERSION '$ver', dkms.conf PACKAGE_VERSION '$dkver', .TH of spfctl.8 '$th8', of spfblk.4 '$th4'"
fi
rm -f "$deb_ctl" "$deb_dkms"
if ! out=$(nice make -s -C "$ROOT" deb 2>&1) || [ ! -f "$deb_ctl" ] || [ ! -f "$deb_dkms" ]; then
	fail deb-build "$(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"
	finish
fi
pass deb-build
lap built

# lintian (when installed) runs in the background while DKMS builds.
if command -v lintian >/dev/null; then
	nice lintian --fail-on error,warning --tag-display-limit 0 "$deb_ctl" "$deb_dkms" \
		> "$T/lintian.out" 2>&1 &
	lintian_pid=$!
else
	lintian_pid=
fi

# Control fields.  Depends must name the package of every shared library
# spfctl links (found here with ldd and dpkg -S, not dpkg-shlibdeps).
dep=$(dpkg-deb -f "$deb_ctl" Depends)
x=$T/x
dpkg-deb -x "$deb_ctl" "$x"
missing=
for lib in $(ldd "$x/usr/sbin/spfctl" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
	real=$(readlink -f "$lib")
	p=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null ||
		dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null) || {
		missing="$missing $lib(no package)"; continue; }
	p=${p%%:*}
	printf '%s\n' "$dep" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qxF "$p" ||
		missing="$missing $p"
done
if [ -z "$missing" ] && printf '%s' "$dep" | grep -q 'libzstd' &&
   printf '%s' "$dep" | grep -q 'libargon2'; then
	pass deb-spfctl-depends
else
	fail deb-spfctl-depends "Depends '$dep' lacks:$missing"
fi
f_arch=$(dpkg-deb -f "$deb_dkms" Architecture)
f_dep=$(dpkg-deb -f "$deb_dkms" Depends)
ctl=$T/ctl
dpkg-deb -e "$deb_dkms" "$ctl"
bad=
for s in postinst prerm postrm; do
	[ -x "$ctl/$s" ] && grep -qx 'set -e' "$ctl/$s" && grep -qx "VERSION=$ver" "$ctl/$s" ||
		bad="$bad $s"
done
if [ "$f_arch" = all ] && [ "$f_dep" = dkms ] && [ -z "$bad" ]; then
	pass deb-dkms-control
else
	fail deb-dkms-control "Architecture '$f_arch', Depends '$f_dep', bad scripts:$bad"
fi

# /usr/src/spfblk-VER holds exactly the files dkms.conf builds from.
xd=$T/xd
dpkg-deb -x "$deb_dkms" "$xd"
usrc=$xd/usr/src/spfblk-$ver
(cd "$ROOT" && for f in dkms.conf Kbuild drivers/block/spfblk/Kbuild drivers/block/spfblk/*.[ch] \
	include/uapi/linux/*.h; do case $f in *.mod.c) ;; *) echo "$f" ;; esac; done | sort) > "$T/src.want"
(cd "$usrc" && find . -type f -printf '%P\n' | sort) > "$T/src.got"
bad=
while IFS= read -r f; do
	cmp -s "$ROOT/$f" "$usrc/$f" || bad="$bad $f"
done < "$T/src.want"
if diff -q "$T/src.want" "$T/src.got" >/dev/null && [ -z "$bad" ]; then
	pass deb-dkms-source
else
	fail deb-dkms-source "differs:$bad $(diff "$T/src.want" "$T/src.got" | grep '^[<>]' | tr '\n' ' ')"
fi

# --- install ------------------------------------------------------------
s=$(date +%s)
if dpkg_run -i "$deb_ctl" "$deb_dkms" > "$T/install.log" 2>&1; then
	pass deb-install
else
	fail deb-install "$(tail -n 5 "$T/install.log" | tr '\n' ' ')"
fi
lap "dpkg -i took $(($(date +%s) - s)) s;"
grep '^spfblk-dkms:' "$T/install.log" | sed 's/^/# /'
dpkg-query -W -f='${Status}\n' spfctl spfblk-dkms > "$T/status" 2>&1
if [ "$(grep -c '^install ok installed$' "$T/status")" = 2 ]; then
	pass deb-installed
else
	fail deb-installed "$(tr '\n' ' ' < "$T/status")"
fi
check deb-dpkg-verify sh -c 'out=$(dpkg -V spfctl spfblk-dkms 2>&1); echo "$out"; [ -z "$out" ]'

mods=()
for k in "${kernels[@]}"; do
	n=$(echo "$k" | cut -d. -f1,2)
	st=$(dkms status -m spfblk -v "$ver" -k "$k" 2>&1)
	m=$(ls "/lib/modules/$k/updates/dkms/spfblk.ko"* 2>/dev/null | head -n 1)
	vm=$( [ -n "$m" ] && modinfo -F vermagic "$m" 2>/dev/null)
	dep=$(modinfo -k "$k" -n spfblk 2>&1)
	if printf '%s' "$st" | grep -q ': installed' && [ -n "$m" ] &&
	   [ "${vm%% *}" = "$k" ] && [ "$dep" = "$m" ]; then
		pass "deb-dkms-installed-$n"
		mods+=("$k")
	else
		fail "deb-dkms-installed-$n" "status '$st', module '$m', vermagic '$vm', modinfo -n '$dep'"
	fi
done

# spfctl, the manual pages, the completion and the udev rule.
v=$(/usr/sbin/spfctl --version 2>&1)
if [ "$v" = "spfctl $ver (SPF format version 1)" ]; then
	pass deb-spfctl-version
else
	fail deb-spfctl-version "/usr/sbin/spfctl --version: '$v'"
fi
manok=1
man -aw spfctl 2>/dev/null | grep -qx /usr/share/man/man8/spfctl.8.gz || manok=0
man -aw 4 spfblk 2>/dev/null | grep -qx /usr/share/man/man4/spfblk.4.gz || manok=0
zcat /usr/share/man/man8/spfctl.8.gz | cmp -s - "$ROOT/man/spfctl.8" || manok=0
zcat /usr/share/man/man4/spfblk.4.gz | cmp -s - "$ROOT/man/spfblk.4" || manok=0
if [ "$manok" = 1 ]; then
	pass deb-man
else
	fail deb-man "man -aw spfctl: '$(man -aw spfctl 2>&1 | tr '\n' ' ')'; man -aw 4 spfblk: '$(man -aw 4 spfblk 2>&1 | tr '\n' ' ')'"
fi
comp=/usr/share/bash-completion/completions/spfctl
if cmp -s "$comp" "$ROOT/contrib/bash-completion/spfctl" &&
   bash -c ". '$comp' && complete -p spfctl" >/dev/null 2>&1; then
	pass deb-bash-completion
else
	fail deb-bash-completion "$comp missing, different or not loadable"
fi
same_bytes deb-udev-rule /usr/lib/udev/rules.d/60-spfblk.rules "$ROOT/contrib/udev/60-spfblk.rules"

# --- the packaged module and spfctl in a guest ----------------------------
img=$T/img
mkdir -p "$img"
mkdisk_mixed "$img/disk.raw" 4096 deb
check deb-create /usr/sbin/spfctl create -c zstd -s 16K "$img/disk.raw" "$img/disk.spf"
for k in "${mods[@]}"; do
	n=$(echo "$k" | cut -d. -f1,2)
	sc=$T/vm-$n
	mkdir -p "$sc"
	cp "$img/disk.raw" "$img/disk.spf" "$sc/"
	s=$(date +%s)
	if out=$(nice "$ROOT/tests/vm/run-vm" -q --kver "$k" --timeout 600 --scratch "$sc" -- \
		sh -c 'set -e; modprobe spfblk; modinfo -n spfblk; test -c /dev/spf-control
			dev=$(/usr/sbin/spfctl attach /scratch/disk.spf); echo "attached $dev"
			cmp "$dev" /scratch/disk.raw; echo same-bytes
			/usr/sbin/spfctl detach "$dev"; rmmod spfblk; echo guest-done' 2>&1) &&
	   grep -qx "/lib/modules/$k/updates/dkms/spfblk.ko.*" "$sc/guest.log" &&
	   grep -qx same-bytes "$sc/guest.log" && grep -qx guest-done "$sc/guest.log"; then
		pass "deb-vm-attach-$n"
	else
		fail "deb-vm-attach-$n" "$(tail -n 5 "$sc/guest.log" 2>/dev/null | tr '\n' ' ') $out"
	fi
	lap "guest on $k took $(($(date +%s) - s)) s;"
done

if [ -n "$lintian_pid" ]; then
	if wait "$lintian_pid"; then
		pass deb-lintian
	else
		fail deb-lintian "$(grep -E '^[EW]:' "$T/lintian.out" | head -n 5 | tr '\n' ' ')"
	fi
	grep -E '^[EWIP]:' "$T/lintian.out" | sed 's/^/# lintian: /'
else
	skip deb-lintian "lintian is not installed (scripts/install-deps)"
fi

# --- remove, purge --------------------------------------------------------
dpkg -L $PKGS 2>/dev/null | while IFS= read -r f; do
	[ -d "$f" ] || echo "$f"
done | sort -u > "$T/files"
s=$(date +%s)
if dpkg_run -r $PKGS > "$T/remove.log" 2>&1; then
	pass deb-remove
else
	fail deb-remove "$(tail -n 5 "$T/remove.log" | tr '\n' ' ')"
fi
left=
for k in "${kernels[@]}"; do
	left="$left$(find "/lib/modules/$k" -name 'spfblk.ko*' | tr '\n' ' ')"
	modinfo -k "$k" -n spfblk >/dev/null 2>&1 && left="$left modinfo-$k"
done
[ -z "$(dkms status 2>/dev/null | grep '^spfblk')" ] || left="$left dkms:$(dkms status | grep '^spfblk' | tr '\n' ' ')"
[ ! -e "/usr/src/spfblk-$ver" ] || left="$left /usr/src/spfblk-$ver"
[ ! -e /usr/sbin/spfctl ] || left="$left /usr/sbin/spfctl"
if [ -z "$left" ]; then
	pass deb-remove-clean
else
	fail deb-remove-clean "left:$left"
fi
if dpkg_run -P $PKGS > "$T/purge.log" 2>&1; then
	pass deb-purge
else
	fail deb-purge "$(tail -n 5 "$T/purge.log" | tr '\n' ' ')"
fi
lap "dpkg -r/-P took $(($(date +%s) - s)) s;"
left=
[ -s "$T/files" ] || left=" (no file list)"
while IFS= read -r f; do
	[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done < "$T/files"
for d in "/usr/src/spfblk-$ver" /var/lib/dkms/spfblk /usr/share/doc/spfctl /usr/share/doc/spfblk-dkms; do
	[ ! -e "$d" ] || left="$left $d"
done
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) && [ "${st%% *}" != un ] &&
		[ -n "${st// /}" ] && left="$left $p:$st"
done
if [ -z "$left" ]; then
	pass deb-purge-clean
else
	fail deb-purge-clean "left:$left"
fi
host_state > "$T/state.after"
if cmp -s "$T/state.before" "$T/state.after"; then
	pass deb-host-restored
else
	fail deb-host-restored "$(diff "$T/state.before" "$T/state.after" | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
fi
lap finished
finish
