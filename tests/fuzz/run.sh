#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_NAME.c with clang libFuzzer + ASan + UBSan against all of
# src/*/*.c (into build-fuzz/) and runs each for SECONDS (default 60), niced, one core.
#   tests/fuzz/run.sh [SECONDS] [NAME...]        (make fuzz FUZZ_SECONDS=N FUZZ_TARGETS=...)
# Seeds: tests/fuzz/corpus/NAME/ (checked in, read only here); new inputs go to the ignored
# tests/fuzz/corpus-work/NAME/. Dictionary: tests/fuzz/NAME.dict, else http.dict for http
# targets. Crash/leak/timeout inputs are copied to tests/fuzz/regression/NAME/, which
# `make test` replays. Exit status 1 if any target found a problem. The per-input timeout is
# 30 s: on a loaded 2-core machine a niced fuzzer saw a spurious 10 s one.
set -u
secs=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
out=build-fuzz
CC=${FUZZ_CC:-clang}

ensure_clang() {
    local probe=$out/probe
    mkdir -p "$out"
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
    if ! "$CC" -fsanitize=fuzzer "$probe.c" -o "$probe" 2>/dev/null; then
        echo "fuzz: installing clang + libFuzzer runtime" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1
        apt-get install -y -qq clang libclang-rt-dev >/dev/null 2>&1
        "$CC" -fsanitize=fuzzer "$probe.c" -o "$probe" || { echo "fuzz: no libFuzzer" >&2; exit 2; }
    fi
}

flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -pthread -Iinclude -Isrc
       -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=undefined)

build_lib() { # every library source, instrumented for coverage but without libFuzzer's main
    local s o objs=() changed=0
    for s in src/*/*.c; do
        # Fuzzing builds without TLS (as make TLS=0): no OpenSSL in the fuzz targets.
        case "$s" in src/net/tls_context.c | src/net/tls_ticket.c | src/net/transport_tls.c) continue ;; esac
        o=$out/obj/${s%.c}.o
        objs+=("$o")
        if [ ! -e "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find include src -name '*.h' -newer "$o" -print -quit)" ]; then
            mkdir -p "$(dirname "$o")"
            "$CC" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$s" -o "$o" || exit 2
            changed=1
        fi
    done
    # An archive, like libeddy.a: a target pulls in only the objects it needs.
    if [ $changed -eq 1 ] || [ ! -e $out/libeddy-fuzz.a ]; then
        rm -f $out/libeddy-fuzz.a
        ar rcs $out/libeddy-fuzz.a "${objs[@]}"
    fi
}

ensure_clang
build_lib
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        [ -e "$f" ] || continue
        n=${f#tests/fuzz/fuzz_}
        names+=("${n%.c}")
    done
fi
status=0
for name in "${names[@]}"; do
    bin=$out/fuzz_$name
    "$CC" "${flags[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$name.c" $out/libeddy-fuzz.a -o "$bin" -lm ||
        { status=1; continue; }
    seeds=tests/fuzz/corpus/$name work=tests/fuzz/corpus-work/$name reg=tests/fuzz/regression/$name
    art=$out/artifacts/$name/
    mkdir -p "$seeds" "$work" "$reg" "$art"
    rm -f "$art"*
    dict=()
    if [ -f "tests/fuzz/$name.dict" ]; then
        dict=(-dict="tests/fuzz/$name.dict")
    elif [[ $name == http* ]]; then
        dict=(-dict=tests/fuzz/http.dict)
    fi
    log=$out/fuzz_$name.log
    echo "fuzz: $name for ${secs}s (log $log)"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        nice -n 10 timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=30 \
        -rss_limit_mb=2048 -max_len=20000 -print_final_stats=1 -artifact_prefix="$art" \
        "${dict[@]}" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1
    grep -E 'stat::(number_of_executed_units|peak_rss_mb)' "$log"
    found=0
    for a in "$art"crash-* "$art"leak-* "$art"timeout-* "$art"oom-* "$art"slow-unit-*; do
        [ -e "$a" ] || continue
        cp "$a" "$reg/" && found=1
        echo "fuzz: $name: kept $(basename "$a") in $reg/"
    done
    if [ $rc -ne 0 ] || [ $found -eq 1 ]; then
        echo "fuzz: $name FAILED (exit $rc); see $log"
        grep -E 'ERROR:|runtime error|SUMMARY' "$log" | head -5
        status=1
    fi
done
exit $status
