#!/usr/bin/env bash
# The sanitizer part of the test suite, in its own build folder (build-fuzz/): the model parsers and
# their unit tests built with clang, ASan and UBSan; the frontend and format tests (the
# corrupted-copy tests among them) run under the sanitizers; then each parser's libFuzzer target
# runs for APRC_FUZZ_SECONDS (default 25) from small seed files. Crashing inputs are kept in
# build-fuzz/fuzz-artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${APRC_FUZZ_BUILD:-$root/build-fuzz}
jobs=${APRC_JOBS:-2}
seconds=${APRC_FUZZ_SECONDS:-25}
fixtures=${APRC_FIXTURES:-$root/../shared/fixtures}

mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DAPRC_FUZZ=ON -DAPRC_BUILD_COMPILER=OFF -DAPRC_FIXTURES_DIR="$fixtures" > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
targets=(aprc_fuzz_gguf aprc_fuzz_apr aprc_fuzz_safetensors aprc_fuzz_config_json aprc_fuzz_plan make_fuzz_seeds
         aprc_frontend_tests aprc_formats_tests)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
echo "fuzz-smoke: the bad-input (corrupted copies) and format tests under ASan + UBSan"
# The unit tests that feed bad input (the slow fixture round trips run in the normal build only).
APRC_FIXTURES="$fixtures" "$build/tests/aprc_frontend_tests" --gtest_brief=1 \
  --gtest_filter='*Corruption*:Apr.Refuses*:HfFolder.Bad*:TokenizerJson.Bad*:GgufSplit.Bad*:GgufParse.*'
APRC_FIXTURES="$fixtures" "$build/tests/aprc_formats_tests" --gtest_brief=1

corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
rm -rf "$corpus"
mkdir -p "$artifacts"
"$build/tests/fuzz/make_fuzz_seeds" "$corpus"
[ -f "$fixtures/qwen2-hf-tiny/config.json" ] && cp "$fixtures/qwen2-hf-tiny/config.json" "$corpus/config_json/"
for target in gguf apr safetensors config_json plan; do
  echo "fuzz-smoke: aprc_fuzz_$target for ${seconds}s"
  "$build/tests/fuzz/aprc_fuzz_$target" "$corpus/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$artifacts/$target-" -print_final_stats=1 2>&1 |
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|fuzz:)|Done" || true
  # libFuzzer's exit status is lost in the pipe: a crash leaves an artifact.
  if compgen -G "$artifacts/$target-*" > /dev/null; then
    echo "fuzz-smoke: aprc_fuzz_$target found a failing input: $(ls "$artifacts/$target-"*)"
    exit 1
  fi
done
echo "fuzz-smoke: passed"
