#!/usr/bin/env bash
# A million concurrent connections in one eddy server process on ustack (issue 17).
#
#   N=1000000 bench/million.sh          # N idle connections, then K active among them
#   N=20000 K=100,1000 D=1 bench/million.sh
#   WAIT=poll N=100000 bench/million.sh # the server waits with ue_poll (a scan of every entry)
#   MODE=kernel bench/million.sh        # eddy-httpd on kernel sockets up to the descriptor cap
#
# Runs build/bench/million twice: with no idle connection (the baseline) and with N, and
# prints both runs' result lines, then one summary line (the last line):
#   million: held H of N connections; server RSS per idle connection B bytes; active
#   req/s at N idle / at 0 idle = R
# R compares K = 1000 (or the first K when 1000 is not in K).
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

run() { # idle
    timeout 900 "$BIN" -r "$ROOT" -n "$1" -k "$K" -d "$D" -w "$WAIT"
}

echo "== baseline: 0 idle, K=$K, ${D}s each, wait $WAIT"
BASE=$(run 0)
echo "$BASE"
echo "== N=$N idle, K=$K, ${D}s each, wait $WAIT"
MAIN=$(run "$N")
echo "$MAIN"

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
failed=$(( $(field "$MAIN" "result held" client_failed) + $(field "$BASE" "result held" client_failed) ))
stalled=$(grep -o 'stalled=[0-9]*' <<<"$BASE
$MAIN" | cut -d= -f2 | paste -sd+ | bc)
rate_n=$(field "$(pick_k "$MAIN")" "result active" req_s)
rate_0=$(field "$(pick_k "$BASE")" "result active" req_s)
ratio=$(awk -v a="$rate_n" -v b="$rate_0" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "failed connections: $failed; stalled requests: $stalled"
echo "million: held $held of $total connections; server RSS per idle connection $per bytes; active req/s at N idle / at 0 idle = $ratio"
