#!/usr/bin/env bash
# A million concurrent connections in one eddy server process on ustack (issue 17).
#
#   N=1000000 bench/million.sh          # N idle connections, then K active among them
#   N=20000 K=100,1000 D=1 bench/million.sh
#   WAIT=poll N=100000 bench/million.sh # the server waits with ue_poll (a scan of every entry)
#   MODE=kernel bench/million.sh        # eddy-httpd on kernel sockets up to the descriptor cap
#
# Runs build/bench/million once: K active with no idle connection (the baseline), then N
# idle connections opened in the same two processes and K active among them again, ROUNDS
# rounds of D seconds per point (a new random active set each), medians reported; AFTER=1
# then closes the N idle ones and measures K once more. Every point of every phase starts
# with WARM (default 1) uncounted rounds of the same K and D, so the baseline is not the
# processes' first, cold work. HUGEPAGES=1 (default) has malloc
# back the heap with transparent huge pages (glibc.malloc.hugetlb=1) in both processes.
# Prints the result lines, then one summary line (the last line):
#   million: held H of N connections; server RSS per idle connection B bytes; active
#   req/s at N idle / at 0 idle = R
# R compares K = 1000 (or the first K when 1000 is not in K): the median rate with N idle
# over the median rate with 0 idle, both warmed up the same way; both rates are printed
# on the line before.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${MODE:-ustack}" = kernel ]; then
    exec bash bench/million_kernel.sh
fi
N=${N:-1000000}
K=${K:-100,1000,10000}
D=${D:-3}
WAIT=${WAIT:-epoll}
BIN=${BIN:-build/bench/million}
[ -x "$BIN" ] || make -j2 "$BIN" >/dev/null

ROOT=$(mktemp -d /tmp/million-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
for i in $(seq 0 99); do
    head -c $((100 + i)) /dev/zero | tr '\0' 'x' >"$ROOT/f$i.html"
done

ROUNDS=${ROUNDS:-3}
WARM=${WARM:-1}
AFTER=${AFTER:-1}
if [ "${HUGEPAGES:-1}" = 1 ]; then
    export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
fi
echo "== N=$N idle, K=$K, ${WARM} warm-up + ${ROUNDS} rounds of ${D}s each, wait $WAIT, hugepages ${HUGEPAGES:-1}"
# shown as it comes (a 10^6 run takes minutes), kept for the summary
timeout 900 "$BIN" -r "$ROOT" -n "$N" -k "$K" -d "$D" -R "$ROUNDS" -W "$WARM" -w "$WAIT" \
    $([ "$AFTER" = 1 ] && echo -a) | tee "$ROOT/out"
OUT=$(cat "$ROOT/out")
BASE=$(grep 'phase=base' <<<"$OUT" || true)
AFTERP=$(grep 'phase=after' <<<"$OUT" || true)
MAIN=$(grep -v 'phase=' <<<"$OUT" || true)
MAIN+=$'\n'$(grep 'phase=idle' <<<"$OUT" || true)

field() { # text line-prefix key
    grep "^$2" <<<"$1" | head -1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}
pick_k() { # text -> the active line for K=1000, or the first one
    local line
    line=$(grep '^result active k=1000 ' <<<"$1" || true)
    [ -n "$line" ] || line=$(grep '^result active' <<<"$1" | head -1)
    echo "$line"
}
held=$(field "$MAIN" "result held" held)
total=$(field "$MAIN" "result held" n)
per=$(field "$MAIN" "result rss" per_conn)
# the client's failure count is cumulative: its last figure covers every phase
failed=$( (grep -o ' failed=[0-9]*' <<<"$OUT" | cut -d= -f2; field "$MAIN" "result held" client_failed) | sort -n | tail -1)
stalled=$(grep '^result active' <<<"$OUT" | grep -o 'stalled=[0-9]*' | cut -d= -f2 | paste -sd+ | bc)
rate_n=$(field "$(pick_k "$MAIN")" "result active" req_s)
rate_0=$(field "$(pick_k "$BASE")" "result active" req_s)
rate_a=$(field "$(pick_k "$AFTERP")" "result active" req_s)
k_r=$(field "$(pick_k "$BASE")" "result active" k)
ratio=$(awk -v a="$rate_n" -v b="$rate_0" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
cpu_ratio() { # key -> CPU per request at N idle / at 0 idle
    awk -v a="$(field "$(pick_k "$MAIN")" "result active" "$1")" \
        -v b="$(field "$(pick_k "$BASE")" "result active" "$1")" \
        'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}
echo "cpu per request at N idle / at 0 idle (same K): server $(cpu_ratio server_cpu_us_per_req), client $(cpu_ratio client_cpu_us_per_req)"
echo "active req/s at K=$k_r (medians, warmed): 0 idle $rate_0; $N idle $rate_n${rate_a:+; after closing the N idle $rate_a}"
echo "failed connections: $failed; stalled requests: $stalled"
echo "million: held $held of $total connections; server RSS per idle connection $per bytes; active req/s at N idle / at 0 idle = $ratio"
