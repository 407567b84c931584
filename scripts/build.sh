#!/usr/bin/env bash
# Configures and builds aprc in build/ (Ninja, two jobs: the CI machine has two cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${APRC_JOBS:-2}
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${APRC_CMAKE_ARGS:-}
cmake --build "$root/build" -j "$jobs"
