#!/usr/bin/env bash
# aprc tokenize / detokenize end to end on the fixture GGUF: ids of a known case, the round trip,
# --json, and exit code 2 with a message naming the file for bad ids. Exit 77 (skipped) without
# the fixtures.
set -uo pipefail
aprc=$1
model="${APRC_FIXTURES:-../shared/fixtures}/qwen2-tiny-q4km.gguf"
[ -f "$model" ] || { echo "skipped: $model is absent (set APRC_FIXTURES)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

ids=$("$aprc" tokenize "$model" "Hello, world!") || fail "tokenize exited $?"
[ "$ids" = "9707,11,1879,0" ] || fail "tokenize gave '$ids'"
json=$("$aprc" tokenize "$model" "<|im_start|>user" --json) || fail "tokenize --json exited $?"
[ "$json" = '{"ids":[151644,872]}' ] || fail "tokenize --json gave '$json'"
text=$("$aprc" detokenize "$model" "$ids") || fail "detokenize exited $?"
[ "$text" = "Hello, world!" ] || fail "detokenize gave '$text'"

err=$("$aprc" detokenize "$model" 1,151936 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "an out-of-range id exited $rc, expected 2"
[[ "$err" == *"qwen2-tiny-q4km.gguf: token id 151936 is out of range"* ]] || fail "message was '$err'"
"$aprc" detokenize "$model" 1,two >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "a malformed id list exited $rc, expected 2"
echo "tokenizer CLI: 7 checks passed"
