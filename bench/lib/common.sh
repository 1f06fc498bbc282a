# shellcheck shell=bash
# Shared functions of the bench/*.sh scripts (source it; it runs nothing).
#
# Everything a script starts is recorded here and stopped by bench_cleanup (installed as the
# EXIT/INT/TERM trap by bench_init), so a benchmark leaves no server, wrk or idle_conns behind.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EDDY_ROOT=${EDDY_ROOT:-$(cd "$BENCH_LIB/../.." && pwd)}
export BENCH_LIB
CLK_TCK=$(getconf CLK_TCK)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MAXCONN=${MAXCONN:-19000}
BUILD_DIR=${BUILD_DIR:-$EDDY_ROOT/build}
EDDY_HTTPD=${EDDY_HTTPD:-$BUILD_DIR/eddy-httpd}
IDLE_CONNS=${IDLE_CONNS:-}
# Servers and wrk run at this nice level (root only; empty: unchanged) so that builds running
# beside a benchmark on this shared 2-CPU machine do not keep them waiting for a CPU.
BENCH_NICE=${BENCH_NICE--10}
PRIO=()
[ -n "$BENCH_NICE" ] && [ "$(id -u)" = 0 ] && PRIO=(nice -n "$BENCH_NICE")

declare -gA SRV_PID=() SRV_PORT=() SRV_KIND=() SRV_DIR=() SRV_READY=()
BG_PIDS=()
MADE_POLICY_RC=0
BENCH_TMP=

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

bench_init() {
    BENCH_TMP=$(mktemp -d /tmp/eddy-bench.XXXXXX)
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # A server is given the whole hard limit (20000 here) so it can hold 15000 idle connections.
    ulimit -n "$(ulimit -Hn)"
    [ -n "${SERVER_CPU_QUOTA:-}" ] && cpu_quota_init
}

# SERVER_CPU_QUOTA=P: every server runs in a cgroup allowed P % of one CPU (CFS bandwidth,
# 10 ms period), so on a machine where the load generator's one core is the limit the
# servers become it instead and req/s compares the servers' own work. Not the default:
# the issues' targets are set for unthrottled servers.
QUOTA_CG=
cpu_quota_init() {
    local p=$SERVER_CPU_QUOTA base
    case $p in '' | *[!0-9]* | 0) die "SERVER_CPU_QUOTA must be a whole percentage (1-100)" ;; esac
    [ "$p" -le 100 ] || die "SERVER_CPU_QUOTA must be a whole percentage (1-100)"
    if [ -w /sys/fs/cgroup/cpu/cgroup.procs ]; then # cgroup v1 cpu controller
        base=/sys/fs/cgroup/cpu
    elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
        base=/sys/fs/cgroup
    else
        die "SERVER_CPU_QUOTA: no writable cgroup cpu controller here"
    fi
    QUOTA_CG=$base/eddy-bench-$$
    mkdir "$QUOTA_CG" || die "SERVER_CPU_QUOTA: cannot create $QUOTA_CG"
    if [ -e "$QUOTA_CG/cpu.max" ]; then
        echo "$((p * 100)) 10000" >"$QUOTA_CG/cpu.max"
    else
        echo 10000 >"$QUOTA_CG/cpu.cfs_period_us" && echo $((p * 100)) >"$QUOTA_CG/cpu.cfs_quota_us"
    fi || die "SERVER_CPU_QUOTA: cannot set the quota of $QUOTA_CG"
    SERVER_WRAP="$BENCH_LIB/cpu_quota.sh $QUOTA_CG ${SERVER_WRAP:-}"
}

bench_cleanup() {
    local key pid
    trap - EXIT INT TERM
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for key in "${!SRV_PID[@]}"; do
        stop_server "$key"
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    [ "$MADE_POLICY_RC" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ -n "$QUOTA_CG" ] && { rmdir "$QUOTA_CG" 2>/dev/null || log "could not remove $QUOTA_CG (a process still in it)"; }
    if [ -n "$BENCH_TMP" ] && [ -z "${KEEP_TMP:-}" ]; then
        rm -rf "$BENCH_TMP"
    elif [ -n "$BENCH_TMP" ]; then
        log "kept $BENCH_TMP (KEEP_TMP set)"
    fi
}

# How busy the shared machine is: other work makes request rates (not so much CPU per
# request) drop, so every report carries this.
machine_load() {
    echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg), CPU pressure $(awk '/^some/ {print $2}' /proc/pressure/cpu 2>/dev/null)"
}

# ---------------------------------------------------------------- tools from Debian

package_of() {
    case $1 in
    gnuplot) echo gnuplot-nox ;;
    perf) echo linux-perf ;;
    *) echo "$1" ;;
    esac
}

# Installs the Debian packages providing the given commands when missing. Debian starts nginx and
# lighttpd as services right after installing them; a temporary policy-rc.d forbids that, and any
# service daemon that still came up (pid file in /run) is stopped so it cannot disturb a run.
ensure_tools() {
    local need=() c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || need+=("$(package_of "$c")")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing from Debian: ${need[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        MADE_POLICY_RC=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed (continuing)"
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || die "apt-get install ${need[*]} failed"
    [ "$MADE_POLICY_RC" = 1 ] && rm -f /usr/sbin/policy-rc.d && MADE_POLICY_RC=0
    stop_service_daemons
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c still missing after installing"
    done
}

stop_service_daemons() {
    local name pidfile pid
    for name in nginx lighttpd h2o; do
        for pidfile in /run/$name.pid /var/run/$name.pid; do
            [ -r "$pidfile" ] || continue
            pid=$(cat "$pidfile" 2>/dev/null)
            if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ]; then
                log "stopping the Debian $name service daemon (pid $pid) started by its package"
                kill -TERM "$pid" 2>/dev/null
            fi
        done
    done
    sleep 0.5
}

# ---------------------------------------------------------------- docroot and binaries

# hello.txt is 13 bytes ("Hello, world\n"); 4k.bin, 64k.bin, 1m.bin and 20m.bin are random bytes.
make_docroot() {
    local dir=$1
    mkdir -p "$dir"
    printf 'Hello, world\n' >"$dir/hello.txt"
    head -c 4096 /dev/urandom >"$dir/4k.bin"
    head -c 65536 /dev/urandom >"$dir/64k.bin"
    head -c 1048576 /dev/urandom >"$dir/1m.bin"
    head -c 20971520 /dev/urandom >"$dir/20m.bin"
}

# Builds eddy-httpd when its sources exist; sets HAVE_EDDY=1 when a usable binary results.
find_eddy() {
    HAVE_EDDY=0
    if [ -d "$EDDY_ROOT/apps/eddy-httpd" ] && [ "$EDDY_HTTPD" = "$BUILD_DIR/eddy-httpd" ]; then
        (cd "$EDDY_ROOT" && make -s -j2 BUILD="$BUILD_DIR" "$BUILD_DIR/eddy-httpd") >&2 ||
            log "WARNING: eddy-httpd sources exist but 'make $BUILD_DIR/eddy-httpd' failed"
    fi
    if [ -x "$EDDY_HTTPD" ]; then
        HAVE_EDDY=1
        log "eddy-httpd: $EDDY_HTTPD"
    else
        log "NOTE: eddy-httpd not found ($EDDY_HTTPD does not exist yet): benchmarking the peers only"
    fi
}

# bench_tool NAME: path of build/bench/NAME. The bench tools are self-contained C: use the
# Makefile's build when it works (it links libeddy.a, which may not exist yet), else compile
# the one source directly.
bench_tool() {
    local t=$BUILD_DIR/bench/$1
    (cd "$EDDY_ROOT" && make -s BUILD="$BUILD_DIR" "$t") >/dev/null 2>&1 && {
        echo "$t"
        return 0
    }
    t=$BENCH_TMP/$1
    local libs=()
    [ "$1" = tls_handshakes ] && libs=(-lssl -lcrypto)
    cc -std=c11 -D_GNU_SOURCE -O2 -Wall -o "$t" "$EDDY_ROOT/bench/$1.c" "${libs[@]}" || return 1
    echo "$t"
}

find_idle_conns() {
    [ -n "$IDLE_CONNS" ] && [ -x "$IDLE_CONNS" ] && return 0
    IDLE_CONNS=$(bench_tool idle_conns) || die "cannot compile bench/idle_conns.c"
}

# capture_response PORT PATH FILE: one complete raw response (head and body) of GET PATH.
capture_response() {
    python3 - "$@" <<'PY'
import socket, sys
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
data = b""
while b"\r\n\r\n" not in data:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("no complete response head")
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
length = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
          if l.lower().startswith(b"content-length:")]
if not length:
    sys.exit("the response has no Content-Length")
while len(body) < length[0]:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("short body")
    body += chunk
open(out, "wb").write(head + b"\r\n\r\n" + body[:length[0]])
PY
}

# ---------------------------------------------------------------- servers

# Below the ephemeral range, so no client socket (wrk, idle_conns) can be sitting on the port.
free_port() {
    local p i lo
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)
    for i in $(seq 1 200); do
        p=$((10000 + RANDOM % (lo - 10000)))
        ss -Htln "sport = :$p" | grep -q . || {
            echo "$p"
            return 0
        }
    done
    die "no free port found"
}

render() { # template dir port workers [event]; TLS templates also get $TLS_PORT_NEXT, $TLS_CERT...
    sed -e "s|@DIR@|$2|g" -e "s|@PORT@|$3|g" -e "s|@WORKERS@|$4|g" -e "s|@EVENT@|${5:-}|g" \
        -e "s|@TPORT@|${TLS_PORT_NEXT:-}|g" -e "s|@CERT@|${TLS_CERT:-}|g" -e "s|@KEY@|${TLS_KEY:-}|g" \
        -e "s|@CIPHERS@|$TLS_CIPHERS|g" -e "s|@CIPHERS13@|$TLS_CIPHERS13|g" \
        -e "s|@MASTER@|${NGINX_MASTER:-on}|g" -e "s|@DOCROOT@|$DOCROOT|g" -e "s|@MAXCONN@|$MAXCONN|g" -e "s|@NOFILE@|$(ulimit -Hn)|g" \
        "$BENCH_LIB/$1"
}

# The TLS scenarios: every server gets the same certificate, key and cipher lists (Mozilla
# intermediate, eddy's defaults). TLS_CERT/TLS_KEY set (by compare.sh) = start with a TLS
# listener too, on SRV_TPORT[KEY].
TLS_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
TLS_CIPHERS13="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
declare -A SRV_TPORT

# start_server KEY KIND MODE [BACKEND]
#   KIND: eddy eddy0 (EDDY_BEFORE) nginx h2o lighttpd canned; MODE: pinned (one worker/thread on CPU $SERVER_CPU) or
#   multi (one worker/thread per core, unpinned); BACKEND: eddy -b value, or lighttpd
#   event-handler. Waits until the server answers GET /hello.txt with 200.
start_server() {
    local key=$1 kind=$2 mode=$3 backend=${4:-} dir=$BENCH_TMP/srv-$1 port workers=1 pin
    local cmd=() threads=(-t 0) tpl="" envp=()
    port=$(free_port)
    TLS_PORT_NEXT=
    if [ -n "${TLS_CERT:-}" ]; then
        TLS_PORT_NEXT=$(free_port)
        tpl=_tls
    fi
    mkdir -p "$dir/tmp"
    pin=("${PRIO[@]}" taskset -c "$SERVER_CPU")
    if [ "$mode" = multi ]; then
        workers=$(nproc)
        pin=("${PRIO[@]}")
        threads=()
    fi
    case $kind in
    nginx)
        render "nginx$tpl.conf.in" "$dir" "$port" "$workers" >"$dir/nginx.conf"
        cmd=(nginx -e stderr -p "$dir" -c "$dir/nginx.conf")
        ;;
    h2o)
        render "h2o$tpl.conf.in" "$dir" "$port" "$workers" >"$dir/h2o.conf"
        cmd=(h2o -c "$dir/h2o.conf")
        if [ -n "$tpl" ]; then # env and taskset exec: $! stays the server (and valgrind's)
            render h2o_openssl.cnf.in "$dir" "$port" "$workers" >"$dir/openssl.cnf"
            envp=(env "OPENSSL_CONF=$dir/openssl.cnf")
        fi
        ;;
    lighttpd)
        render "lighttpd$tpl.conf.in" "$dir" "$port" 1 "${backend:-linux-sysepoll}" >"$dir/lighttpd.conf"
        cmd=(lighttpd -D -f "$dir/lighttpd.conf")
        ;;
    canned)
        # The client's ceiling: eddy's own bytes for /hello.txt, answered by a server that
        # does nothing else (bench/canned_server.c). Needs eddy running in this phase.
        [ -n "${SRV_PORT[eddy]:-}" ] && [ -n "${SRV_PID[eddy]:-}" ] || {
            log "canned: needs eddy-httpd started first in the same phase"
            return 1
        }
        capture_response "${SRV_PORT[eddy]}" /hello.txt "$dir/response" || return 1
        cmd=("$CANNED_SERVER" -p "$port" -f "$dir/response")
        ;;
    eddy | eddy0)
        local bin=$EDDY_HTTPD more=(--keepalive-requests 4294967295)
        # A binary from before keepalive_requests has no limit and no such option.
        [ "$kind" = eddy0 ] && bin=$EDDY_BEFORE &&
            ! "$bin" --help 2>&1 | grep -q -- --keepalive-requests && more=()
        # EDDY_ARGS / EDDY0_ARGS: extra flags for eddy / eddy0 (an A/B of one flag, with
        # EDDY_BEFORE=build/eddy-httpd: the same binary with and without it).
        local extra=${EDDY_ARGS:-}
        [ "$kind" = eddy0 ] && extra=${EDDY0_ARGS:-}
        # shellcheck disable=SC2206
        cmd=("$bin" -l "127.0.0.1:$port" -r "$DOCROOT" "${threads[@]}" -b "${backend:-epoll}"
            --access-log off --keepalive-timeout 3600 "${more[@]}" --max-connections "$MAXCONN" $extra)
        [ -n "$tpl" ] && cmd+=(--listen-tls "127.0.0.1:$TLS_PORT_NEXT" --tls-cert "$TLS_CERT"
            --tls-key "$TLS_KEY")
        ;;
    *) die "unknown server kind $kind" ;;
    esac
    echo "${envp[*]} ${pin[*]} ${SERVER_WRAP:-} ${cmd[*]}" >"$dir/cmdline"
    # No subshell: $! must be the server itself (taskset execs it), so TERM reaches it.
    # SERVER_WRAP (e.g. valgrind ...) goes between taskset and the server.
    # shellcheck disable=SC2086
    "${envp[@]}" "${pin[@]}" ${SERVER_WRAP:-} "${cmd[@]}" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
    SRV_PID[$key]=$!
    SRV_PORT[$key]=$port
    SRV_TPORT[$key]=$TLS_PORT_NEXT
    SRV_KIND[$key]=$kind
    SRV_DIR[$key]=$dir
    wait_ready "$key" && return 0
    # Another process may have taken the port between the check and the bind: retry elsewhere.
    [ -n "${START_RETRY:-}" ] && return 1
    stop_server "$key"
    log "retrying $key on another port"
    START_RETRY=1 start_server "$@"
}

wait_ready() {
    local key=$1 i code
    for i in $(seq 1 "${READY_TRIES:-100}"); do
        if ! kill -0 "${SRV_PID[$key]}" 2>/dev/null; then
            log "server $key exited during startup: $(cat "${SRV_DIR[$key]}/cmdline")"
            tail -n 20 "${SRV_DIR[$key]}/stderr" "${SRV_DIR[$key]}/error.log" >&2 2>/dev/null
            unset "SRV_PID[$key]"
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
            "http://127.0.0.1:${SRV_PORT[$key]}${SRV_READY[$key]:-/hello.txt}" 2>/dev/null)
        if [ "$code" = 200 ]; then
            if [[ ${SRV_KIND[$key]} == eddy* ]] && ! grep -q 'eddy-httpd listening on' "${SRV_DIR[$key]}/stderr"; then
                log "WARNING: eddy-httpd serves but did not print 'eddy-httpd listening on ...'"
            fi
            return 0
        fi
        sleep 0.1
    done
    log "server $key did not answer 200 on ${SRV_READY[$key]:-/hello.txt} within $((${READY_TRIES:-100} / 10)) s"
    return 1
}

# start_cmd KEY PORT READY_PATH CMD...: a server the caller configured itself (to listen on
# 127.0.0.1:PORT), pinned like start_server's and known to stop_server, cpu_ticks and the exit
# trap under KEY; waits until GET READY_PATH answers 200.
start_cmd() {
    local key=$1 dir=$BENCH_TMP/srv-$1
    mkdir -p "$dir"
    SRV_PORT[$key]=$2
    SRV_READY[$key]=$3
    SRV_KIND[$key]=cmd
    SRV_DIR[$key]=$dir
    shift 3
    echo "$*" >"$dir/cmdline"
    "${PRIO[@]}" taskset -c "$SERVER_CPU" "$@" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
    SRV_PID[$key]=$!
    wait_ready "$key"
}

# cpu_per_request KEY LABEL WRK-ARGS...: wrk pinned to CLIENT_CPU against server KEY (the
# WRK-ARGS name a -s script that loads report.lua, and the URL), then one line: LABEL, req/s,
# the server's CPU per request (utime+stime of its process tree: robust on a loaded machine,
# unlike req/s) and the bytes per response as wrk read them (head and body).
cpu_per_request() {
    local key=$1 label=$2 res
    shift 2
    res=$(run_wrk "$key" "$BENCH_TMP/wrk-$key.log" 1 "$@")
    if [ -z "$res" ]; then
        log "$label: wrk gave no result: $(tail -n 3 "$BENCH_TMP/wrk-$key.log")"
        return 1
    fi
    awk -v l="$label" '{ r = $1 > 0 ? $1 : 1
        printf "%-22s %9.0f req/s %9.2f us CPU/request %9.0f bytes/response%s\n", l,
            $1 * 1e6 / $3, $5 / r, $2 / r, ($4 > 0) ? sprintf(" (%d errors)", $4) : "" }' <<<"$res"
}

# The server process and all its descendants (nginx master + workers, h2o + helper).
tree_pids() {
    local p=$1 c
    [ -d "/proc/$p" ] || return 0
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
        tree_pids "$c"
    done
}

stop_server() {
    local key=$1 pid=${SRV_PID[$1]:-} pids i
    [ -n "$pid" ] || return 0
    pids=$(tree_pids "$pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    for i in $pids; do
        kill -KILL "$i" 2>/dev/null
    done
    wait "$pid" 2>/dev/null
    unset "SRV_PID[$key]"
}

# utime+stime of every thread of the server and its children, in clock ticks. /proc/PID/stat of
# a process sums all its threads; fields 14 and 15 count from the ')' closing the command name.
cpu_ticks() {
    local p sum=0 f
    for p in $(tree_pids "${SRV_PID[$1]}"); do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}

# VmRSS summed over the server process and its children, in KiB (nginx: master + workers; the
# pages they share are counted once per process, which cancels out in a difference).
rss_kb() {
    local p sum=0 v
    for p in $(tree_pids "${SRV_PID[$1]}"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

fd_count() {
    local p sum=0 n
    for p in $(tree_pids "${SRV_PID[$1]}"); do
        n=$(ls "/proc/$p/fd" 2>/dev/null | wc -l)
        sum=$((sum + n))
    done
    echo "$sum"
}

# ---------------------------------------------------------------- load

# core_ticks CPU -> "busy total": jiffies of one CPU from /proc/stat (busy = all but idle+iowait).
core_ticks() {
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# children_cpu_s FILE: user+sys seconds of finished children from the output of bash's times
# (its 2nd line). times itself must run in the shell whose children count, not inside $( ).
children_cpu_s() {
    awk 'NR == 2 { gsub(/s/, ""); s = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } print s }' "$1"
}

# run_wrk KEY LOGFILE PINNED(0|1) WRK-ARGS... ->
#   "requests bytes duration_us errors cpu_us p50_us p99_us client_core_busy_pct wrk_cpu_pct"
# (one line, or nothing when wrk failed). The server's CPU is read just before and after wrk;
# client_core_busy_pct is how busy wrk's pinned CPU was (-1 when not pinned): near 100 means
# the client, not the server, set the rate. wrk_cpu_pct is wrk's own CPU time over the run:
# below the core's busy figure, something else ran on wrk's core and the round's rate is low.
run_wrk() {
    local key=$1 logf=$2 pinned=$3 c0 c1 k0 k1 w0 w1 line pin=("${PRIO[@]}")
    shift 3
    [ "$pinned" = 1 ] && pin+=(taskset -c "$CLIENT_CPU")
    c0=$(cpu_ticks "$key")
    k0=$(core_ticks "$CLIENT_CPU")
    times >"$logf.t0"
    "${pin[@]}" wrk "$@" >"$logf" 2>&1
    times >"$logf.t1"
    w0=$(children_cpu_s "$logf.t0")
    w1=$(children_cpu_s "$logf.t1")
    k1=$(core_ticks "$CLIENT_CPU")
    c1=$(cpu_ticks "$key")
    line=$(grep '^EDDYBENCH ' "$logf" | tail -n 1)
    [ -n "$line" ] || return 0
    awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v k0="$k0" -v k1="$k1" -v pinned="$pinned" \
        -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b - a}')" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        err = v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"]
        split(k0, a, " "); split(k1, b, " ")
        busy = (pinned == 1 && b[2] > a[2]) ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : -1
        own = v["duration_us"] > 0 ? 100 * w * 1e6 / v["duration_us"] : -1
        printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", v["requests"], v["bytes"], v["duration_us"],
            err, c * 1e6 / hz, v["p50_us"], v["p99_us"], busy, own }' <<<"$line"
}

# start_idle KEY N OUTFILE: idle_conns against server KEY in the background; waits for its
# "holding" line and sets IDLE_HELD to the count held (0 on failure). Not for $( ): IDLE_PID
# must stay in this shell so stop_idle and the exit trap can stop it.
start_idle() {
    local key=$1 n=$2 out=$3 i
    IDLE_HELD=
    "$IDLE_CONNS" -p "${SRV_PORT[$key]}" -n "$n" -d 0 -T 60 >"$out" 2>"$out.err" </dev/null &
    IDLE_PID=$!
    BG_PIDS+=("$IDLE_PID")
    for i in $(seq 1 700); do
        IDLE_HELD=$(awk '/^holding /{print $2}' "$out" 2>/dev/null)
        [ -n "$IDLE_HELD" ] && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$out.err" ] && sed 's/^/    /' "$out.err" >&2
    IDLE_HELD=${IDLE_HELD:-0}
}

stop_idle() {
    [ -n "${IDLE_PID:-}" ] || return 0
    kill -TERM "$IDLE_PID" 2>/dev/null
    wait "$IDLE_PID" 2>/dev/null
    IDLE_PID=
}

# ab_start_servers LABEL=COMMAND...: for the A/B scripts (ka_ab.sh, pipe_ab.sh): starts each
# eddy-httpd command pinned to SERVER_CPU on a free port, serving $DOCROOT (which must hold
# hello.txt), and waits until it answers. Appends to the caller's labels, pids and ports arrays.
ab_start_servers() {
    local arg label cmd port
    for arg in "$@"; do
        label=${arg%%=*}
        read -ra cmd <<<"${arg#*=}"
        port=$(free_port)
        "${PRIO[@]}" taskset -c "$SERVER_CPU" "${cmd[@]}" -l "127.0.0.1:$port" -r "$DOCROOT" -t 0 \
            -b epoll --access-log off --keepalive-timeout 3600 >"$BENCH_TMP/$label.log" 2>&1 &
        pids+=($!) labels+=("$label") ports+=("$port")
        BG_PIDS+=($!) # stopped by bench_cleanup
        for _ in $(seq 1 50); do
            curl -s -o /dev/null "http://127.0.0.1:$port/hello.txt" && break
            sleep 0.1
        done
    done
}
