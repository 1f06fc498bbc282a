#!/usr/bin/env bash
# bench/hello_cpu.sh: server CPU time per request for a 13-byte "Hello, World!" answer:
# build/hello_server (/plaintext) against nginx (return 200) and h2o (a 13-byte file).
# CPU per request (from /proc utime+stime) is robust on a loaded machine, unlike req/s.
#
#   bench/hello_cpu.sh                 5 s per run: keep-alive c100, pipelined 16 deep c256
#   DURATION=10 SERVERS="eddy nginx" bench/hello_cpu.sh
# Server pinned to CPU 0, wrk -t1 to CPU 1; everything started is stopped on exit.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
SERVERS=${SERVERS:-eddy nginx h2o}
PORT=${PORT:-18190}
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
need h2o h2o
[ -x "$root/build/hello_server" ] || make -C "$root" -j2 >/dev/null

printf 'Hello, World!' >"$tmp/plaintext"
cat >"$tmp/nginx.conf" <<EOF
user root; worker_processes 1; daemon off; master_process off;
pid $tmp/nginx.pid; error_log $tmp/nginx.err warn;
events { worker_connections 4096; use epoll; }
http { access_log off; keepalive_timeout 3600s; keepalive_requests 1000000000;
  server { listen 127.0.0.1:$PORT backlog=4096;
    location /plaintext { default_type text/plain; return 200 "Hello, World!"; } } }
EOF
cat >"$tmp/h2o.conf" <<EOF
user: root
listen: {host: 127.0.0.1, port: $PORT}
num-threads: 1
pid-file: $tmp/h2o.pid
error-log: $tmp/h2o.err
http1-request-timeout: 3600
hosts: {default: {paths: {/: {file.dir: $tmp}}}}
EOF

start() {
    case $1 in
    eddy) taskset -c 0 "$root/build/hello_server" -l 127.0.0.1:$PORT -t 0 2>/dev/null & ;;
    nginx) taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp" 2>/dev/null & ;;
    h2o) taskset -c 0 h2o -c "$tmp/h2o.conf" >/dev/null 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/plaintext" && return 0
        sleep 0.1
    done
    echo "$1 did not start" >&2
    return 1
}

cpu_ticks() { # utime + stime of the process and its threads/children
    awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}

run() { # server scenario
    local extra=() c=100
    [ "$2" = pipe ] && extra=(-s "$root/bench/lib/pipeline.lua") c=256
    start "$1" || return
    local spid=$pid
    [ "$1" = h2o ] && spid=$(pgrep -n -P "$pid" h2o || echo "$pid")
    local t0 reqs t1
    t0=$(cpu_ticks "$spid")
    reqs=$(BENCH_LIB="$root/bench/lib" taskset -c 1 wrk -t1 -c$c -d"${DURATION}s" "${extra[@]}" \
        "http://127.0.0.1:$PORT/plaintext" | awk '/requests in/ {print $1}')
    t1=$(cpu_ticks "$spid")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    local hz
    hz=$(getconf CLK_TCK)
    awk -v s="$1" -v sc="$2" -v r="$reqs" -v t=$((t1 - t0)) -v hz="$hz" -v d="$DURATION" \
        'BEGIN { printf "%-6s %-5s %10.0f req/s %8.2f us CPU/request\n", s, sc, r / d, r ? t * 1e6 / hz / r : 0 }'
}

for scen in ka pipe; do
    for s in $SERVERS; do
        run "$s" "$scen"
    done
done
