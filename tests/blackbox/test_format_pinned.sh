#!/usr/bin/env bash
# The style check must not depend on which clang-format is first in PATH: with another
# version (or a broken one) as plain `clang-format`, tests/blackbox/test_format.sh still
# gives its verdict with the pinned clang-format-14. Also checks it reports that version.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
other=$(ls /usr/bin/clang-format-[0-9]* 2>/dev/null | grep -v -- '-14$' | grep -v diff | sort -V | tail -n 1)
if [ -n "$other" ]; then
    ln -s "$other" "$shim/clang-format"
    what="$(basename "$other") as clang-format"
else # no other version installed: one that reformats everything differently stands in
    printf '#!/bin/sh\necho "clang-format version 99.0.0 (stand-in)"\nexit 1\n' >"$shim/clang-format"
    chmod +x "$shim/clang-format"
    what="a stand-in clang-format 99 that fails every check"
fi
out=$(PATH="$shim:$PATH" bash "$root/tests/blackbox/test_format.sh" 2>&1)
rc=$?
if [ $rc -eq 0 ] && ! grep -q '^not ok' <<<"$out"; then
    echo "ok - with $what first in PATH the style check passes (it uses the pinned version)"
else
    echo "not ok - with $what first in PATH the style check fails"
    sed 's/^/# /' <<<"$out" | head -n 20
fi
if grep -q '^# .*clang-format version 14\.' <<<"$out"; then
    echo "ok - the style check reports the pinned clang-format 14"
else
    echo "not ok - the style check does not report clang-format 14"
    sed 's/^/# /' <<<"$out" | head -n 5
fi
