#!/usr/bin/env bash
# bench/million.sh at N = 20,000: eddy's HTTP server on ustack over a shmlink holds every
# connection (held == N), none fails, no request stalls, and an idle connection costs the
# server between 1 byte and 4 KiB of RSS (the kernel's socket alone is ~4.9 KB).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${EDDY_BUILD:-$root/build}
out=$(N=20000 K=100,1000 D=1 ROUNDS=1 BIN="$build/bench/million" timeout 240 bash "$root/bench/million.sh" 2>&1)
rc=$?
last=$(tail -1 <<<"$out")
echo "$out" | sed 's/^/# /'
if [ $rc -ne 0 ]; then
    echo "not ok - million.sh exited with $rc"
    exit 1
fi
re='^million: held ([0-9]+) of ([0-9]+) connections; server RSS per idle connection ([0-9]+) bytes; active req/s at N idle / at 0 idle = ([0-9.]+)$'
if [[ ! $last =~ $re ]]; then
    echo "not ok - last line malformed: $last"
    exit 1
fi
held=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]} per=${BASH_REMATCH[3]} ratio=${BASH_REMATCH[4]}
fail=0
check() { # cond message
    if eval "$1"; then echo "ok - $2"; else echo "not ok - $2 ($1)"; fail=1; fi
}
check "[ $total -eq 21000 ]" "20,000 idle plus 1,000 active connections opened"
check "[ $held -eq $total ]" "every connection held: $held of $total"
check "grep -q '^failed connections: 0; stalled requests: 0$' <<<\"\$out\"" "no connection failed, no request stalled"
# ASan's redzones and quarantine multiply every allocation: a looser bound there
limit=4096
case "$(basename "$build")" in *san*) limit=32768 ;; esac
check "[ $per -gt 0 ] && [ $per -le $limit ]" "server RSS per idle connection $per bytes (0 < B <= $limit)"
check "awk 'BEGIN { exit !($ratio > 0) }'" "active requests served with N idle (ratio $ratio)"
exit $fail
