#!/usr/bin/env bash
# The whole test suite from a fresh machine: dependencies, build, unit/lit/end-to-end tests, and a
# short smoke run of every parser fuzzer (built with clang, ASan and UBSan). GPU tests skip cleanly
# where there is no GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/fetch-tokenizer.sh"
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure -j "${APRC_JOBS:-2}"
# The parsers under ASan + UBSan: bad-input tests and a short libFuzzer run of each (build-fuzz/).
"$root/scripts/fuzz-smoke.sh"
