#!/usr/bin/env bash
# Soak (not run in CI): 20 minutes of mixed load with churn against eddy-httpd; RSS, fd
# count and CPU sampled every 10 s and checked for stability at the end.
#   tests/hostile/soak.sh [SECONDS] [--server nginx] [--threads N] [--san]
# --san soaks the ASan+UBSan build (build-san/) instead of build/.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=1200
build=build
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --san) build=build-san ;;
    [0-9]*) secs=$1 ;;
    *) args+=("$1") ;;
    esac
    shift
done
cd "$root" || exit 2
bash scripts/deps.sh
if [ "$build" = build-san ]; then make -j2 SAN=1 >/dev/null || exit 2; else make -j2 >/dev/null || exit 2; fi
export EDDY_BUILD=$root/$build EDDY_ROOT=$root
exec timeout -k 10 $((secs + 300)) python3 tests/hostile/soak.py --seconds "$secs" "${args[@]}"
