#!/usr/bin/env bash
# bench/gzip_cpu.sh: server CPU time per request for on-the-fly gzip of a text file:
# eddy-httpd -c (gzip on) against nginx (gzip on), both at the same gzip_comp_level,
# and the same file without compression as the baseline. CPU per request (from /proc
# utime+stime) is robust on a loaded machine, unlike req/s. Not run by `make test`.
#
#   bench/gzip_cpu.sh                       5 s per run, level 1 and 6, a 100 KiB file, c16
#   LEVELS="1 6 9" SIZE_KB=500 DURATION=10 SERVERS="eddy nginx" bench/gzip_cpu.sh
# Server pinned to CPU 0 with one thread / worker, wrk -t1 to CPU 1; everything started is
# stopped on exit.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
SERVERS=${SERVERS:-eddy nginx}
LEVELS=${LEVELS:-1 6}
SIZE_KB=${SIZE_KB:-100}
PORT=${PORT:-18191}
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

need() { command -v "$1" >/dev/null || { apt-get install -y "$2" >/dev/null 2>&1 || true; }; }
need wrk wrk
need nginx nginx-light
[ -x "$root/build/eddy-httpd" ] || make -C "$root" -j2 >/dev/null

mkdir -p "$tmp/www"
# compressible text with some variety (about 4:1 at level 6)
python3 -c "
import random, sys
r = random.Random(1)
words = open('$root/docs/CONFIG.md').read().split()
out = []
n = 0
while n < $SIZE_KB * 1024:
    w = r.choice(words); out.append(w); n += len(w) + 1
sys.stdout.write(' '.join(out)[:$SIZE_KB * 1024])" >"$tmp/www/page.txt"

configs() { # level
    cat >"$tmp/eddy.conf" <<EOF
worker_threads 0; access_log off; keepalive_timeout 3600s;
server { listen 127.0.0.1:$PORT; root $tmp/www;
  location /gz/ { alias $tmp/www/; gzip on; gzip_types text/plain; gzip_comp_level $1; } }
EOF
    cat >"$tmp/nginx.conf" <<EOF
user root; worker_processes 1; daemon off; master_process off;
pid $tmp/nginx.pid; error_log $tmp/nginx.err warn;
events { worker_connections 4096; use epoll; }
http { access_log off; keepalive_timeout 3600s; keepalive_requests 1000000000;
  sendfile on; default_type text/plain;
  server { listen 127.0.0.1:$PORT backlog=4096; root $tmp/www;
    location /gz/ { alias $tmp/www/; gzip on; gzip_types text/plain; gzip_comp_level $1; } } }
EOF
}

start() {
    case $1 in
    eddy) taskset -c 0 "$root/build/eddy-httpd" -c "$tmp/eddy.conf" 2>/dev/null & ;;
    nginx) taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp" 2>/dev/null & ;;
    esac
    pid=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/page.txt" && return 0
        sleep 0.1
    done
    echo "$1 did not start" >&2
    return 1
}

cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

run() { # server level path
    configs "$([ "$2" = - ] && echo 1 || echo "$2")"
    start "$1" || return
    local t0 reqs t1 hz
    t0=$(cpu_ticks "$pid")
    reqs=$(taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" -H 'Accept-Encoding: gzip' \
        "http://127.0.0.1:$PORT/$3" | awk '/requests in/ {print $1}')
    t1=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    hz=$(getconf CLK_TCK)
    awk -v s="$1" -v l="$2" -v p="$3" -v r="$reqs" -v t=$((t1 - t0)) -v hz="$hz" -v d="$DURATION" \
        'BEGIN { printf "%-6s level %s %-12s %8.0f req/s %9.1f us CPU/request\n", s, l, p, r / d, r ? t * 1e6 / hz / r : 0 }'
}

echo "file: ${SIZE_KB} KiB of text; wrk -t1 -c16 -d${DURATION}s, Accept-Encoding: gzip"
for s in $SERVERS; do
    run "$s" - page.txt
    for l in $LEVELS; do
        run "$s" "$l" gz/page.txt
    done
done
