#!/usr/bin/env bash
# Runs unit tests under the sanitizers (CI calls this after ctest; see the README):
#   build-asan: clang-14, ASan + UBSan (any report aborts), -O1: the unit tests of util,
#               tensor, gguf, kernels, tokenizer, chat, sampling, experts and server, and the
#               model and tools tests that check files and errors rather than long runs;
#   build-tsan: clang-14, ThreadSanitizer, -O1: the thread pool, the scheduler (continuous
#               batching, cancellation) and the HTTP server tests.
# Only the test targets needed are built. Exits non-zero on any failure or sanitizer report.
# Usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${SLUICE_SANITIZE_JOBS:-2}"
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(asan tsan)

configure() {  # configure DIR EXTRA_CMAKE_ARGS...
    local dir=$1
    shift
    CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=None \
        "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only" -DSLUICE_BENCH=OFF "$@" >/dev/null
}

run() {  # run BINARY [GTEST_FILTER]
    local bin=$1 filter=${2:-*}
    local t0=$SECONDS
    timeout 900 "$bin" --gtest_filter="$filter" --gtest_brief=1
    echo "sanitize.sh: $(basename "$bin") ($filter) passed in $((SECONDS - t0)) s"
}

for w in "${what[@]}"; do
    case "$w" in
        asan)
            t0=$SECONDS
            dir="$root/build-asan"
            configure "$dir" -DSLUICE_SANITIZE=ON
            rooms=(util tensor gguf kernels tokenizer chat sampling experts server model tools)
            targets=()
            for r in "${rooms[@]}"; do targets+=("sluice_${r}_tests"); done
            cmake --build "$dir" --target "${targets[@]}" -j"$jobs"
            echo "sanitize.sh: ASan+UBSan build took $((SECONDS - t0)) s"
            export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
            export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
            for r in util tensor gguf kernels tokenizer chat sampling experts server; do
                run "$dir/tests/sluice_${r}_tests"
            done
            # model and tools: the error paths and the small models, not the long golden runs.
            run "$dir/tests/sluice_model_tests" \
                "*errors*:*deepseek2*:*qwen3next*:shared_expert*:decode*:archs/routing_controls*:routing_steer*:batch*"
            run "$dir/tests/sluice_tools_tests" \
                "*prune*:synth*:gguf*:quantize*:calibrate*:trace_session*:profile*:plot*:xml*"
            unset ASAN_OPTIONS UBSAN_OPTIONS
            echo "sanitize.sh: ASan+UBSan done in $((SECONDS - t0)) s"
            ;;
        tsan)
            t0=$SECONDS
            dir="$root/build-tsan"
            configure "$dir" -DSLUICE_TSAN=ON
            cmake --build "$dir" --target sluice_util_tests sluice_server_tests -j"$jobs"
            echo "sanitize.sh: TSan build took $((SECONDS - t0)) s"
            export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
            run "$dir/tests/sluice_util_tests" "thread_pool*"
            run "$dir/tests/sluice_server_tests" "scheduler*:http*:*server*"
            unset TSAN_OPTIONS
            echo "sanitize.sh: TSan done in $((SECONDS - t0)) s"
            ;;
        *)
            echo "usage: scripts/sanitize.sh [asan|tsan]..." >&2
            exit 2
            ;;
    esac
done
