#!/usr/bin/env bash
# bench/pipe_ab.sh: interleaved A/B of eddy-httpd builds on the pipelined row (16 requests per
# write, wrk -t1 -c256), by what holds on a shared machine: wrk's own CPU per response
# (perf task-clock of wrk alone, not the busy share of its core, which counts every process
# that ran there) and the system calls per response on both sides (perf syscall tracepoints:
# counted in the kernel, so neither process is slowed the way strace slows it).
#
#   bench/pipe_ab.sh new=build/eddy-httpd "off=env EDDY_SEND_BATCH=0 build/eddy-httpd" \
#       s4=/work/baseline/eddy-s4
#
# Each argument is LABEL=COMMAND (words split on spaces; eddy-httpd's flags are appended).
# Per run: req/s, wrk busy % and us per response, responses per read(2), bytes per read, responses
# per epoll_wait (how bursty the answers arrive), then the server's us and calls per request.
# Ends with the medians per label. Everything started is stopped on exit.
set -u
. "$(dirname "$0")/lib/common.sh"
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-3}
bench_init
ensure_tools wrk curl perf
DOCROOT=$BENCH_TMP/www
mkdir -p "$DOCROOT"
printf 'Hello, world\n' >"$DOCROOT/hello.txt" # 13 bytes, as make_docroot's
SE=syscalls:sys_enter_
WRK_EV=task-clock,${SE}read,${SE}write,${SE}epoll_wait
SRV_EV=task-clock,${SE}sendto,${SE}io_uring_enter,${SE}recvfrom,${SE}readv,${SE}epoll_wait
labels=() pids=() ports=() res=()

ab_start_servers "$@"
# count FILE EVENT: perf stat -x, value of EVENT (0 when absent)
count() { awk -F, -v e="$2" '$3 == e { v = $1 } END { print v + 0 }' "$1"; }
for ((r = 1; r <= ROUNDS; r++)); do
    for i in "${!labels[@]}"; do
        perf stat -x, -e "$SRV_EV" -p "${pids[$i]}" -o "$BENCH_TMP/srv.perf" -- sleep $((DURATION + 1)) &
        sp=$!
        sleep 0.3
        "${PRIO[@]}" taskset -c "$CLIENT_CPU" perf stat -x, -e "$WRK_EV" -o "$BENCH_TMP/wrk.perf" \
            wrk -t1 -c256 -d"${DURATION}s" -s "$BENCH_LIB/pipeline.lua" \
            "http://127.0.0.1:${ports[$i]}/hello.txt" >"$BENCH_TMP/wrk.log" 2>&1
        wait "$sp"
        w=$BENCH_TMP/wrk.perf s=$BENCH_TMP/srv.perf
        line=$(awk -v l="${labels[$i]}" -v r="$r" -v d="$DURATION" \
            -v q="$(sed -n 's/^EDDYBENCH requests=\([0-9]*\).*/\1/p' "$BENCH_TMP/wrk.log")" \
            -v b="$(sed -n 's/^EDDYBENCH .*bytes=\([0-9]*\).*/\1/p' "$BENCH_TMP/wrk.log")" \
            -v tc="$(count "$w" task-clock)" -v rd="$(count "$w" ${SE}read)" \
            -v wr="$(count "$w" ${SE}write)" -v ew="$(count "$w" ${SE}epoll_wait)" \
            -v st="$(count "$s" task-clock)" -v ss="$(count "$s" ${SE}sendto)" \
            -v su="$(count "$s" ${SE}io_uring_enter)" -v sr="$(count "$s" ${SE}recvfrom)" \
            -v sv="$(count "$s" ${SE}readv)" -v se="$(count "$s" ${SE}epoll_wait)" 'BEGIN {
            q = q > 0 ? q : 1; rd = rd > 0 ? rd : 1; ew = ew > 0 ? ew : 1
            printf "%-6s round %d %7.0f req/s | wrk %3.0f%% %.3f us/resp, %.2f resp %4.0f B/read," \
                " %5.0f resp/epoll_wait, %.4f writes/resp | server %.3f us/req, per req: send %.4f" \
                " uring %.4f recv %.4f readv %.4f epoll_wait %.4f",
                l, r, q / d, tc / 10 / d, tc * 1000 / q, q / rd, b / rd, q / ew, wr / q,
                st * 1000 / q, ss / q, su / q, sr / q, sv / q, se / q }')
        echo "$line"
        res+=("${labels[$i]} $(awk '{print $4, $9}' <<<"$line")")
        sleep 0.5
    done
done
for l in "${labels[@]}"; do
    printf '%-6s median ' "$l"
    printf '%s\n' "${res[@]}" | awk -v l="$l" '$1 == l {print $2, $3}' | sort -n -k2 |
        awk '{q[NR] = $1; c[NR] = $2} END {m = int((NR + 1) / 2); n = int(NR / 2) + 1
            printf "wrk %.3f us/resp over %d rounds; ", (c[m] + c[n]) / 2, NR}'
    printf '%s\n' "${res[@]}" | awk -v l="$l" '$1 == l {print $2}' | sort -n |
        awk '{q[NR] = $1} END {m = int((NR + 1) / 2); n = int(NR / 2) + 1
            printf "%.0f req/s (loaded machine: req/s is not comparable)\n", (q[m] + q[n]) / 2}'
done
