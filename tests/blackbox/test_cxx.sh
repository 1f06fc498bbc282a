#!/usr/bin/env bash
# A C++ program (tests/cxx/cxx_embed.cpp) compiled with g++ and linked against libeddy:
# once against the build tree's libeddy.a, once against a copy installed by `make install`
# into a temporary prefix (headers, libeddy.so, eddy.pc through pkg-config).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${EDDY_BUILD:-$root/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
san=()
case "$(basename "$build")" in
*tsan*) san=(-fsanitize=thread) ;;
*san*) san=(-fsanitize=address,undefined) ;;
esac
if ! command -v g++ >/dev/null; then
    echo "not ok - g++ is not installed (scripts/deps.sh installs it)"
    exit 1
fi
cxx=(g++ -std=c++11 -Wall -Wextra -Werror -pedantic "${san[@]}")
ssl=$(pkg-config --libs openssl 2>/dev/null)

# Every header declaring something wraps it in extern "C" (eddy.h only includes others),
# and all of them together compile as C++.
missing=()
for h in "$root"/include/eddy/*.h; do
    [ "$(basename "$h")" = eddy.h ] && continue
    grep -q 'extern "C"' "$h" || missing+=("$(basename "$h")")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "ok - every public header has extern \"C\""
else
    echo "not ok - no extern \"C\" in: ${missing[*]}"
fi
for h in "$root"/include/eddy/*.h; do echo "#include <eddy/$(basename "$h")>"; done >"$tmp/all.cpp"
if "${cxx[@]}" -I"$root/include" -fsyntax-only "$tmp/all.cpp" 2>"$tmp/all.err"; then
    echo "ok - every public header compiles as C++ (g++ -std=c++11 -pedantic)"
else
    echo "not ok - the public headers do not compile as C++"
    sed 's/^/# /' "$tmp/all.err" | head -20
fi

if "${cxx[@]}" -I"$root/include" "$root/tests/cxx/cxx_embed.cpp" "$build/libeddy.a" -pthread $ssl \
    -o "$tmp/tree" 2>"$tmp/tree.err"; then
    echo "ok - g++ compiles and links a program against the build tree's libeddy.a"
    "$tmp/tree" | sed 's/c++:/tree:/'
else
    echo "not ok - g++ against the build tree"
    sed 's/^/# /' "$tmp/tree.err" | head -20
fi

prefix="$tmp/prefix"
if make -s -C "$root" install PREFIX="$prefix" BUILD="$build" >"$tmp/install.log" 2>&1; then
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    if "${cxx[@]}" "$root/tests/cxx/cxx_embed.cpp" $(pkg-config --cflags --libs eddy) \
        -o "$tmp/installed" 2>"$tmp/inst.err"; then
        echo "ok - g++ compiles and links against the installed copy (pkg-config eddy)"
        LD_LIBRARY_PATH="$prefix/lib" "$tmp/installed" | sed 's/c++:/installed:/'
        if LD_LIBRARY_PATH="$prefix/lib" ldd "$tmp/installed" 2>/dev/null | grep -q "$prefix/lib/libeddy.so"; then
            echo "ok - the installed program runs on the installed libeddy.so"
        else
            echo "not ok - the installed program did not load $prefix/lib/libeddy.so"
        fi
    else
        echo "not ok - g++ against the installed copy"
        sed 's/^/# /' "$tmp/inst.err" | head -20
    fi
else
    echo "not ok - make install PREFIX=$prefix failed"
    sed 's/^/# /' "$tmp/install.log" | head -20
fi
