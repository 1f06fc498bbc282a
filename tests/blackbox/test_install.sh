#!/usr/bin/env bash
# make install into a temporary PREFIX, then the README's library example built against it
# exactly as the README says (cc ... $(pkg-config --cflags --libs eddy)) and run without
# LD_LIBRARY_PATH: it must find libeddy.so.0 and echo. Then make uninstall leaves no file,
# and a DESTDIR staged install for /usr/local lands under DESTDIR with a plain eddy.pc.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${EDDY_BUILD:-$root/build}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
check() { # status, name, detail
    if [ "$1" -eq 0 ]; then echo "ok - $2"; else echo "not ok - $2"; printf '%s\n' "$3" | head -n 12 | sed 's/^/# /'; fi
}
# The same build directory and flags as the tests run against (sanitized builds too).
mk=(make -s -C "$root" BUILD="$build")
cflags=()
case "$(basename "$build")" in
build-san) mk+=(SAN=1) cflags=(-fsanitize=address,undefined) ;;
build-tsan) mk+=(TSAN=1) cflags=(-fsanitize=thread) ;;
esac
prefix=$tmp/prefix
out=$("${mk[@]}" install PREFIX="$prefix" 2>&1)
check $? "make install PREFIX=<temp>" "$out"
missing=""
for f in include/eddy/eddy.h include/eddy/http.h lib/libeddy.a lib/libeddy.so lib/libeddy.so.0 \
         lib/pkgconfig/eddy.pc bin/eddy-httpd bin/eddy-echo-server bin/eddy-hello-server; do
    [ -e "$prefix/$f" ] || missing+=" $f"
done
[ -z "$missing" ] && [ ! -e "$prefix/bin/echo_server" ] && [ ! -e "$prefix/bin/hello_server" ]
check $? "headers, libraries, eddy.pc, eddy-httpd and the examples as eddy-* are installed" \
    "missing:$missing; $(ls "$prefix/bin")"

# The README's example, with a free port instead of 9000.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
awk '/^## Library example/{f=1} f&&/^```c/{p=1;next} p&&/^```/{exit} p' "$root/README.md" |
    sed "s/127.0.0.1:9000/127.0.0.1:$port/" >"$tmp/echo.c"
grep -q "eddy_tcp_server_listen(server, \"127.0.0.1:$port\"" "$tmp/echo.c"
check $? "the README's library example was extracted" "$(head -n 5 "$tmp/echo.c")"
readme_cmd=$(grep -o 'cc -std=c11 echo.c $(pkg-config --cflags --libs eddy)' "$root/README.md")
[ -n "$readme_cmd" ]
check $? "the README says how to build it with pkg-config" ""
out=$(cd "$tmp" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
    cc -std=c11 echo.c $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs eddy) \
    "${cflags[@]}" -o echo 2>&1)
check $? "the README example builds against the installed eddy with pkg-config" "$out"
deps=$(env -u LD_LIBRARY_PATH ldd "$tmp/echo" 2>&1)
grep -q "libeddy.so.0 => $prefix/lib/libeddy.so.0" <<<"$deps"
check $? "it links libeddy.so.0 from the prefix, found without LD_LIBRARY_PATH" "$deps"
env -u LD_LIBRARY_PATH "$tmp/echo" >"$tmp/echo.log" 2>&1 &
pid=$!
reply=$(python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("no listener")
s.sendall(b"hello eddy")
data = b""
while len(data) < 10:
    c = s.recv(100)
    if not c:
        break
    data += c
print(data.decode())
PY
)
[ "$reply" = "hello eddy" ]
check $? "the installed example runs and echoes" "reply '$reply'; $(cat "$tmp/echo.log")"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""

out=$("${mk[@]}" uninstall PREFIX="$prefix" 2>&1)
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ]
check $? "make uninstall removes every installed file" "$out $left"

stage=$tmp/stage
out=$("${mk[@]}" install DESTDIR="$stage" PREFIX=/usr/local 2>&1)
[ -e "$stage/usr/local/lib/libeddy.so.0" ] && grep -qx 'prefix=/usr/local' "$stage/usr/local/lib/pkgconfig/eddy.pc" &&
    ! grep -q rpath "$stage/usr/local/lib/pkgconfig/eddy.pc"
check $? "DESTDIR install for /usr/local: staged files, eddy.pc without rpath (ldconfig's dirs)" \
    "$out $(cat "$stage/usr/local/lib/pkgconfig/eddy.pc" 2>&1)"
"${mk[@]}" uninstall DESTDIR="$stage" PREFIX=/usr/local >/dev/null 2>&1
left=$(find "$stage" -type f -o -type l)
[ -z "$left" ]
check $? "make uninstall with the same DESTDIR removes them" "$left"
