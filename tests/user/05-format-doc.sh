#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# docs/format.md's byte tables match include/uapi/linux/spf_format.h.
. "$(dirname "$0")/../lib.sh"

cc -std=c11 -Wall -Wextra -Werror -I"$ROOT/include/uapi" \
	"$ROOT/tests/tools/layout.c" -o "$T/layout" || { fail format-layout-build; finish; }
"$T/layout" | sort > "$T/header.txt"

# Rows "| offset | size | field | ..." under a "### `struct NAME`" heading.
awk '
	/^#+ `struct [a-z_]+`/ { s = $0; sub(/^#+ `struct /, "", s); sub(/`.*/, "", s); next }
	/^#/ { s = "" }
	s != "" && /^\| *[0-9]+ *\| *[0-9]+ *\|/ {
		split($0, c, "|"); gsub(/ /, "", c[2]); gsub(/ /, "", c[3]); gsub(/ /, "", c[4])
		print s, c[4], c[2], c[3]
	}' "$ROOT/docs/format.md" | sort > "$T/doc.txt"

if diff -u "$T/header.txt" "$T/doc.txt" > "$T/diff.txt"; then
	pass format-doc-tables
else
	fail format-doc-tables "docs/format.md and spf_format.h differ: $(head -c 600 "$T/diff.txt" | tr '\n' ' ')"
fi

# Every struct size stated in a heading matches sizeof.
cat > "$T/sizes.c" <<EOC
#include <stdio.h>
#include <linux/spf_format.h>
int main(void) {
$(grep -Eo '^#+ `struct [a-z_]+` \([0-9]+ bytes' "$ROOT/docs/format.md" |
	sed -E 's/^#+ `struct ([a-z_]+)` \(([0-9]+) bytes/\1 \2/' |
	while read -r s n; do
		echo "	if (sizeof(struct $s) != $n) { printf(\"$s: %zu, doc says $n\\\\n\", sizeof(struct $s)); return 1; }"
	done)
	return 0;
}
EOC
if cc -I"$ROOT/include/uapi" "$T/sizes.c" -o "$T/sizes" && out=$("$T/sizes"); then
	pass format-doc-sizes
else
	fail format-doc-sizes "$out"
fi
finish
