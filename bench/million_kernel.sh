#!/usr/bin/env bash
# The kernel's side of bench/million.sh (MODE=kernel): eddy-httpd on kernel sockets on
# 127.0.0.1, N idle keep-alive connections (bench/idle_conns) and K active ones (wrk, one
# request at a time per connection), for the epoll and poll backends, up to the
# descriptor cap (ulimit -n; 20,000 here, no CAP_SYS_RESOURCE to raise it).
#   MODE=kernel bench/million.sh
#   NS="0 10000 19000" K=100,1000 D=3 BACKENDS="epoll poll" bench/million_kernel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-"0 10000 19000"}
K=${K:-100,1000}
D=${D:-3}
BACKENDS=${BACKENDS:-"epoll poll"}
BUILD=${BUILD:-build}
cap=$(ulimit -n)
[ -x "$BUILD/eddy-httpd" ] && [ -x "$BUILD/bench/idle_conns" ] || make -j2 >/dev/null
command -v wrk >/dev/null || { echo "million_kernel: wrk is not installed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/million-kernel.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/root"
for i in $(seq 0 99); do head -c $((100 + i)) /dev/zero | tr '\0' 'x' >"$tmp/root/f$i.html"; done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_bytes() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$1/status"; }
port=$((20000 + RANDOM % 20000))
hz=$(getconf CLK_TCK)

for b in $BACKENDS; do
    "$BUILD/eddy-httpd" -l "127.0.0.1:$port" -r "$tmp/root" -t 0 -b "$b" \
        --keepalive-timeout 600 >"$tmp/httpd.log" 2>&1 &
    srv=$!
    pids+=("$srv")
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/f1.html" && break; sleep 0.1; done
    rss0=$(rss_bytes "$srv")
    for n in $NS; do
        idle=""
        if [ "$n" -gt 0 ]; then
            stdbuf -oL "$BUILD/bench/idle_conns" -p "$port" -n "$n" -r /f1.html -d 3600 \
                >"$tmp/idle.log" 2>&1 &
            idle=$!
            pids+=("$idle")
            for _ in $(seq 600); do grep -qs holding "$tmp/idle.log" && break; sleep 0.1; done
        fi
        held=0
        [ -z "$idle" ] || held=$(grep -o 'holding [0-9]*' "$tmp/idle.log" | awk '{ print $2 }' || true)
        rss=$(rss_bytes "$srv")
        per=$([ "$n" -gt 0 ] && echo $(((rss - rss0) / n)) || echo 0)
        # the kernel's socket memory is slab, not the server's RSS: this is eddy's share only
        echo "kernel backend=$b idle=$n held=${held:-0} server_rss=$rss rss_per_idle_user=$per"
        for k in ${K//,/ }; do
            if [ $((n + k + 16)) -gt "$cap" ]; then
                echo "kernel backend=$b idle=$n k=$k: over the descriptor cap ($cap)"
                continue
            fi
            c0=$(cpu_ticks "$srv")
            out=$(wrk -t1 -c "$k" -d "${D}s" "http://127.0.0.1:$port/f1.html" 2>&1 || true)
            c1=$(cpu_ticks "$srv")
            rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
            reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
            errs=$(grep -c 'Socket errors\|Non-2xx' <<<"$out" || true)
            us=$(awk -v c=$((c1 - c0)) -v r="${reqs:-0}" -v hz="$hz" \
                'BEGIN { printf "%.2f", (r > 0 ? c * 1e6 / hz / r : 0) }')
            echo "kernel backend=$b idle=$n k=$k req_s=${rps:-0} server_cpu_us_per_req=$us error_lines=$errs"
        done
        [ -z "$idle" ] || kill "$idle" 2>/dev/null || true
        [ -z "$idle" ] || wait "$idle" 2>/dev/null || true
    done
    kill "$srv"
    wait "$srv" 2>/dev/null || true
done
echo "kernel: descriptor cap $cap per process; at most $((cap - 16)) connections in one server"
