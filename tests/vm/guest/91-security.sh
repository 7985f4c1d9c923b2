#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Layer descriptors: only regular files open for reading (and not for
# writing) are accepted.  Raw SPF_IOC_ATTACH with a directory, O_WRONLY,
# O_RDWR, O_PATH and O_DIRECT descriptors, a pipe, a socket, a block and a
# char device: each refused with the documented errno and one kernel log
# line naming the reason.  The images are never opened for writing: an
# immutable image and one on a read-only bind mount attach and read right.
# Then module unload racing attach: rmmod/insmod loops against attach/
# verify/detach loops; at the end a consistent state, a clean unload and a
# reload that reads right.
. "$(dirname "$0")/../../lib.sh"

good=$SPF_FIX/bad/good
gsha=$(meta "$SPF_FIX/bad/bad.meta" good_sha)
cp "$good/a.spf" "$T/a.spf"

# refuse NAME ERRNO LOGTEXT KIND [PATH]: spfioc attachfd KIND PATH must fail
# with ERRNO and the kernel must log one "spfblk: attach: ..." line
# containing LOGTEXT.
refuse() {
	local name=$1 want=$2 text=$3 out rc log; shift 3
	kmsg_mark
	out=$("$SPFIOC" attachfd "$@" 2>&1) && rc=0 || rc=$?
	log=$(kmsg_since | grep 'spfblk: attach:')
	if [ "$rc" = 0 ]; then
		fail "$name" "attached as /dev/spf$out"
		"$SPFIOC" detach "$out" 2>/dev/null
	elif [[ "$out" != *"attach: $want ("* ]]; then
		fail "$name" "expected $want: $out"
	elif [ "$(printf '%s\n' "$log" | grep -c .)" != 1 ]; then
		fail "$name" "expected one kernel log line, got: $(printf '%s' "$log" | tr '\n' '|')"
	elif [[ "$log" != *"$text"* ]]; then
		fail "$name" "kernel log line lacks '$text': $log"
	else
		pass "$name"
	fi
}

# The accepted case first, so that the refusals below are not an artefact.
"$SPFCTL" export "$T/a.spf" "$T/a.raw" 2>/dev/null
if out=$("$SPFIOC" attachfd rdonly "$T/a.spf" 2>&1); then
	cmp -s "/dev/spf$out" "$T/a.raw" && r=0 || r=1
	if ! "$SPFIOC" detach "$out"; then
		fail layer-fd-rdonly-accepted "detach /dev/spf$out failed"
	elif [ "$r" != 0 ]; then
		fail layer-fd-rdonly-accepted "/dev/spf$out differs from the export of a.spf"
	else
		pass layer-fd-rdonly-accepted
	fi
else
	fail layer-fd-rdonly-accepted "$out"
fi

refuse layer-fd-directory EINVAL "($T): not a regular file" rdonly "$T"
refuse layer-fd-wronly EBADF "($T/a.spf): descriptor not open for reading" wronly "$T/a.spf"
refuse layer-fd-rdwr EINVAL "($T/a.spf): descriptor open for writing" rdwr "$T/a.spf"
refuse layer-fd-opath EBADF "is not open" path "$T/a.spf"
refuse layer-fd-pipe EINVAL "(pipe:[" pipe
refuse layer-fd-socket EINVAL "(socket:[" socket
refuse layer-fd-chardev EINVAL "(/dev/zero): not a regular file" rdonly /dev/zero
# O_DIRECT: tmpfs takes it from 6.6 on; elsewhere the host's copy (9p).
dfile=$T/a.spf
dd if="$dfile" iflag=direct bs=4k count=1 of=/dev/null 2>/dev/null ||
	dfile=$SPF_FIXSRC/bad/good/a.spf
if dd if="$dfile" iflag=direct bs=4k count=1 of=/dev/null 2>/dev/null; then
	refuse layer-fd-odirect EINVAL "descriptor opened with O_DIRECT" direct "$dfile"
else
	skip layer-fd-odirect "no file system here takes O_DIRECT opens"
fi
# A block device: an spf device itself (a chain cannot be stacked on one).
if vm_attach layer-fd-blockdev -P "$good/b.spi"; then
	refuse layer-fd-blockdev EINVAL "($DEV): not a regular file" rdonly "$DEV"
	vm_detach layer-fd-blockdev-detach "$DEV"
fi

# ---- images are never opened for writing ------------------------------------------
# Immutable (chattr +i: any open for writing fails with EPERM) and on a
# read-only bind mount (EROFS): both attach and read right, and while
# attached the image can still be opened for reading only.
mkdir -p "$T/imm" "$T/ro" "$T/rosrc"
cp "$good/a.spf" "$good/b.spi" "$T/imm/"
cp "$good/a.spf" "$good/b.spi" "$T/rosrc/"
if ! err=$(chattr +i "$T/imm/a.spf" "$T/imm/b.spi" 2>&1); then
	fail layer-immutable "chattr +i on tmpfs: $err"
elif : 2>/dev/null >> "$T/imm/b.spi"; then
	fail layer-immutable "chattr +i did not make the image immutable"
elif vm_attach layer-immutable -P "$T/imm/b.spi"; then
	sha=$(sha_of "$DEV")
	[ "$sha" = "$gsha" ] && pass layer-immutable ||
		fail layer-immutable "wrong data from an immutable chain: $sha"
	vm_detach layer-immutable-detach "$DEV"
fi
chattr -i "$T/imm/a.spf" "$T/imm/b.spi" 2>/dev/null
if ! err=$(mount --bind "$T/rosrc" "$T/ro" 2>&1 && mount -o remount,bind,ro "$T/ro" 2>&1); then
	fail layer-ro-bind-mount "read-only bind mount: $err"
else
	if : 2>/dev/null >> "$T/ro/b.spi"; then
		fail layer-ro-bind-mount "the bind mount is writable"
	elif vm_attach layer-ro-bind-mount -P "$T/ro/b.spi"; then
		sha=$(sha_of "$DEV")
		[ "$sha" = "$gsha" ] && pass layer-ro-bind-mount ||
			fail layer-ro-bind-mount "wrong data from a read-only mount: $sha"
		vm_detach layer-ro-bind-mount-detach "$DEV"
	fi
	umount "$T/ro"
fi
# A writable copy, attached and read twice: its bytes and mtime stay the
# same.
if vm_attach layer-not-written -P "$T/rosrc/b.spi"; then
	s0=$(cat "$T/rosrc/a.spf" "$T/rosrc/b.spi" | sha256sum; stat -c %Y.%y "$T/rosrc/a.spf" "$T/rosrc/b.spi")
	sha_of "$DEV" > /dev/null
	sha_of "$DEV" > /dev/null
	s1=$(cat "$T/rosrc/a.spf" "$T/rosrc/b.spi" | sha256sum; stat -c %Y.%y "$T/rosrc/a.spf" "$T/rosrc/b.spi")
	# execve() refuses a file someone has open for writing (ETXTBSY:
	# i_writecount > 0); an image the driver holds only for reading gives
	# ENOEXEC (not an executable format) instead.
	# (execv, not a shell or execvp: those run an ENOEXEC file as a script.)
	chmod +x "$T/rosrc/b.spi"
	ex=$("$PYTHON" -c 'import os, sys
try:
    os.execv(sys.argv[1], [sys.argv[1]])
except OSError as e:
    print(os.strerror(e.errno))' "$T/rosrc/b.spi" 2>&1)
	if [ "$s0" != "$s1" ]; then
		fail layer-not-written "the images changed while attached and read"
	elif [ "$ex" != "Exec format error" ]; then
		fail layer-not-written "exec of the attached image: '$ex' (Text file busy: someone holds it open for writing)"
	else
		pass layer-not-written
	fi
	vm_detach layer-not-written-detach "$DEV"
fi

# ---- rmmod racing attach ------------------------------------------------------------
# One loop unloads and reloads the module; two others attach, compare every
# byte, detach (cycles that find no driver are skipped).  Nothing may
# crash or leak; at the end the module is unloaded and reloaded, and a
# chain reads right.
"$SPFCTL" export "$good/b.spi" "$T/good.raw" 2>/dev/null
if [ "$(sha_of "$T/good.raw")" != "$gsha" ]; then
	fail rmmod-race "the export of $good/b.spi does not match good_sha"
else
	secs=${SPF_RMMOD_SECONDS:-8}
	(
		end=$((SECONDS + secs)) n=0 u=0
		while [ "$SECONDS" -lt "$end" ]; do
			if rmmod spfblk 2>/dev/null; then
				u=$((u + 1))
				insmod "$SPF_MODULE" 2>/dev/null || { echo "insmod failed"; exit 1; }
			fi
			n=$((n + 1))
		done
		echo "$n rmmod attempts, $u unloads"
	) > "$T/rm.out" 2>&1 &
	rmp=$!
	"$SPFIOC" cyclecheck -r -t "$secs" 100000 "$T/good.raw" "$good/a.spf" "$good/b.spi" > "$T/rc1" 2>&1 &
	c1=$!
	"$SPFIOC" cyclecheck -r -t "$secs" 100000 "$T/a.raw" "$T/a.spf" > "$T/rc2" 2>&1 &
	c2=$!
	wait "$rmp"; rrc=$?
	wait "$c1"; r1=$?
	wait "$c2"; r2=$?
	echo "# rmmod race: $(cat "$T/rm.out"); attach loops: $(cat "$T/rc1" "$T/rc2" | tr '\n' ' ')"
	if [ "$rrc" -ne 0 ]; then
		fail rmmod-race "$(cat "$T/rm.out")"
	elif [ "$r1" -ne 0 ] || [ "$r2" -ne 0 ]; then
		fail rmmod-race "attach loop: $(tail -n 2 "$T/rc1" "$T/rc2" | tr '\n' ' ')"
	elif ! grep -q ' [1-9][0-9]* checked' "$T/rc1"; then
		fail rmmod-race "no attach got through during the race: $(cat "$T/rc1")"
	else
		pass rmmod-race
		# Each rmmod that found a device attached (or the control node
		# open) was refused mid-race; one that found a window unloaded
		# the driver under the attach loops.  On a quiet host the loops
		# may leave no window in the time given.
		if grep -q ' [1-9][0-9]* unloads' "$T/rm.out"; then
			pass rmmod-race-unloaded
		else
			skip rmmod-race-unloaded "no window to unload in ${secs} s: $(cat "$T/rm.out")"
		fi
	fi
	# Nothing may be left; whatever is must still read right.
	grep -q '^spfblk ' /proc/modules || insmod "$SPF_MODULE"
	ok=1
	for d in $(spf_devices); do
		ok=0; fail rmmod-race-state "$d left attached after the race"
		"$SPFIOC" detach "${d#/dev/spf}" || { ok=0; fail rmmod-race-state "cannot detach $d"; }
	done
	if err=$(rmmod spfblk 2>&1) && [ ! -e /dev/spf-control ]; then
		if err=$(insmod "$SPF_MODULE" 2>&1) && vm_attach rmmod-race-reload -P "$good/b.spi"; then
			sha=$(sha_of "$DEV")
			[ "$sha" = "$gsha" ] || { ok=0; fail rmmod-race-reload "wrong data after reload: $sha"; }
			vm_detach rmmod-race-reload "$DEV" || ok=0
		else
			ok=0; fail rmmod-race-reload "insmod: $err"
		fi
	else
		ok=0; fail rmmod-race-state "rmmod after the race: $err"
	fi
	[ "$ok" = 1 ] && pass rmmod-race-state
fi
finish
