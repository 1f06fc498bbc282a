#!/usr/bin/env bash
# bench/lib/tls_cost.sh: server instructions per HTTPS request, counted by callgrind, without
# the handshakes that open the connections: each row runs ab twice (N1 and N2 requests over the
# same number of keep-alive connections) and divides the difference of the two counts by
# N2 - N1. Deterministic enough to compare servers on a busy machine, where timings are not.
#
#   bench/lib/tls_cost.sh                 eddy nginx, rows tka t1m hs hsr
#   SERVERS="eddy nginx h2o" ROWS="tka" bench/lib/tls_cost.sh
#
# Rows: tka (GET /hello.txt, 10 keep-alive connections), t1m (GET /1m.bin, 4 connections), hs (a
# new connection and full TLS 1.3 handshake per request, one at a time, build/bench/tls_handshakes
# -c 1), hsr (the same resumed: tls_handshakes -r, one full handshake first in both counts). ECDSA P-256 certificate,
# or RSA 2048 with PROF_KEY=rsa. OUT (/tmp/eddy-tls-cost) keeps the callgrind dumps.
# CLIENT_IR=1: hs and hsr rows also count the client's instructions per handshake (tls_handshakes
# under callgrind too): where the client core is the limit, the work each server causes the
# client (its tickets, its records) decides the rate.
set -u
. "$(dirname "$0")/common.sh"

ROWS=${ROWS:-tka t1m hs hsr}
OUT=${OUT:-/tmp/eddy-tls-cost}

row_args() { # row -> "connections N1 N2 path keepalive"
    case $1 in
    tka) echo "10 200 2200 hello.txt -k" ;;
    t1m) echo "4 8 58 1m.bin -k" ;;
    hs) echo "1 20 120 hello.txt -new" ;;
    hsr) echo "1 20 120 hello.txt -reuse" ;;
    *) die "unknown row $1" ;;
    esac
}

# Instructions the server ran while ab made N requests (counters zeroed first).
count_ir() { # key cg c n path [ -k ]
    local key=$1 cg=$2 c=$3 n=$4 path=$5 ka=${6:-} pid=${SRV_PID[$1]} before
    callgrind_control -z "$pid" >/dev/null 2>&1
    if [ "$ka" = -new ] || [ "$ka" = -reuse ]; then # n handshakes, one at a time (-r: resumed)
        local r=()
        [ "$ka" = -reuse ] && r=(-r)
        local cw=()
        [ "${CLIENT_IR:-0}" = 1 ] && cw=(valgrind --tool=callgrind --callgrind-out-file="$cg.client-$n")
        "${cw[@]}" "$TLS_HANDSHAKES" -p "${SRV_TPORT[$key]}" -c 1 -n "$n" -u "/$path" "${r[@]}" \
            >"$cg.hs-$n" 2>"$cg.hs-$n.err" || log "tls_handshakes failed for $key: $(cat "$cg.hs-$n.err")"
        awk '/^EDDYHS/ { split($2, a, "="); split($3, b, "=")
            if ("'"$ka"'" == "-reuse" && a[2] != b[2]) print "not all resumed: " $0 > "/dev/stderr"
            print a[2] }' "$cg.hs-$n" >"$cg.count"
    else
        # shellcheck disable=SC2086
        ab $ka -q -c "$c" -n "$n" "https://127.0.0.1:${SRV_TPORT[$key]}/$path" >"$cg.ab-$n" 2>&1
        grep -q "^Failed requests: *0" "$cg.ab-$n" || log "ab reports failures for $key: $cg.ab-$n"
        echo "$n" >"$cg.count"
    fi
    before=$(ls "$cg".* 2>/dev/null | grep -c '\.[0-9]*$')
    callgrind_control -d "$pid" >/dev/null 2>&1
    for _ in $(seq 1 100); do
        [ "$(ls "$cg".* 2>/dev/null | grep -c '\.[0-9]*$')" -gt "$before" ] && break
        sleep 0.1
    done
    grep -h '^totals:' "$(ls -t "$cg".* | grep '\.[0-9]*$' | head -n 1)" | awk '{print $2}'
}

main() {
    local s row c n1 n2 path ka cg i1 i2
    bench_init
    mkdir -p "$OUT"
    ensure_tools nginx h2o ab valgrind callgrind_control openssl
    DOCROOT=$BENCH_TMP/www
    make_docroot "$DOCROOT"
    find_eddy
    TLS_HANDSHAKES=$(bench_tool tls_handshakes) || die "cannot build bench/tls_handshakes.c"
    SERVERS=${SERVERS:-eddy nginx}
    bash "$EDDY_ROOT/tests/lib/gen_certs.sh" "$BENCH_TMP/certs" >/dev/null || die "cannot make certificates"
    TLS_CERT=$BENCH_TMP/certs/localhost.chain.pem TLS_KEY=$BENCH_TMP/certs/localhost.key
    [ "${PROF_KEY:-ec}" = rsa ] && TLS_CERT=$BENCH_TMP/certs/rsa.chain.pem TLS_KEY=$BENCH_TMP/certs/rsa.key
    echo "# bench/lib/tls_cost.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), servers: $SERVERS, rows: $ROWS," \
        "key: ${PROF_KEY:-ec}; instructions per request (callgrind, N2 - N1 requests)"
    for s in $SERVERS; do
        cg=$OUT/callgrind-$s
        rm -f "$cg" "$cg".*
        SERVER_WRAP="valgrind --tool=callgrind --callgrind-out-file=$cg" \
            NGINX_MASTER=off READY_TRIES=600 start_server "$s" "$s" pinned || continue
        for row in $ROWS; do
            read -r c n1 n2 path ka < <(row_args "$row")
            i1=$(count_ir "$s" "$cg" "$c" "$n1" "$path" "$ka")
            n1=$(cat "$cg.count")
            i2=$(count_ir "$s" "$cg" "$c" "$n2" "$path" "$ka")
            n2=$(cat "$cg.count")
            printf '%-8s %-4s %12.0f instructions per request (%s and %s requests: %s, %s)\n' "$s" "$row" \
                "$(awk -v a="$i1" -v b="$i2" -v n="$n1" -v m="$n2" 'BEGIN{print (b - a) / (m - n)}')" \
                "$n1" "$n2" "$i1" "$i2"
            if [ "${CLIENT_IR:-0}" = 1 ] && [ -f "$cg.client-$n1" ] && [ -f "$cg.client-$n2" ]; then
                printf '%-8s %-4s %12.0f client instructions per handshake\n' "$s" "$row" \
                    "$(awk -v n="$n1" -v m="$n2" '/^totals:/ { t[FILENAME] = $2; f[++k] = FILENAME }
                        END { print (t[f[2]] - t[f[1]]) / (m - n) }' "$cg.client-$n1" "$cg.client-$n2")"
            fi
        done
        stop_server "$s"
    done
}

main "$@"
