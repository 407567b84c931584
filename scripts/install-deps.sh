#!/usr/bin/env bash
# Installs what aprc builds with on Debian 12: LLVM/MLIR 19, fmt, nlohmann_json, GoogleTest, PCRE2,
# utf8proc, LLD (to link generated CPU code), Ninja, clang (for the fuzzers). Skips apt when all are
# present. The CUDA 13 toolkit is not installed here: the build uses /usr/local/cuda when present.
set -euo pipefail
packages=(libmlir-19-dev mlir-19-tools llvm-19-dev liblld-19-dev libfmt-dev nlohmann-json3-dev
          libgtest-dev libpcre2-dev libutf8proc-dev ninja-build cmake g++ clang python3 pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "aprc: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
if [ -x /usr/local/cuda/bin/nvcc ] || [ -f /usr/local/cuda/lib64/libnvrtc.so ]; then
  echo "aprc: CUDA toolkit found at /usr/local/cuda (cuda targets enabled)"
else
  echo "aprc: no CUDA toolkit at /usr/local/cuda: the compiler will build without the cuda target"
fi
