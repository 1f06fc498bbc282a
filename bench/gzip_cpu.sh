#!/usr/bin/env bash
# bench/gzip_cpu.sh: server CPU time per request for on-the-fly gzip of a text file:
# eddy-httpd (gzip on) against nginx (gzip on), both compressing the same file at the same
# gzip_comp_level with the same zlib window and memory level (15 and 8: eddy's fixed ones,
# nginx's defaults for a file of 16 KiB or more), and the same file sent uncompressed as the
# baseline. Before each measured run a curl check makes sure the answer really is gzip
# (Content-Encoding: gzip, decompressing to the file), or identity for the baseline. CPU per
# request (from /proc utime+stime) is robust on a loaded machine, unlike req/s. Not run by
# `make test`.
#
#   bench/gzip_cpu.sh                       5 s per run, level 1 and 6, a 100 KiB file, c16
#   LEVELS="1 6 9" SIZE_KB=500 DURATION=10 SERVERS="eddy nginx" bench/gzip_cpu.sh
# Server pinned to CPU 0 with one thread / worker, wrk -t1 to CPU 1 (bench/lib/common.sh);
# everything started is stopped on exit.
set -u
. "$(dirname "$0")/lib/common.sh"
DURATION=${DURATION:-5}
SERVERS=${SERVERS:-eddy nginx}
LEVELS=${LEVELS:-1 6}
SIZE_KB=${SIZE_KB:-100}
bench_init
ensure_tools wrk nginx curl gzip
find_eddy
[ "$HAVE_EDDY" = 1 ] || die "no eddy-httpd"
tmp=$BENCH_TMP
PORT=$(free_port)

mkdir -p "$tmp/www"
# compressible text with some variety (about 4:1 at level 6)
python3 -c "
import random, sys
r = random.Random(1)
words = open('$EDDY_ROOT/docs/CONFIG.md').read().split()
out = []
n = 0
while n < $SIZE_KB * 1024:
    w = r.choice(words); out.append(w); n += len(w) + 1
sys.stdout.write(' '.join(out)[:$SIZE_KB * 1024])" >"$tmp/www/page.txt"

configs() { # level
    cat >"$tmp/eddy.conf" <<EOF
worker_threads 0; access_log off; keepalive_timeout 3600s; keepalive_requests 1000000000;
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

# check server path encoding(gzip|identity): one curl answer is what the row claims to measure.
check() {
    local url=http://127.0.0.1:$PORT/$2 got size
    curl -s -H 'Accept-Encoding: gzip' -D "$tmp/head" -o "$tmp/body" "$url" || {
        log "$1: curl $url failed"
        return 1
    }
    got=$(tr -d '\r' <"$tmp/head" | awk -F': *' 'tolower($1) == "content-encoding" {print $2}')
    if [ "$3" = gzip ]; then
        [ "$got" = gzip ] && gzip -dc "$tmp/body" | cmp -s - "$tmp/www/page.txt" || {
            log "$1: $url is not the file gzipped (Content-Encoding: '${got:-none}')"
            return 1
        }
    elif [ -n "$got" ] || ! cmp -s "$tmp/body" "$tmp/www/page.txt"; then
        log "$1: $url is not the file as it is (Content-Encoding: '$got')"
        return 1
    fi
    size=$(stat -c %s "$tmp/body")
    log "$1 /$2: Content-Encoding: ${got:-identity}, body $size bytes"
}

run() { # server level(- for none) path encoding
    local cmd
    configs "$([ "$2" = - ] && echo 1 || echo "$2")"
    case $1 in
    eddy) cmd=("$EDDY_HTTPD" -c "$tmp/eddy.conf") ;;
    nginx) cmd=(nginx -c "$tmp/nginx.conf" -p "$tmp") ;;
    esac
    start_cmd "$1" "$PORT" /page.txt "${cmd[@]}" || return
    check "$1" "$3" "$4" &&
        cpu_per_request "$1" "$1 $4 ${2/-/}" -t1 -c16 -d"${DURATION}s" -H 'Accept-Encoding: gzip' \
            -s "$BENCH_LIB/report.lua" "http://127.0.0.1:$PORT/$3"
    stop_server "$1"
}

echo "file: ${SIZE_KB} KiB of text; wrk -t1 -c16 -d${DURATION}s, Accept-Encoding: gzip; $(machine_load)"
for s in $SERVERS; do
    run "$s" - page.txt identity
    for l in $LEVELS; do
        run "$s" "$l" gz/page.txt gzip
    done
done
