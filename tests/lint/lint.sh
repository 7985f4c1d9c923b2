#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel code style and static checks: checkpatch --strict on every kernel
# source and uapi header, and a W=1 + sparse (C=1) build free of warnings
# on each test kernel.
. "$(dirname "$0")/../lib.sh"

# checkpatch and its data files, from Debian's linux-source-6.1 tarball.
cp_dir=$ROOT/build/checkpatch
if [ ! -x "$cp_dir/scripts/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.1*.tar.xz 2>/dev/null | head -n 1)
	if [ -z "$tarball" ]; then
		fail lint-checkpatch "linux-source-6.1 is not installed (scripts/install-deps)"
		finish
	fi
	mkdir -p "$cp_dir"
	top=$(tar -tJf "$tarball" | head -n 1 | cut -d/ -f1)
	tar -xJf "$tarball" -C "$cp_dir" --strip-components=1 \
		"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
		"$top/scripts/const_structs.checkpatch"
fi

# Ignored, and why:
#   CAMELCASE            kernel APIs we call are named so (zlib_inflateInit2)
#   LINUX_VERSION_CODE   (compat.h only) that header exists to test it, so
#                        that no other file has to
for f in "$ROOT"/drivers/block/spfblk/*.[ch] "$ROOT"/include/uapi/linux/*.h; do
	name=checkpatch-$(basename "$f")
	ignore=FILE_PATH_CHANGES,SPDX_LICENSE_TAG,CAMELCASE
	[ "$(basename "$f")" = compat.h ] && ignore=$ignore,LINUX_VERSION_CODE
	if out=$(perl "$cp_dir/scripts/checkpatch.pl" --no-tree --strict --quiet \
		--ignore "$ignore" -f "$f" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | grep -E '^(ERROR|WARNING|CHECK)' | head -n 3 | tr '\n' ' ')"
	fi
done

for series in 6.1 6.12; do
	if ! kver=$("$ROOT/tests/vm/kernels" --kver "$series" 2>&1); then
		fail "lint-build-$series" "$kver"
		continue
	fi
	log=$T/build-$series.log
	rm -rf "$ROOT/build/kmod/$kver"
	if "$ROOT/scripts/build-module" "$kver" W=1 C=1 > "$log" 2>&1; then
		if grep -E 'warning:|error:' "$log" > "$T/warn.txt"; then
			fail "lint-build-$series" "W=1/sparse warnings: $(head -n 3 "$T/warn.txt" | tr '\n' ' ')"
		else
			pass "lint-build-$series"
		fi
	else
		fail "lint-build-$series" "build failed: $(grep -E 'error' "$log" | head -n 3 | tr '\n' ' ')"
	fi
	rm -rf "$ROOT/build/kmod/$kver"
done
finish
