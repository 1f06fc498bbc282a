#!/usr/bin/env bash
# bench/lib/profile.sh: where a server's time goes, per request (pinned: server CPU 0, wrk CPU 1).
#
#   bench/lib/profile.sh syscalls    strace -c -f on each server: syscalls per request
#   bench/lib/profile.sh perftrace   the same counted with perf trace -s (barely slows the server)
#   bench/lib/profile.sh perf        perf record -e cpu-clock: top symbols (user and kernel)
#   bench/lib/profile.sh callgrind   valgrind --tool=callgrind: instructions per request + top functions
#
# Settings: SERVERS (default eddy nginx h2o lighttpd; eddy only when built), PROF_SCENARIOS
# (ka pipe), DURATION (5 s per measurement), OUT (/tmp/eddy-profile: strace outputs, perf.data,
# callgrind.out and the reports stay there). Scenario wrk arguments are those of compare.sh.
# HTTPS scenarios as in compare.sh: tka, t1m (wrk), hs, hsr (build/bench/tls_handshakes, full /
# resumed, one GET per connection: "requests" are handshakes); servers then start with a TLS listener too,
# with the ECDSA P-256 certificate, or the RSA 2048 one with PROF_KEY=rsa.
set -u
. "$(dirname "$0")/common.sh"

DURATION=${DURATION:-5}
PROF_SCENARIOS=${PROF_SCENARIOS:-ka pipe}
OUT=${OUT:-/tmp/eddy-profile}

scen_wrk() { # scenario port tls_port -> wrk arguments
    case $1 in
    tka) echo "-t1 -c100 -s $BENCH_LIB/report.lua https://127.0.0.1:$3/hello.txt" ;;
    t1m) echo "-t1 -c16 -s $BENCH_LIB/report.lua https://127.0.0.1:$3/1m.bin" ;;
    ka) echo "-t1 -c100 -s $BENCH_LIB/report.lua http://127.0.0.1:$2/hello.txt" ;;
    pipe) echo "-t1 -c256 -s $BENCH_LIB/pipeline.lua http://127.0.0.1:$2/hello.txt" ;;
    1m) echo "-t1 -c16 -s $BENCH_LIB/report.lua http://127.0.0.1:$2/1m.bin" ;;
    64k) echo "-t1 -c50 -s $BENCH_LIB/report.lua http://127.0.0.1:$2/64k.bin" ;;
    20m) echo "-t1 -c4 -s $BENCH_LIB/report.lua http://127.0.0.1:$2/20m.bin" ;;
    close) echo "-t1 -c50 -s $BENCH_LIB/report.lua -H Connection:@close http://127.0.0.1:$2/hello.txt" ;;
    *) die "unknown scenario $1" ;;
    esac
}

# wrk_for KEY SCEN LOG: pinned wrk (or s_time for hs, hsr) for DURATION; prints the request count.
wrk_for() {
    local args=() a mode=-new
    case $2 in
    hs | hsr)
        [ "$2" = hsr ] && mode=-r
        [ -n "${TLS_HANDSHAKES:-}" ] || TLS_HANDSHAKES=$(bench_tool tls_handshakes) ||
            die "cannot build bench/tls_handshakes.c"
        "${PRIO[@]}" taskset -c "$CLIENT_CPU" "$TLS_HANDSHAKES" -p "${SRV_TPORT[$1]}" \
            -c "${HS_CONNS:-8}" -d "$DURATION" $([ "$mode" = -r ] && echo -r) >"$3" 2>&1
        awk '/^EDDYHS/ { split($2, a, "="); print a[2] }' "$3" | tail -n 1
        return
        ;;
    esac
    for a in $(scen_wrk "$2" "${SRV_PORT[$1]}" "${SRV_TPORT[$1]:-}"); do
        args+=("${a/Connection:@close/Connection: close}")
    done
    set -- "$(run_wrk "$1" "$3" 1 "${args[@]}" -d "${DURATION}s")"
    echo "${1%% *}"
}

# The tracer runs across the whole wrk run, so every request wrk counts is in its window (the
# only syscalls outside it are a few idle epoll_wait timeouts). strace -c -f stops the server at
# every syscall, which makes it slow and so batches more events per epoll_wait than at full
# speed; perf trace -s (tracepoints) barely slows it, so both are reported.
do_syscalls() {
    local tracer=$1 s scen pids tpid req args=() f
    for s in $SERVERS; do
        start_server "$s" "$s" pinned || continue
        for scen in $PROF_SCENARIOS; do
            pids=$(tree_pids "${SRV_PID[$s]}")
            f=$OUT/$tracer-$s-$scen.txt
            if [ "$tracer" = strace ]; then
                # shellcheck disable=SC2046
                strace -c -f -o "$f" $(printf -- '-p %s ' $pids) 2>/dev/null &
            else
                perf trace -s -m 64M -p "$(echo $pids | tr ' ' ,)" -o "$f" 2>/dev/null &
            fi
            tpid=$!
            sleep 1
            req=$(wrk_for "$s" "$scen" "$OUT/wrk-$tracer-$s-$scen.log")
            sleep 0.5
            kill -INT "$tpid"
            wait "$tpid"
            grep -i 'lost' "$f" >&2
            args+=("$scen:$s:${req:-0}:$f")
            log "$tracer $s $scen: $req requests"
        done
        stop_server "$s"
    done
    local name="strace -c -f"
    [ "$tracer" = perftrace ] && name="perf trace -s"
    python3 "$BENCH_LIB/report.py" syscalls "--tracer=$name" "${args[@]}" | tee "$OUT/syscalls-$tracer.txt"
}

do_perf() {
    local s scen wpid
    for s in $SERVERS; do
        start_server "$s" "$s" pinned || continue
        for scen in $PROF_SCENARIOS; do
            wrk_for "$s" "$scen" "$OUT/wrk-perf-$s-$scen.log" >/dev/null &
            wpid=$!
            sleep 1
            perf record -q -e cpu-clock -F 1999 -p "$(tree_pids "${SRV_PID[$s]}" | paste -sd,)" \
                -o "$OUT/perf-$s-$scen.data" -- sleep $((DURATION - 2)) 2>/dev/null
            wait "$wpid"
            perf report -i "$OUT/perf-$s-$scen.data" --stdio --no-children --sort dso,sym \
                --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' >"$OUT/perf-$s-$scen.txt"
            echo "== perf cpu-clock, $s, $scen: share per binary, then top symbols"
            perf report -i "$OUT/perf-$s-$scen.data" --stdio --no-children --sort dso 2>/dev/null |
                grep -v '^#' | grep -v '^$' | head -n 6
            head -n 40 "$OUT/perf-$s-$scen.txt"
        done
        stop_server "$s"
    done
}

do_callgrind() {
    local s scen req cg pid
    for s in $SERVERS; do
        for scen in $PROF_SCENARIOS; do
            cg=$OUT/callgrind-$s-$scen.out
            rm -f "$cg"
            SERVER_WRAP="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$cg" \
                NGINX_MASTER=off READY_TRIES=600 start_server "$s" "$s" pinned || continue
            pid=${SRV_PID[$s]}
            callgrind_control -i on "$pid" >/dev/null
            req=$(wrk_for "$s" "$scen" "$OUT/wrk-callgrind-$s-$scen.log")
            callgrind_control -i off "$pid" >/dev/null
            stop_server "$s"
            callgrind_annotate --inclusive=no "$cg" 2>/dev/null | head -n 40 >"$OUT/callgrind-$s-$scen.txt"
            python3 "$BENCH_LIB/report.py" callgrind "$s" "$scen" "${req:-0}" "$cg"
            sed -n '/file:function/,$p' "$OUT/callgrind-$s-$scen.txt" | head -n 22
        done
    done
}

main() {
    local what=${1:-}
    bench_init
    mkdir -p "$OUT"
    ensure_tools nginx h2o lighttpd wrk curl taskset python3 strace perf valgrind
    DOCROOT=$BENCH_TMP/www
    make_docroot "$DOCROOT"
    find_eddy
    if [[ " $PROF_SCENARIOS " =~ \ (tka|t1m|hs|hsr)\  ]]; then
        bash "$EDDY_ROOT/tests/lib/gen_certs.sh" "$BENCH_TMP/certs" >/dev/null || die "cannot make certificates"
        TLS_CERT=$BENCH_TMP/certs/localhost.chain.pem TLS_KEY=$BENCH_TMP/certs/localhost.key
        [ "${PROF_KEY:-ec}" = rsa ] && TLS_CERT=$BENCH_TMP/certs/rsa.chain.pem TLS_KEY=$BENCH_TMP/certs/rsa.key
    fi
    if [ -z "${SERVERS:-}" ]; then
        SERVERS="nginx h2o lighttpd"
        [ "$HAVE_EDDY" = 1 ] && SERVERS="eddy $SERVERS"
    fi
    echo "# bench/lib/profile.sh $what, $(date -u '+%Y-%m-%d %H:%M UTC'), DURATION=${DURATION}s," \
        "servers: $SERVERS, scenarios: $PROF_SCENARIOS, outputs in $OUT"
    case $what in
    syscalls) do_syscalls strace ;;
    perftrace) do_syscalls perftrace ;;
    perf) do_perf ;;
    callgrind) do_callgrind ;;
    *) die "usage: bench/lib/profile.sh syscalls|perftrace|perf|callgrind" ;;
    esac
}

main "$@"
