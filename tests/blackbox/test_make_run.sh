#!/usr/bin/env bash
# make run builds only what it runs, in parallel; make test's TSan pass builds only what it
# runs. Checked with `make -n` in a fresh copy of the tree (no build directory), so nothing
# is built and the answer does not depend on what this checkout built before.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || exit 1
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -z | xargs -0 tar cf - | tar xf - -C "$tmp"
else
    tar cf - --exclude='./build*' . | tar xf - -C "$tmp"
fi
cd "$tmp" || exit 1

check() { # condition-status, name, detail
    if [ "$1" -eq 0 ]; then echo "ok - $2"; else echo "not ok - $2"; printf '%s\n' "$3" | head -n 8 | sed 's/^/# /'; fi
}

out=$(make -n run 2>&1)
grep -q -- '-o build/eddy-httpd' <<<"$out"
check $? "make run builds eddy-httpd" "$out"
grep -q 'apps/eddy-httpd/main.c' <<<"$out" && grep -q 'src/http/http_parser.c' <<<"$out"
check $? "make run compiles the server's and the library's sources" "$out"
bad=$(grep -E 'tests/|bench/|apps/examples/|build/tests|build/bench' <<<"$out")
[ -z "$bad" ]
check $? "make run builds no test, bench, fuzz replay or example" "$bad"
grep -Eq -- '^make.* -j ?[0-9]+ .*build/eddy-httpd' <<<"$out"
check $? "make run builds in parallel (a -jN sub-make)" "$(head -n 3 <<<"$out")"
grep -q 'exec build/eddy-httpd --root www' <<<"$out"
check $? "make run then starts eddy-httpd on ./www" "$(tail -n 3 <<<"$out")"

out=$(make -n TSAN=1 test-tsan 2>&1)
links=$(grep -oE -- '-o build-tsan/[^ ]+' <<<"$out" | sed 's/^-o //' | grep -v '/obj/')
bad=$(grep -vE '^build-tsan/(libeddy\.so|eddy-httpd|tests/test_[a-z0-9_]*_mt)$' <<<"$links")
[ -z "$bad" ] && grep -qx 'build-tsan/eddy-httpd' <<<"$links" && grep -q '_mt$' <<<"$links"
check $? "make test's TSan pass builds the library, eddy-httpd and the *_mt tests only" "$bad"
grep -Eq -- '^make.* -j ?[0-9]+ ' <<<"$out"
check $? "make test's builds are parallel" "$(head -n 2 <<<"$out")"
