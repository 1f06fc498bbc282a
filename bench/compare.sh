#!/usr/bin/env bash
# bench/compare.sh: eddy-httpd against nginx, h2o and lighttpd on this machine, side by side.
#
#   bench/compare.sh                     full run: 10 s per run, 3 rounds, 15000 idle conns (~35 min: TLS rows ~14)
#   QUICK=1 bench/compare.sh             smoke test: 2 s per run, 1 round, 2000 idle connections
#   DURATION=10 ROUNDS=5 bench/compare.sh
#   SERVERS="eddy nginx" SCENARIOS="ka pipe mem" bench/compare.sh
#   RAW=/tmp/raw.tsv bench/compare.sh    also keep the raw per-run numbers (see bench/lib/report.py)
#
# Scenarios: ka (keep-alive, 13 B, c100), pipe (16 requests per write, c256), 1m (1 MiB file,
# c16), 64k (64 KiB file, c50), 20m (20 MiB file, c4), close (Connection: close, c50) with the
# server on CPU 0 and wrk -t1 on CPU 1; ka2 and
# pipe2 (the same on both cores, unpinned, wrk -t2; eddy default threads, nginx 2 workers, h2o 2
# threads; lighttpd has one process only and sits out); mem (RSS per idle keep-alive connection
# with IDLE_N idle connections held by build/bench/idle_conns).
# HTTPS (TLS scenarios, every server with the same certificate, key and Mozilla-intermediate
# cipher lists; configs bench/lib/*_tls.conf.in): tka (HTTPS keep-alive 13 B, c100), t1m (HTTPS
# 1 MiB file, c16), both with an ECDSA P-256 certificate; hs (new TLS 1.3 handshakes per second,
# one GET each) and hsr (the same resumed), each with ECDSA P-256 (rows hs_ec, hsr_ec) and RSA
# 2048 (hs_rsa, hsr_rsa), driven by build/bench/tls_handshakes with HS_CONNS (8) connections at a
# time, pinned like wrk. Certificates come from tests/lib/gen_certs.sh.
# Servers alternate within each round; the table gives medians over rounds.
# With eddy, the pinned ka and pipe scenarios also run 'canned' (bench/canned_server.c): eddy's
# own response bytes answered by a server that does no other work, a reference row showing how
# far the client and the kernel, rather than the server's work, set the measured rate.
#
# Other settings: IDLE_N, EDDY_HTTPD (binary path), SERVER_CPU / CLIENT_CPU (0 / 1),
# BENCH_NICE (-10: servers and wrk get the CPU before other work on the machine; '' leaves it),
# EDDY_BEFORE=/path/to/older/eddy-httpd (adds server 'eddy0': the same scenarios run against an
# earlier build in the same run, for before/after comparisons of a change; not a peer),
# EDDY_ARGS / EDDY0_ARGS (extra eddy-httpd flags for eddy / eddy0; EDDY_BEFORE=build/eddy-httpd
# EDDY0_ARGS='--sendfile-chunk 262144' compares one flag on the same binary),
# KEEP_TMP=1 (keep configs, server logs and wrk outputs), SERVER_CPU_QUOTA=P (every server in a
# cgroup allowed P % of one CPU, so the servers rather than the client set the rate; see
# lib/common.sh). Everything started is stopped on exit.
set -u
. "$(dirname "$0")/lib/common.sh"

if [ -n "${QUICK:-}" ]; then
    DURATION=${DURATION:-2}
    ROUNDS=${ROUNDS:-1}
    IDLE_N=${IDLE_N:-2000}
fi
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
IDLE_N=${IDLE_N:-15000}
SCENARIOS=${SCENARIOS:-ka pipe 1m 64k 20m close ka2 pipe2 mem tka t1m hs hsr}
HS_CONNS=${HS_CONNS:-8}

# wrk arguments per scenario (URL appended by the caller).
wrk_args() {
    local lua=("-s" "$BENCH_LIB/report.lua")
    case $1 in
    ka) echo "-t1 -c100 ${lua[*]} @hello.txt" ;;
    pipe) echo "-t1 -c256 -s $BENCH_LIB/pipeline.lua @hello.txt" ;;
    1m) echo "-t1 -c16 ${lua[*]} @1m.bin" ;;
    64k) echo "-t1 -c50 ${lua[*]} @64k.bin" ;;
    20m) echo "-t1 -c4 ${lua[*]} @20m.bin" ;;
    close) echo "-t1 -c50 ${lua[*]} @hello.txt @close" ;;
    ka2) echo "-t2 -c100 ${lua[*]} @hello.txt" ;;
    pipe2) echo "-t2 -c256 -s $BENCH_LIB/pipeline.lua @hello.txt" ;;
    tka) echo "-t1 -c100 ${lua[*]} @@hello.txt" ;;
    t1m) echo "-t1 -c16 ${lua[*]} @@1m.bin" ;;
    esac
}

# one_run SCENARIO SERVER ROUND: one wrk run against a started server, appended to $RAW_FILE.
one_run() { # SCENARIO SERVER ROUND [SERVER_KEY: the started server, default SERVER]
    local scen=$1 key=$2 round=$3 sk=${4:-$2} args=() a url res pinned=1 logf
    logf=$BENCH_TMP/wrk-$scen-$key-$round.log
    [[ $scen == *2 ]] && pinned=0
    for a in $(wrk_args "$scen"); do
        case $a in
        @close) args+=(-H 'Connection: close') ;;
        @@*) url="https://127.0.0.1:${SRV_TPORT[$sk]}/${a#@@}" ;;
        @*) url="http://127.0.0.1:${SRV_PORT[$sk]}/${a#@}" ;;
        *) args+=("$a") ;;
        esac
    done
    res=$(run_wrk "$sk" "$logf" "$pinned" "${args[@]}" -d "${DURATION}s" "$url")
    [ -n "$res" ] || {
        log "wrk failed for $scen/$key: $(tail -n 3 "$logf" | tr '\n' ' ')"
        res="0 0 0 1 0 0 0 -1"
    }
    echo "run $scen $key $round $res" >>"$RAW_FILE"
    set -- $res
    log "$(printf 'round %s %-6s %-8s %8.0f req/s %7.1f MB/s %6.2f us/req %d errors, wrk core %s%% (own %s%%)' "$round" \
        "$scen" "$key" "$(awk -v r="$1" -v d="$3" 'BEGIN{print d ? r / (d / 1e6) : 0}')" \
        "$(awk -v b="$2" -v d="$3" 'BEGIN{print d ? b / (d / 1e6) / 1e6 : 0}')" \
        "$(awk -v c="$5" -v r="$1" 'BEGIN{print r ? c / r : 0}')" "$4" "${8:--1}" "${9:--1}")"
    sleep 1
}

# hs_run ROW SERVER ROUND MODE SERVER_KEY: build/bench/tls_handshakes for DURATION seconds,
# HS_CONNS connections at a time (MODE -new: full handshakes, -reuse: resumed), each one
# GET /hello.txt; pinned on the client CPU like wrk. Appended as a run line whose requests are
# the handshakes completed; a -reuse handshake the server did not resume counts as an error.
hs_run() {
    local row=$1 key=$2 round=$3 mode=$4 sk=$5 logf c0 c1 k0 k1 line res r=()
    logf=$BENCH_TMP/hs-$row-$key-$round.log
    [ "$mode" = -reuse ] && r=(-r)
    c0=$(cpu_ticks "$sk")
    k0=$(core_ticks "$CLIENT_CPU")
    "${PRIO[@]}" taskset -c "$CLIENT_CPU" "$TLS_HANDSHAKES" -p "${SRV_TPORT[$sk]}" \
        -c "$HS_CONNS" -d "$DURATION" "${r[@]}" >"$logf" 2>&1
    k1=$(core_ticks "$CLIENT_CPU")
    c1=$(cpu_ticks "$sk")
    line=$(grep '^EDDYHS ' "$logf" | tail -n 1)
    res=$(awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v k0="$k0" -v k1="$k1" -v reuse="${#r[@]}" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        err = v["errors"] + (reuse ? v["handshakes"] - v["resumed"] : 0)
        split(k0, a, " "); split(k1, b, " ")
        busy = b[2] > a[2] ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : -1
        printf "%.0f 0 %.0f %.0f %.0f 0 0 %.0f\n", v["handshakes"], v["duration_us"], err,
            c * 1e6 / hz, busy }' <<<"$line")
    if [ -z "$line" ] || [ -z "$res" ]; then
        log "tls_handshakes failed for $row/$key: $(tail -n 2 "$logf" | tr '\n' ' ')"
        res="0 0 0 1 0 0 0 -1"
    fi
    echo "run $row $key $round $res" >>"$RAW_FILE"
    set -- $res
    log "$(printf 'round %s %-7s %-8s %8.0f handshakes/s, server %7.1f us/handshake, client %7.1f us/handshake (its core %s%% busy), %d errors' \
        "$round" "$row" "$key" "$(awk -v n="$1" -v d="$3" 'BEGIN{print d ? n / (d / 1e6) : 0}')" \
        "$(awk -v c="$5" -v n="$1" 'BEGIN{print n ? c / n : 0}')" \
        "$(awk '{for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            print v["handshakes"] ? v["client_cpu_us"] / v["handshakes"] : 0}' <<<"${line:-x=0}")" "$8" "$4")"
    sleep 1
}

# tls_phase "SCENARIOS" "SERVERS": the HTTPS rows, servers started with a TLS listener, once
# with the ECDSA certificate (tka, t1m, hs, hsr) and once with the RSA one (hs, hsr).
tls_phase() {
    local scens=$1 servers=$2 kt s r scen started certs
    [ -n "$scens" ] && [ -n "$servers" ] || return 0
    certs=$BENCH_TMP/certs
    if [[ " $servers " == *" lighttpd "* ]] && [ ! -e /usr/lib/lighttpd/mod_openssl.so ]; then
        log "installing lighttpd-mod-openssl (lighttpd's TLS module)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lighttpd-mod-openssl >/dev/null 2>&1 ||
            log "WARNING: lighttpd-mod-openssl did not install; lighttpd will fail to start with TLS"
    fi
    bash "$EDDY_ROOT/tests/lib/gen_certs.sh" "$certs" >/dev/null || die "cannot make certificates"
    if [[ " $scens " == *" hs"* ]]; then
        TLS_HANDSHAKES=$(bench_tool tls_handshakes) || die "cannot build bench/tls_handshakes.c"
    fi
    for kt in ec rsa; do
        if [ $kt = ec ]; then
            TLS_CERT=$certs/localhost.chain.pem TLS_KEY=$certs/localhost.key
        else
            TLS_CERT=$certs/rsa.chain.pem TLS_KEY=$certs/rsa.key
        fi
        started=()
        for s in $servers; do
            [ "$s" = canned ] && continue
            # eddy0 (EDDY_BEFORE) joins when its binary has TLS: a before/after of a TLS change.
            [ "$s" = eddy0 ] && ! "$EDDY_BEFORE" --help 2>&1 | grep -q -- --listen-tls && continue
            start_server "tls-$kt-$s" "$s" pinned && started+=("$s") ||
                log "WARNING: $s did not start with TLS; left out"
        done
        for ((r = 1; r <= ROUNDS; r++)); do
            for scen in $scens; do
                for s in $(rotated "$r" "${started[*]}"); do
                    case $scen in
                    tka | t1m) [ $kt = ec ] && one_run "$scen" "$s" "$r" "tls-$kt-$s" ;;
                    hs) hs_run "hs_$kt" "$s" "$r" -new "tls-$kt-$s" ;;
                    hsr) hs_run "hsr_$kt" "$s" "$r" -reuse "tls-$kt-$s" ;;
                    esac
                done
            done
        done
        for s in "${started[@]}"; do
            stop_server "tls-$kt-$s"
        done
    done
    TLS_CERT= TLS_KEY=
}

# Rotates the server order by round so no server always runs first.
rotated() {
    local round=$1 list=($2) n i out=()
    n=${#list[@]}
    for ((i = 0; i < n; i++)); do
        out+=("${list[$(((i + round) % n))]}")
    done
    echo "${out[*]}"
}

# run_phase MODE "SCENARIOS" "SERVERS": starts the servers, runs every round, stops them.
run_phase() {
    local mode=$1 scens=$2 servers=$3 s r scen started=()
    [ -n "$scens" ] && [ -n "$servers" ] || return 0
    for s in $servers; do
        if start_server "$s" "$s" "$mode"; then
            started+=("$s")
        else
            log "WARNING: $s did not start ($mode); it is left out of this phase"
        fi
    done
    for s in "${started[@]}"; do # warm-up: page cache, server caches, TCP
        run_wrk "$s" "$BENCH_TMP/warmup-$s.log" 1 -t1 -c50 -d1s -s "$BENCH_LIB/report.lua" \
            "http://127.0.0.1:${SRV_PORT[$s]}/hello.txt" >/dev/null
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        for scen in $scens; do
            for s in $(rotated "$r" "${started[*]}"); do
                [ "$s" = canned ] && [ "$scen" != ka ] && [ "$scen" != pipe ] && continue
                one_run "$scen" "$s" "$r"
            done
        done
    done
    for s in "${started[@]}"; do
        stop_server "$s"
    done
}

# lighttpd accepts at most max-fds/2 connections; the others get IDLE_N.
idle_target() {
    local cap=$(($(ulimit -Hn) / 2 - 200))
    if [ "$1" = lighttpd ] && [ "$IDLE_N" -gt "$cap" ]; then
        echo "$cap"
    else
        echo "$IDLE_N"
    fi
}

# RSS per idle connection: a fresh pinned server, RSS with 0 idle connections, then with N.
mem_phase() {
    local s n held rss0 rss1 fd0 fd1 slab0 slab1
    for s in $1; do
        start_server "mem-$s" "$s" pinned || {
            log "WARNING: $s did not start for the memory run"
            continue
        }
        curl -s -o /dev/null "http://127.0.0.1:${SRV_PORT[mem-$s]}/hello.txt"
        sleep 1
        rss0=$(rss_kb "mem-$s")
        fd0=$(fd_count "mem-$s")
        slab0=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
        n=$(idle_target "$s")
        start_idle "mem-$s" "$n" "$BENCH_TMP/idle-$s.out"
        held=$IDLE_HELD
        sleep 2
        rss1=$(rss_kb "mem-$s")
        fd1=$(fd_count "mem-$s")
        slab1=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
        stop_idle
        stop_server "mem-$s"
        echo "mem $s 1 $n $held $rss0 $rss1 $fd0 $fd1 $slab0 $slab1" >>"$RAW_FILE"
        log "mem $s: asked $n, held $held, RSS $rss0 -> $rss1 KiB, fds $fd0 -> $fd1"
    done
}

print_header() {
    echo "# eddy bench/compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
        "kernel $(uname -r), fd limit $(ulimit -Hn)"
    echo "# $(nginx -v 2>&1 | head -1); $(h2o --version | head -1); $(lighttpd -v | head -1);" \
        "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "# eddy: $([ "$HAVE_EDDY" = 1 ] && echo "$EDDY_HTTPD ($(git -C "$EDDY_ROOT" log -1 --format='%h %s' 2>/dev/null))" || echo 'NOT AVAILABLE (build/eddy-httpd missing): peers only')"
    [ -n "${EDDY_BEFORE:-}" ] && echo "# eddy0 (before): $EDDY_BEFORE ${EDDY0_ARGS:-}"
    [ -n "${EDDY_ARGS:-}" ] && echo "# eddy flags added: $EDDY_ARGS"
    echo "# at start: $(machine_load)"
    echo "# DURATION=${DURATION}s ROUNDS=$ROUNDS IDLE_N=$IDLE_N SCENARIOS='$SCENARIOS' SERVERS='$SERVERS'"
    echo "# pinned: server taskset -c $SERVER_CPU (one worker/thread), wrk -t1 taskset -c $CLIENT_CPU;" \
        "servers and wrk under '${PRIO[*]:-no nice}'"
    [ -n "$QUOTA_CG" ] && echo "# SERVER_CPU_QUOTA=$SERVER_CPU_QUOTA: every server limited to" \
        "$SERVER_CPU_QUOTA % of one CPU ($QUOTA_CG): server-bound, not the issues' setting"
    return 0
}

main() {
    local pinned_scens="" multi_scens="" tls_scens="" s multi_servers="" mem=0
    bench_init
    ensure_tools nginx h2o lighttpd wrk curl taskset python3 openssl
    [ "$(nproc)" -ge 2 ] || log "WARNING: fewer than 2 CPUs: server and wrk share CPU $SERVER_CPU"
    DOCROOT=$BENCH_TMP/www
    make_docroot "$DOCROOT"
    find_eddy
    find_idle_conns
    if [ -z "${SERVERS:-}" ]; then
        SERVERS="nginx h2o lighttpd"
        [ "$HAVE_EDDY" = 1 ] && SERVERS="eddy canned $SERVERS"
        [ "$HAVE_EDDY" = 1 ] && [ -n "${EDDY_BEFORE:-}" ] && SERVERS="eddy0 $SERVERS"
    elif [ "$HAVE_EDDY" = 0 ]; then
        SERVERS=$(echo " $SERVERS " | sed -e 's/ eddy / /' -e 's/ canned / /')
    fi
    if [[ " $SERVERS " == *" canned "* ]]; then
        CANNED_SERVER=$(bench_tool canned_server) || die "cannot compile bench/canned_server.c"
        # canned copies eddy's response, so it starts after eddy.
        SERVERS="$(echo " $SERVERS " | sed 's/ canned / /') canned"
    fi
    RAW_FILE=${RAW:-$BENCH_TMP/raw.tsv}
    : >"$RAW_FILE"
    for s in $SCENARIOS; do
        case $s in
        ka | pipe | 1m | 64k | 20m | close) pinned_scens+="$s " ;;
        ka2 | pipe2) multi_scens+="$s " ;;
        mem) mem=1 ;;
        tka | t1m | hs | hsr) tls_scens+="$s " ;;
        *) die "unknown scenario $s (ka pipe 1m 64k 20m close ka2 pipe2 mem tka t1m hs hsr)" ;;
        esac
    done
    for s in $SERVERS; do
        [ "$s" = lighttpd ] || [ "$s" = canned ] || multi_servers+="$s "
    done
    print_header
    run_phase pinned "$pinned_scens" "$SERVERS"
    run_phase multi "$multi_scens" "$multi_servers"
    tls_phase "$tls_scens" "$SERVERS"
    [ "$mem" = 1 ] && mem_phase "$(echo " $SERVERS " | sed 's/ canned / /')"
    echo "# at end: $(machine_load)"
    echo
    python3 "$BENCH_LIB/report.py" compare "$RAW_FILE"
    [ -n "${RAW:-}" ] && log "raw results kept in $RAW"
    return 0
}

main "$@"
