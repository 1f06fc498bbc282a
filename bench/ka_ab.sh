#!/usr/bin/env bash
# bench/ka_ab.sh: interleaved A/B of eddy-httpd builds on the keep-alive row (13 B, wrk -t1
# -c100), by server CPU per request: every server started once, pinned to CPU 0, then rounds of
# wrk (pinned to CPU 1) against each in turn. CPU comes from /proc/PID/task/*/schedstat (ns of
# run time, all threads), divided by wrk's requests; utime+stime ticks are printed beside it.
#
#   bench/ka_ab.sh main=/tmp/eddy-main new=build/eddy-httpd
#   ROUNDS=6 DURATION=5 bench/ka_ab.sh "off=env EDDY_SEND_BATCH=0 build/eddy-httpd" on=build/eddy-httpd
#
# Each argument is LABEL=COMMAND (words split on spaces; eddy-httpd's flags are appended).
# Prints one line per run, then the median per label. Everything started is stopped on exit.
set -u
. "$(dirname "$0")/lib/common.sh"
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-3}
bench_init
ensure_tools wrk curl
DOCROOT=$BENCH_TMP/www
mkdir -p "$DOCROOT"
printf 'Hello, world\n' >"$DOCROOT/hello.txt" # 13 bytes, as make_docroot's
labels=() pids=() ports=() res=()

cpu_ns() { # PID: run time of all its threads, ns
    local t s=0 a
    for t in /proc/"$1"/task/*/schedstat; do
        read -r a _ <"$t" && s=$((s + a))
    done
    echo "$s"
}
ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }

ab_start_servers "$@"
for ((r = 1; r <= ROUNDS; r++)); do
    for i in "${!labels[@]}"; do
        p=${pids[$i]}
        c0=$(cpu_ns "$p") t0=$(ticks "$p")
        "${PRIO[@]}" taskset -c "$CLIENT_CPU" wrk -t1 -c100 -d"${DURATION}s" -s "$BENCH_LIB/report.lua" \
            "http://127.0.0.1:${ports[$i]}/hello.txt" >"$BENCH_TMP/wrk.log" 2>&1
        c1=$(cpu_ns "$p") t1=$(ticks "$p")
        req=$(sed -n 's/^EDDYBENCH requests=\([0-9]*\).*/\1/p' "$BENCH_TMP/wrk.log")
        line=$(awk -v l="${labels[$i]}" -v r="$r" -v q="${req:-0}" -v c=$((c1 - c0)) -v t=$((t1 - t0)) \
            -v d="$DURATION" -v hz="$CLK_TCK" 'BEGIN { q = q > 0 ? q : 1
            printf "%-10s round %d %8.0f req/s %7.2f us/req (schedstat) %7.2f us/req (ticks)",
                l, r, q / d, c / q / 1000, t * 1e6 / hz / q }')
        echo "$line"
        res+=("${labels[$i]} $(awk '{print $6}' <<<"$line")")
        sleep 0.5
    done
done
for l in "${labels[@]}"; do
    printf '%s ' "$l"
    printf '%s\n' "${res[@]}" | awk -v l="$l" '$1 == l {print $2}' | sort -n |
        awk '{v[NR] = $1} END {printf "median %.2f us/req over %d rounds\n",
            NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR}'
done
