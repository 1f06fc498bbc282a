#!/usr/bin/env bash
# bench/hello_cpu.sh: server CPU time per request for a 13-byte "Hello, World!" answer:
# build/hello_server (/plaintext) against nginx (return 200) and h2o (a 13-byte file).
# CPU per request (from /proc utime+stime) is robust on a loaded machine, unlike req/s.
#
#   bench/hello_cpu.sh                 5 s per run: keep-alive c100, pipelined 16 deep c256
#   DURATION=10 SERVERS="eddy nginx" bench/hello_cpu.sh
# Server pinned to CPU 0, wrk -t1 to CPU 1 (bench/lib/common.sh); everything started is
# stopped on exit.
set -u
. "$(dirname "$0")/lib/common.sh"
DURATION=${DURATION:-5}
SERVERS=${SERVERS:-eddy nginx h2o}
bench_init
ensure_tools wrk nginx h2o curl
[ -x "$BUILD_DIR/hello_server" ] || make -C "$EDDY_ROOT" -s -j2 BUILD="$BUILD_DIR" "$BUILD_DIR/hello_server" >&2
tmp=$BENCH_TMP
PORT=$(free_port)

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

run() { # server scenario
    local cmd script=$BENCH_LIB/report.lua c=100
    [ "$2" = pipe ] && script=$BENCH_LIB/pipeline.lua c=256
    case $1 in
    eddy) cmd=("$BUILD_DIR/hello_server" -l "127.0.0.1:$PORT" -t 0) ;;
    nginx) cmd=(nginx -c "$tmp/nginx.conf" -p "$tmp") ;;
    h2o) cmd=(h2o -c "$tmp/h2o.conf") ;;
    esac
    start_cmd "$1" "$PORT" /plaintext "${cmd[@]}" || return
    cpu_per_request "$1" "$1 $2" -t1 -c$c -d"${DURATION}s" -s "$script" \
        "http://127.0.0.1:$PORT/plaintext"
    stop_server "$1"
}

echo "wrk -t1 -d${DURATION}s, keep-alive c100 (ka), 16-deep pipelining c256 (pipe); $(machine_load)"
for scen in ka pipe; do
    for s in $SERVERS; do
        run "$s" "$scen"
    done
done
