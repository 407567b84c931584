#!/usr/bin/env bash
# aprc-rt is carried to machines that have no LLVM, MLIR, fmt, PCRE2 or utf8proc, and perhaps an
# older libstdc++: its dynamic dependencies must be the C library's alone.
set -euo pipefail
binary=${1:?usage: check_runtime_deps.sh PATH/TO/aprc-rt}
deps=$(ldd "$binary")
echo "$deps"
bad=$(echo "$deps" | grep -Ei 'libLLVM|libMLIR|libfmt|libpcre2|libutf8proc|libstdc\+\+|libgcc_s|libnvrtc|libcuda' || true)
if [ -n "$bad" ]; then
  echo "aprc-rt links libraries it must not carry a dependency on:" >&2
  echo "$bad" >&2
  exit 1
fi
# Nothing outside the C library (libc, libm, libdl, libpthread, the loader, the vDSO).
other=$(echo "$deps" | grep -Ev 'linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so' || true)
if [ -n "$other" ]; then
  echo "aprc-rt depends on more than the C library:" >&2
  echo "$other" >&2
  exit 1
fi
echo "aprc-rt: only C library dependencies"
