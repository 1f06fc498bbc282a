#!/usr/bin/env bash
# Every C source and header follows the checked-in .clang-format (the style the guide asks for).
# One ok line per top-level directory; a failure names the files and the first differences.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
# Pinned: clang-format 15 to 19 format _Generic associations, brace initialisers in macros
# and a minus after a parenthesis otherwise than 14 does, so the verdict would depend on the
# machine. scripts/deps.sh installs clang-format-14; CLANG_FORMAT overrides.
cf=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$cf" >/dev/null; then
    echo "not ok - $cf is not installed (scripts/deps.sh installs it)"
    exit 1
fi
echo "# $("$cf" --version)"
files() { # tracked (and untracked, not ignored) C files under $1
    if git rev-parse --git-dir >/dev/null 2>&1; then
        git ls-files -co --exclude-standard -- "$1/*.c" "$1/*.h"
    else
        find "$1" -name '*.[ch]' -not -path '*/build*'
    fi
}
for dir in include src apps bench tests; do
    bad=()
    while IFS= read -r f; do
        [ -f "$f" ] || continue
        "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done < <(files "$dir")
    if [ ${#bad[@]} -eq 0 ]; then
        echo "ok - $dir/ follows .clang-format"
    else
        echo "not ok - $dir/: ${#bad[@]} file(s) differ from .clang-format: ${bad[*]}"
        "$cf" --dry-run "${bad[0]}" 2>&1 | head -n 12 | sed 's/^/# /'
    fi
done
