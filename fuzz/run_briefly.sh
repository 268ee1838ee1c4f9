#!/usr/bin/env bash
# Builds the loader fuzzer with the `fuzz` preset (clang++, ASan+UBSan, libFuzzer) in build/fuzz and
# runs it for SECONDS (default 30) on the seed corpus in fuzz/corpus. Exits non-zero when the build
# fails or the fuzzer finds a crash, leak, sanitizer report or hang; the input that triggered it is
# saved as build/fuzz/artifacts/crash-* (reproduce: build/fuzz/fuzz/loader_fuzzer FILE).
# Exits 77 (ctest's "skipped") when clang++ or libFuzzer is not installed.
#
# usage: fuzz/run_briefly.sh [SECONDS]      env: PEREGRINE_FUZZ_JOBS (build jobs, default 2)
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/fuzz"
jobs="${PEREGRINE_FUZZ_JOBS:-2}"

if ! command -v clang++ >/dev/null; then
  echo "run_briefly: clang++ not found (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 77
fi
runtime_dir="$(clang++ --print-runtime-dir 2>/dev/null || true)"
if [ ! -f "$runtime_dir/libclang_rt.fuzzer-x86_64.a" ]; then
  echo "run_briefly: libFuzzer runtime not found in '$runtime_dir' (Debian package libclang-rt-14-dev)" >&2
  exit 77
fi

start=$(date +%s)
cd "$root"
mkdir -p "$build"
# -O1 and line tables only: the sanitizers need no more, and the build is ~15% faster than -O2 -g.
cmake --preset fuzz -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
make -C "$build" -j"$jobs" loader_fuzzer >"$build/build.log" 2>&1 || { tail -50 "$build/build.log" >&2; exit 1; }
built=$(date +%s)
echo "run_briefly: built loader_fuzzer in $((built - start)) s; fuzzing for $seconds s"

# New inputs the fuzzer finds go to a scratch corpus; the committed seeds stay untouched.
mkdir -p "$build/corpus" "$build/artifacts"
status=0
ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$build/fuzz/loader_fuzzer" "$build/corpus" "$root/fuzz/corpus" \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=30 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 >"$build/fuzz.log" 2>&1 || status=$?
grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)" "$build/fuzz.log" || true
if [ "$status" -ne 0 ]; then
  echo "run_briefly: the fuzzer failed (exit $status); last lines of $build/fuzz.log:" >&2
  tail -60 "$build/fuzz.log" >&2
  exit 1
fi
echo "run_briefly: no crash in $seconds s (total $(( $(date +%s) - start )) s)"
