#!/usr/bin/env bash
# Runs the test binaries of one build directory and the black-box scripts against it.
#   tests/run.sh --build build [--label plain] [--results FILE] [--only-mt] [--filter SUBSTR]
#   tests/run.sh --summary FILE      prints "N passed, N failed" over every recorded run
# A test case is a line "ok - NAME" or "not ok - NAME". A program that exits non-zero,
# times out or crashes without reporting a failure counts as one more failure.
set -u
build=build label=plain results="" only_mt=0 filter="" summary=""
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift ;;
    --label) label=$2; shift ;;
    --results) results=$2; shift ;;
    --only-mt) only_mt=1 ;;
    --filter) filter=$2; shift ;;
    --summary) summary=$2; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "$summary" ]; then
    p=0 f=0
    [ -f "$summary" ] && while read -r _ _ a b; do p=$((p + a)); f=$((f + b)); done <"$summary"
    echo "$p passed, $f failed"
    [ "$f" -eq 0 ] && [ "$p" -gt 0 ]
    exit
fi

timeout_s=${EDDY_TEST_TIMEOUT:-300}
export EDDY_BUILD="$root/$build" EDDY_ROOT="$root"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
tp=0 tf=0
log_dir="$root/$build/test-logs"
mkdir -p "$log_dir"

run_one() { # name, command...
    local name=$1; shift
    local log="$log_dir/$name.log" rc ok bad
    local t0=$SECONDS
    timeout -k 5 "$timeout_s" "$@" >"$log" 2>&1
    rc=$?
    ok=$(grep -c '^ok - ' "$log")
    bad=$(grep -c '^not ok - ' "$log")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
        [ "$rc" -eq 124 ] && echo "not ok - $name timed out after ${timeout_s}s" >>"$log"
        echo "not ok - $name exited with status $rc" >>"$log"
    fi
    if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
        echo "not ok - $name reported no test" >>"$log"
    fi
    tp=$((tp + ok)) tf=$((tf + bad))
    printf '[%s] %-40s %4d passed %3d failed  %3ds\n' "$label" "$name" "$ok" "$bad" $((SECONDS - t0))
    if [ "$bad" -ne 0 ]; then
        grep -E '^(not ok|#)' "$log" | head -40 | sed 's/^/    /'
        grep -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error|WARNING: ThreadSanitizer' "$log" |
            head -5 | sed 's/^/    /'
    fi
}

shopt -s nullglob
for t in "$root/$build"/tests/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    [ $only_mt -eq 1 ] && [[ "$n" != *_mt ]] && continue
    [ -n "$filter" ] && [[ "$n" != *"$filter"* ]] && continue
    run_one "$n" "$t"
done
for t in "$root"/tests/blackbox/test_*.py "$root"/tests/blackbox/test_*.sh; do
    n=$(basename "$t")
    base=${n%.*}
    [ $only_mt -eq 1 ] && [[ "$base" != *_mt ]] && continue
    [ -n "$filter" ] && [[ "$n" != *"$filter"* ]] && continue
    case "$t" in
    *.py) run_one "$n" python3 "$t" ;;
    *.sh) run_one "$n" bash "$t" ;;
    esac
done
echo "[$label] $tp passed, $tf failed"
[ -n "$results" ] && echo "$label run $tp $tf" >>"$root/$results"
[ "$tf" -eq 0 ]
