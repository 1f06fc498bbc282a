#!/usr/bin/env bash
# bench/backends.sh: the claim at the heart of epoll, measured on eddy-httpd's dispatcher backends.
#
#   bench/backends.sh                    full: 10 s runs, 3 rounds, N = 0 100 1000 5000 15000 (~25 min)
#   QUICK=1 bench/backends.sh            smoke test: 2 s, 1 round, N = 0 100 1000 5000
#   DURATION=5 ROUNDS=1 IDLE_LIST="0 15000" BACKENDS="epoll poll" bench/backends.sh
#   SERVER=lighttpd bench/backends.sh    the same sweep over lighttpd's event handlers (reference)
#
# For each backend (epoll, epoll-et, poll, select) eddy-httpd runs with one reactor (-t 0) on
# CPU 0; for each N, build/bench/idle_conns holds N idle keep-alive connections while wrk -t1 (on
# CPU 1) drives 100 active keep-alive connections at /hello.txt. Reported: req/s and the server's
# CPU time per request. select runs only while every fd stays below FD_SETSIZE (1024); beyond, the
# server must refuse, and the script records what it said.
# Output: a table on stdout, the chart in CHART (default docs/img/backends.png), the data beside it
# in $BENCH_TMP. Settings: DURATION, ROUNDS, IDLE_LIST, BACKENDS, CHART, RAW, KEEP_TMP, EDDY_HTTPD.
set -u
. "$(dirname "$0")/lib/common.sh"

if [ -n "${QUICK:-}" ]; then
    DURATION=${DURATION:-2}
    ROUNDS=${ROUNDS:-1}
    IDLE_LIST=${IDLE_LIST:-0 100 1000 5000}
fi
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
IDLE_LIST=${IDLE_LIST:-0 100 1000 5000 15000}
SERVER=${SERVER:-eddy}
CHART=${CHART:-$EDDY_ROOT/docs/img/backends.png}
ACTIVE=100
FD_SETSIZE=1024

# Largest idle count the backend can serve next to $ACTIVE active connections (0 = no limit).
idle_cap() {
    case $1 in
    select) echo $((FD_SETSIZE - ACTIVE - 16)) ;; # the server's own fds: listener, epoll, ...
    *) [ "$SERVER" = lighttpd ] && echo $(($(ulimit -Hn) / 2 - ACTIVE - 200)) || echo 0 ;;
    esac
}

# Beyond FD_SETSIZE the select backend must refuse connections with a clear error rather than
# corrupt memory: offer it the idle connections and a short wrk run, record what happened and
# the last thing the server wrote to stderr.
probe_select_refusal() {
    local key=$1 n=$2 alive msg res
    start_idle "$key" "$n" "$BENCH_TMP/probe-$n.out"
    res=$(run_wrk "$key" "$BENCH_TMP/probe-wrk-$n.log" 1 -t1 -c$ACTIVE -d 2s \
        -s "$BENCH_LIB/report.lua" "http://127.0.0.1:${SRV_PORT[$key]}/hello.txt")
    set -- ${res:-0 0 0 0}
    alive=alive
    kill -0 "${SRV_PID[$key]}" 2>/dev/null || alive=exited
    msg=$(grep -v 'listening on' "${SRV_DIR[$key]}/stderr" | tail -n 1 | cut -c1-120)
    stop_idle
    echo "bkfail select $n server $alive; idle held $IDLE_HELD of $n; wrk c$ACTIVE: $1 requests," \
        "$4 errors in 2 s; server stderr: ${msg:-(nothing)}" >>"$RAW_FILE"
    log "select, $n idle: server $alive, held $IDLE_HELD; wrk $1 requests, $4 errors; said: ${msg:-nothing}"
    [ "$alive" = alive ] || unset "SRV_PID[$key]"
}

one_point() {
    local be=$1 n=$2 round=$3 key=be-$1 held=0 res cap
    cap=$(idle_cap "$be")
    if [ "$cap" -gt 0 ] && [ "$n" -gt "$cap" ]; then
        if [ "$be" = select ] && [ "$round" = 1 ] && [ "$SERVER" = eddy ] && [ -n "${SRV_PID[$key]:-}" ]; then
            probe_select_refusal "$key" "$n"
        elif [ "$round" = 1 ]; then
            echo "bkfail $be $n over this backend's limit of $cap idle + $ACTIVE active" >>"$RAW_FILE"
        fi
        return 0
    fi
    [ -n "${SRV_PID[$key]:-}" ] || return 0
    if [ "$n" -gt 0 ]; then
        start_idle "$key" "$n" "$BENCH_TMP/idle-$be-$n-$round.out"
        held=$IDLE_HELD
        sleep 1
    fi
    res=$(run_wrk "$key" "$BENCH_TMP/wrk-$be-$n-$round.log" 1 -t1 -c$ACTIVE -d "${DURATION}s" \
        -s "$BENCH_LIB/report.lua" "http://127.0.0.1:${SRV_PORT[$key]}/hello.txt")
    stop_idle
    [ -n "$res" ] || res="0 0 0 1 0 0 0"
    echo "bk $be $n $round $held $res" >>"$RAW_FILE"
    set -- $res
    log "$(printf 'round %s %-9s idle %5d (held %5d): %8.0f req/s %6.2f us/req %d errors' "$round" \
        "$be" "$n" "$held" "$(awk -v r="$1" -v d="$3" 'BEGIN{print d ? r / (d / 1e6) : 0}')" \
        "$(awk -v c="$5" -v r="$1" 'BEGIN{print r ? c / r : 0}')" "$4")"
    sleep 1
}

plot() {
    local dat=$1 bes=($2) i cmd_rps="" cmd_cpu="" col
    for i in "${!bes[@]}"; do
        col=$((2 + 2 * i))
        cmd_rps+="'$dat' using 0:$col:xtic(1) with linespoints lw 2 title '${bes[$i]}', "
        cmd_cpu+="'$dat' using 0:$((col + 1)):xtic(1) with linespoints lw 2 title '${bes[$i]}', "
    done
    mkdir -p "$(dirname "$CHART")"
    gnuplot <<EOF
set terminal pngcairo size 1200,480 font 'sans,11'
set output '$CHART'
set datafile missing 'NaN'
set multiplot layout 1,2 title "$TITLE"
set grid
set key top right
set xlabel 'idle keep-alive connections (N), plus $ACTIVE active'
set ylabel 'requests/s'
set yrange [0:*]
plot ${cmd_rps%, }
set ylabel 'server CPU per request (us)'
set key top left
plot ${cmd_cpu%, }
unset multiplot
EOF
}

main() {
    local be n r kind=$SERVER bes_started=() dat bes
    bench_init
    ensure_tools wrk curl gnuplot taskset python3
    [ "$SERVER" = lighttpd ] && ensure_tools lighttpd
    DOCROOT=$BENCH_TMP/www
    make_docroot "$DOCROOT"
    find_idle_conns
    if [ "$SERVER" = eddy ]; then
        find_eddy
        [ "$HAVE_EDDY" = 1 ] || {
            log "eddy-httpd is not built yet: nothing to sweep (SERVER=lighttpd runs the reference sweep)"
            exit 1
        }
        BACKENDS=${BACKENDS:-epoll epoll-et poll select}
    else
        BACKENDS=${BACKENDS:-linux-sysepoll poll}
    fi
    RAW_FILE=${RAW:-$BENCH_TMP/raw.tsv}
    : >"$RAW_FILE"
    echo "# eddy bench/backends.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), server $SERVER" \
        "$([ "$SERVER" = eddy ] && git -C "$EDDY_ROOT" log -1 --format='(%h)' 2>/dev/null)"
    echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
        "kernel $(uname -r); server on CPU $SERVER_CPU, wrk -t1 -c$ACTIVE on CPU $CLIENT_CPU"
    echo "# DURATION=${DURATION}s ROUNDS=$ROUNDS IDLE_LIST='$IDLE_LIST' BACKENDS='$BACKENDS'"
    echo "# at start: $(machine_load)"
    for be in $BACKENDS; do
        start_server "be-$be" "$kind" pinned "$be" || {
            echo "bkfail $be 0 server did not start with this backend" >>"$RAW_FILE"
            continue
        }
        bes_started+=("$be")
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        for n in $IDLE_LIST; do
            for be in "${bes_started[@]}"; do
                one_point "$be" "$n" "$r"
            done
        done
    done
    dat=$BENCH_TMP/backends.dat
    echo "# at end: $(machine_load)"
    echo
    TITLE="$SERVER: ${DURATION} s runs, median of $ROUNDS, $(date -u +%Y-%m-%d)"
    python3 "$BENCH_LIB/report.py" backends "$RAW_FILE" "$dat" 2>/dev/null
    bes=$(awk 'NR == 1 { for (i = 3; i <= NF; i += 2) { sub(/_rps$/, "", $i); printf "%s ", $i } }' "$dat")
    plot "$dat" "$bes" && log "chart: $CHART"
    [ -n "${KEEP_DAT:-}" ] && cp "$dat" "$KEEP_DAT"
    return 0
}

main "$@"
