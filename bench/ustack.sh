#!/usr/bin/env bash
# bench/ustack.sh: eddy-httpd on ustack over a TAP against eddy-httpd on the kernel's stack,
# both reached by Linux's TCP from a client namespace (docs/BENCHMARKS-ustack.md).
#
#   bench/ustack.sh                      # as root; DURATION=5 ROUNDS=3 CONNS=50 IDLE=5000
#   DURATION=3 ROUNDS=1 bench/ustack.sh  # quick
#   KOFFLOAD=off bench/ustack.sh         # kernel case with TSO/GSO/GRO off on its veth
#   THREADS=2 bench/ustack.sh            # both servers with 2 sub-reactors (ustack: 2 queues)
#
# Setup (everything inside two namespaces this script creates and deletes on exit):
#   client namespace C: wrk, curl, idle_conns; its interface 198.18.0.1/24 is
#     - ustack case: the kernel side of the TAP that eddy-httpd --stack user opens
#       (the server process holds the TAP's descriptor; ustack is 198.18.0.2),
#     - kernel case: one end of a veth pair whose other end, 198.18.0.2/24, is in
#       server namespace S, where eddy-httpd listens on kernel sockets.
#   So the client, its addresses, its TCP and the server program are the same; what
#   differs is the server's TCP/IP stack and its link (TAP read/write vs veth).
# Measures per case: Connection: close and keep-alive req/s (wrk -t1, CONNS connections,
# index.html of 6 bytes) with the server's CPU per request (utime+stime of the server
# process over the run), 100 MB download throughput (curl, best of ROUNDS), server RSS
# per idle keep-alive connection (idle_conns, IDLE connections; kernel case: plus the
# TCP slab growth, since kernel socket memory is not in RSS). Then ustack handshakes
# per second over a memlink (build/bench/ustack_handshakes, two stacks in one thread).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-3} CONNS=${CONNS:-50} IDLE=${IDLE:-5000}
THREADS=${THREADS:-0} KOFFLOAD=${KOFFLOAD:-on} BIG_MB=${BIG_MB:-100}
HTTPD=${HTTPD:-$root/build/eddy-httpd}
IDLE_CONNS=$root/build/bench/idle_conns HS=$root/build/bench/ustack_handshakes
NSC=eddy-usb-c-$$ NSS=eddy-usb-s-$$ TAP=eddyusb$$ VETH=eddyvb$$
URL=http://198.18.0.2:8080
SRV_PID="" TMP=$(mktemp -d)

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    ip netns del "$NSC" 2>/dev/null
    ip netns del "$NSS" 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || { echo "bench/ustack.sh: needs root (namespaces, TAP)" >&2; exit 1; }
for t in wrk curl ip; do
    command -v $t >/dev/null || { echo "bench/ustack.sh: $t is not installed" >&2; exit 1; }
done
[ -x "$HTTPD" ] && [ -x "$IDLE_CONNS" ] && [ -x "$HS" ] || (cd "$root" && make -j2 >/dev/null) || exit 1

mkdir -p "$TMP/www"
printf 'hello\n' >"$TMP/www/index.html"
head -c $((BIG_MB * 1000 * 1000)) /dev/urandom >"$TMP/www/big.bin"
ip netns add "$NSC" && ip netns add "$NSS" || exit 1
ip -n "$NSC" link set lo up
ip -n "$NSS" link set lo up

ticks() { # utime+stime of the server (all threads), clock ticks
    local f
    f=$(sed 's/.*) //' "/proc/$SRV_PID/stat") && set -- $f && echo $((${12} + ${13}))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SRV_PID/status"; }
tcp_slab_kb() { awk '$1 == "TCP" {print int($2 * $4 / 1024)}' /proc/slabinfo; }

wait_up() {
    for _ in $(seq 100); do
        ip netns exec "$NSC" curl -s -m 1 -o /dev/null "$URL/index.html" && return 0
        sleep 0.1
    done
    echo "server did not come up" >&2
    return 1
}

start_ustack() {
    ip netns exec "$NSC" "$HTTPD" --stack user --tap "$TAP" --ip 198.18.0.2/24 -l :8080 \
        --root "$TMP/www" --threads "$THREADS" 2>"$TMP/srv.log" &
    SRV_PID=$!
    for _ in $(seq 100); do ip -n "$NSC" link show "$TAP" >/dev/null 2>&1 && break; sleep 0.05; done
    ip -n "$NSC" addr add 198.18.0.1/24 dev "$TAP"
    ip -n "$NSC" link set "$TAP" up
    wait_up
}

start_kernel() {
    ip link add "$VETH"a netns "$NSC" type veth peer name "$VETH"b netns "$NSS"
    ip -n "$NSC" addr add 198.18.0.1/24 dev "$VETH"a
    ip -n "$NSS" addr add 198.18.0.2/24 dev "$VETH"b
    if [ "$KOFFLOAD" = off ]; then
        ip netns exec "$NSC" ethtool -K "$VETH"a tso off gso off gro off >/dev/null 2>&1
        ip netns exec "$NSS" ethtool -K "$VETH"b tso off gso off gro off >/dev/null 2>&1
    fi
    ip -n "$NSC" link set "$VETH"a up
    ip -n "$NSS" link set "$VETH"b up
    ip netns exec "$NSS" "$HTTPD" -l 198.18.0.2:8080 --root "$TMP/www" \
        --threads "$THREADS" 2>"$TMP/srv.log" &
    SRV_PID=$!
    wait_up
}

stop_server() {
    kill "$SRV_PID" && wait "$SRV_PID"
    SRV_PID=""
    ip -n "$NSC" link del "$VETH"a 2>/dev/null
    sleep 0.5
}

# wrk_run NAME ARGS... -> "req/s us-cpu-per-request errors"
wrk_run() {
    local name=$1 t0 t1 out rps reqs errs
    shift
    t0=$(ticks)
    out=$(ip netns exec "$NSC" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "$URL/index.html" 2>&1)
    t1=$(ticks)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    errs=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out" | tr '\n' ' ')
    echo "$name ${rps:-0} $(awk -v t=$((t1 - t0)) -v r="${reqs:-0}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f", r ? t * 1e6 / hz / r : 0 }') ${errs:-none}"
}

bulk() { # best Gb/s of ROUNDS downloads of big.bin
    local best=0 r
    for _ in $(seq "$ROUNDS"); do
        r=$(ip netns exec "$NSC" curl -s -o /dev/null -w '%{size_download} %{time_total}\n' \
            "$URL/big.bin" | awk -v want=$((BIG_MB * 1000 * 1000)) \
            '$1 == want && $2 > 0 { printf "%.2f", $1 * 8 / $2 / 1e9 }')
        best=$(awk -v a="$best" -v b="${r:-0}" 'BEGIN { print (b > a) ? b : a }')
    done
    echo "$best"
}

idle_mem() { # "B/conn of RSS [+ B/conn of TCP slab]"
    local r0 r1 s0 s1 pid held
    r0=$(rss_kb) s0=$(tcp_slab_kb)
    ip netns exec "$NSC" "$IDLE_CONNS" -H 198.18.0.2 -p 8080 -s 198.18.0.1 -a "$IDLE" -r /index.html \
        -n "$IDLE" -d 0 -T 60 >"$TMP/idle.out" 2>&1 &
    pid=$!
    for _ in $(seq 600); do grep -q holding "$TMP/idle.out" && break; sleep 0.1; done
    sleep 1
    r1=$(rss_kb) s1=$(tcp_slab_kb)
    held=$(awk '/holding/ {print $2}' "$TMP/idle.out")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    awk -v r=$((r1 - r0)) -v s=$((s1 - s0)) -v n="${held:-0}" 'BEGIN {
        if (n == 0) { print "failed"; exit }
        printf "%d rss %d tcp-slab (held %d)", r * 1024 / n, s * 1024 / n, n }'
}

measure() {
    local name=$1 i
    for i in $(seq "$ROUNDS"); do
        echo "$name round $i: close $(wrk_run c -H 'Connection: close')"
        echo "$name round $i: keepalive $(wrk_run k)"
    done
    echo "$name bulk ${BIG_MB}MB best Gb/s: $(bulk)"
    echo "$name idle B/conn: $(idle_mem)"
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores: figures are noisy when > 1)"
log "ustack (TAP, threads $THREADS)"
start_ustack && measure ustack
stop_server
log "kernel (veth, offloads $KOFFLOAD, threads $THREADS)"
start_kernel && measure kernel
stop_server
log "memlink handshakes"
"$HS" -n 100000 -c 64
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
