#!/usr/bin/env bash
# ringwatch.ko follows the kernel coding style: checkpatch.pl --no-tree -f is
# clean over guest/kmod (scripts/lint-kmod).  The lint must also fail on a
# file that breaks the style, so a checkpatch that silently checks nothing
# cannot pass.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cp=$top/build/tools/checkpatch/scripts/checkpatch.pl
[ -x "$cp" ] || { echo "FAIL: $cp missing (make checkpatch)"; exit 1; }

"$top/scripts/lint-kmod" "$cp"

# Negative control: a style break in a copy of the tree must be reported.
work=$(mktemp -d "${TMPDIR:-/tmp}/rw-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/guest/kmod" "$work/scripts"
cp "$top/scripts/lint-kmod" "$work/scripts/"
printf '// SPDX-License-Identifier: GPL-2.0\nint rw_lint_probe(int a)\n{\n    if (a) { return 1; }\n\treturn 0;\n}\n' \
	>"$work/guest/kmod/probe.c"
if out=$("$work/scripts/lint-kmod" "$cp" 2>&1); then
	echo "FAIL: lint-kmod accepted a badly styled file:"
	echo "$out"
	exit 1
fi
grep -q 'probe.c:4:' <<<"$out" || { echo "FAIL: no finding at probe.c:4:"; echo "$out"; exit 1; }
echo "PASS: guest/kmod is checkpatch-clean and the lint catches a style break"
