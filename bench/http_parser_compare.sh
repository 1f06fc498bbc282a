#!/usr/bin/env bash
# Measures eddy's request parser next to picohttpparser (as shipped inside Debian's libh2o,
# used only as a yardstick). Installs libh2o-evloop0.13 if missing. Usage: [ITERATIONS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lib=/usr/lib/x86_64-linux-gnu/libh2o-evloop.so.0.13
if [ ! -e "$lib" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libh2o-evloop0.13 >/dev/null
fi
make -s -j2 lib
mkdir -p build/bench
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Iinclude -DEDDY_BENCH_PICO bench/http_parser_bench.c \
    build/libeddy.a "$lib" -pthread -o build/bench/http_parser_compare
exec build/bench/http_parser_compare "${1:-3000000}"
