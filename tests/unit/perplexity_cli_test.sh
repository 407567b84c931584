#!/usr/bin/env bash
# aprc perplexity end to end on the fixture GGUF: the reference interpreter on the model file, a
# compiled CPU plan through aprc and aprc-rt agree; the --json shape scripts rely on; bad input.
# Usage: perplexity_cli_test.sh APRC APRC_RT FIXTURES_DIR
set -uo pipefail
aprc=$1
rt=$2
fixtures=${APRC_FIXTURES:-$3}
gguf=$fixtures/qwen2-tiny-q4km.gguf
if [ ! -f "$gguf" ]; then
  echo "SKIP: $gguf not found (set APRC_FIXTURES)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

printf 'import os\n\ndef walk(top):\n    for name in os.listdir(top):\n        yield os.path.join(top, name)\n' > "$tmp/text.py"
"$aprc" compile "$gguf" -o "$tmp/m.plan" --max-tokens 16 --quiet > /dev/null || fail "compile"
"$aprc" perplexity "$gguf" "$tmp/text.py" --window 16 --stride 8 --json --quiet > "$tmp/ref.json" || fail "reference"
"$aprc" perplexity "$tmp/m.plan" "$tmp/text.py" --window 16 --stride 8 --json --quiet > "$tmp/cpu.json" || fail "aprc on the plan"
"$rt" perplexity "$tmp/m.plan" "$tmp/text.py" --window 16 --stride 16 --json > "$tmp/rt.json" 2> "$tmp/rt.err" || fail "aprc-rt"
grep -q "perplexity windows" "$tmp/rt.err" || fail "no progress on stderr"
python3 - "$tmp" <<'PY' || fail "results"
import json, math, sys
d = sys.argv[1]
ref, cpu, rt = (json.load(open(f"{d}/{n}.json")) for n in ("ref", "cpu", "rt"))
keys = {"file", "tokens", "scored", "window", "stride", "nll_mean", "perplexity", "engine", "seconds"}
for r in (ref, cpu, rt):
    assert set(r) == keys, r
    assert math.isfinite(r["perplexity"]) and abs(math.exp(r["nll_mean"]) - r["perplexity"]) <= 1e-9 * r["perplexity"], r
assert ref["engine"] == "reference" and cpu["engine"] == "cpu", (ref, cpu)
assert ref["tokens"] == cpu["tokens"] and ref["scored"] == ref["tokens"] - 1, ref
assert abs(cpu["nll_mean"] - ref["nll_mean"]) <= 1e-4 * abs(ref["nll_mean"]), (ref, cpu)
windows = math.ceil((rt["tokens"] - 16) / 16) + 1
assert rt["scored"] == rt["tokens"] - 1 - (windows - 1), rt  # stride == window: each later window's first token has no context
PY
expect_bad() {  # ARGS... ; the last argument is a piece the message must hold
  local piece=${*: -1}
  local args=("${@:1:$#-1}")
  "$aprc" "${args[@]}" > /dev/null 2> "$tmp/err.txt"
  local rc=$?
  [ $rc -eq 2 ] || fail "aprc ${args[*]}: exit $rc, expected 2"
  grep -qF -- "$piece" "$tmp/err.txt" || fail "aprc ${args[*]}: message lacks '$piece': $(cat "$tmp/err.txt")"
}
expect_bad perplexity "$tmp/m.plan" "$tmp/text.py" --window 8 --stride 9 "--stride"
expect_bad perplexity "$tmp/m.plan" "$tmp/missing.txt" "missing.txt"
expect_bad perplexity "$gguf" "$tmp/text.py" --engine tpu "unknown --engine"

[ $failures -eq 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
