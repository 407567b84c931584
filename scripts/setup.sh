#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install dependencies, fetch the Qwen tokenizer, build
# aprc, and run `aprc demo` (the built-in model of models/, compiled for this CPU and run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/fetch-tokenizer.sh"
"$root/scripts/build.sh"
"$root/build/tools/aprc" demo
