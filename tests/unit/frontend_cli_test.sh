#!/usr/bin/env bash
# aprc inspect / import end to end: the JSON shape scripts rely on, the import round trip, and
# bad input (exit 2, one line naming the file). Usage: frontend_cli_test.sh APRC FIXTURES_DIR
set -uo pipefail
aprc=$1
fixtures=${APRC_FIXTURES:-$2}
gguf=$fixtures/qwen2-tiny-q4km.gguf
hf=$fixtures/qwen2-hf-tiny
if [ ! -f "$gguf" ] || [ ! -d "$hf" ]; then
  echo "SKIP: fixtures not found under $fixtures (set APRC_FIXTURES)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# --- inspect --json of the GGUF fixture: the shape and the values of the fixture README ---------
"$aprc" inspect "$gguf" --json > "$tmp/gguf.json" || fail "inspect $gguf"
python3 - "$tmp/gguf.json" <<'PY' || fail "inspect --json content"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format"] == "gguf" and j["architecture"] == "qwen2", j["format"]
c = j["config"]
want = dict(hidden_size=256, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=64, intermediate_size=768,
            vocab_size=151936, rope_theta=1e6, tied_embeddings=True)
for k, v in want.items():
    assert c[k] == v, (k, c[k], v)
assert abs(c["rms_norm_eps"] - 1e-6) < 1e-12
t = j["tokenizer"]
assert t["tokens"] == 151936 and t["merges"] == 151387 and t["eos_token_id"] == 151645, t
assert len(j["tensors"]) == 50
types = {}
for x in j["tensors"]:
    assert set(x) >= {"name", "dtype", "shape", "bytes"}, x
    types[x["name"].split(".")[-2] if "layers" in x["name"] else x["name"]] = x["dtype"]
assert j["total_bytes"] == sum(x["bytes"] for x in j["tensors"])
by = {x["name"]: x for x in j["tensors"]}
assert by["model.embed_tokens.weight"]["dtype"] == "q4_k" and by["model.embed_tokens.weight"]["shape"] == [151936, 256]
for l in range(4):
    p = f"model.layers.{l}."
    for n in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"]:
        assert by[p + n + ".weight"]["dtype"] == "q4_k", n
    for n in ["self_attn.v_proj", "mlp.down_proj"]:
        assert by[p + n + ".weight"]["dtype"] == "q6_k", n
    for n in ["input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.bias"]:
        assert by[p + n]["dtype"] == "f32", n
PY

# --- the readable table names the config and every tensor -----------------------------------------
"$aprc" inspect "$gguf" > "$tmp/table.txt" || fail "inspect table"
grep -q "hidden_size 256" "$tmp/table.txt" || fail "table lacks the config"
[ "$(grep -c '^  model\.' "$tmp/table.txt")" -eq 50 ] || fail "table lacks tensors"

# --- import GGUF -> APR -> inspect: same config and tensors ------------------------------------
"$aprc" import "$gguf" -o "$tmp/t.apr" > /dev/null || fail "import $gguf"
"$aprc" inspect "$tmp/t.apr" --json > "$tmp/apr.json" || fail "inspect t.apr"
"$aprc" import "$hf" -o "$tmp/h.apr" > /dev/null || fail "import $hf"
"$aprc" inspect "$hf" --json > "$tmp/hf.json" || fail "inspect $hf"
"$aprc" inspect "$tmp/h.apr" --json > "$tmp/happr.json" || fail "inspect h.apr"
python3 - "$tmp" <<'PY' || fail "import round trip"
import json, sys
d = sys.argv[1]
for a, b in [("gguf.json", "apr.json"), ("hf.json", "happr.json")]:
    x, y = json.load(open(f"{d}/{a}")), json.load(open(f"{d}/{b}"))
    assert y["format"] == "apr"
    assert x["config"] == y["config"], (x["config"], y["config"])
    strip = lambda j: [(t["name"], t["dtype"], t["shape"], t["bytes"]) for t in j["tensors"]]
    assert strip(x) == strip(y)
    assert x["tokenizer"] == y["tokenizer"], (x["tokenizer"], y["tokenizer"])
hf = json.load(open(f"{d}/hf.json"))
assert hf["format"] == "safetensors" and hf["config"]["hidden_size"] == 64 and hf["config"]["rope_theta"] == 1e6
PY

# --- import to GGUF (aprc's writer): quantized, the --json summary, read back by inspect ------------
"$aprc" import "$hf" -o "$tmp/h.gguf" --quant q8_0 --json > "$tmp/import.json" 2> "$tmp/import.err" || fail "import $hf to gguf"
"$aprc" inspect "$tmp/h.gguf" --json > "$tmp/hgguf.json" || fail "inspect h.gguf"
"$aprc" import "$gguf" -o "$tmp/t.gguf" --quiet > /dev/null || fail "import $gguf to gguf"
cmp -s <("$aprc" inspect "$gguf" --json | grep -v '"path"') <("$aprc" inspect "$tmp/t.gguf" --json | grep -v '"path"') ||
  fail "gguf -> gguf (keep) differs"
"$aprc" import "$gguf" -o "$tmp/q.apr" --quant q4_k_m --no-tied-copy > /dev/null 2> "$tmp/q.err" || fail "import --quant q4_k_m to apr"
grep -q "model.embed_tokens.weight q4_k -> q6_k" "$tmp/q.err" || fail "no progress lines: $(head -3 "$tmp/q.err")"
python3 - "$tmp" <<'PY' || fail "import to gguf"
import json, sys
d = sys.argv[1]
s = json.load(open(f"{d}/import.json"))
assert s["output_format"] == "gguf" and s["quant"] == "q8_0" and s["tensors"] == 26, s
assert s["stored_types"] == {"f32": 11, "q8_0": 15}, s
x, y = json.load(open(f"{d}/hf.json")), json.load(open(f"{d}/hgguf.json"))
eps = y["config"].pop("rms_norm_eps"), x["config"].pop("rms_norm_eps")  # GGUF keeps floats as f32
assert abs(eps[0] - eps[1]) < 1e-12, eps
assert y["format"] == "gguf" and x["config"] == y["config"], (x["config"], y["config"])
types = {t["name"]: t["dtype"] for t in y["tensors"]}
assert types["model.layers.0.self_attn.q_proj.weight"] == "q8_0" and types["model.norm.weight"] == "f32", types
assert y["tokenizer"]["tokens"] == x["config"]["vocab_size"], y["tokenizer"]
PY
expect_bad_early() { "$aprc" "$@" > /dev/null 2>&1; [ $? -eq 2 ] || fail "aprc $*: expected exit 2"; }
expect_bad_early import "$hf" -o "$tmp/x.apr" --quant q8_0
expect_bad_early import "$hf" -o "$tmp/x.gguf" --quant q3_k

# --- bad input: exit 2, one line on stderr naming the file ----------------------------------------
expect_bad() {  # FILE-OR-ARGS... ; the last argument is a piece the message must hold
  local piece=${*: -1}
  local args=("${@:1:$#-1}")
  "$aprc" "${args[@]}" > /dev/null 2> "$tmp/err.txt"
  local rc=$?
  [ $rc -eq 2 ] || fail "aprc ${args[*]}: exit $rc, expected 2"
  [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] || fail "aprc ${args[*]}: not one line: $(cat "$tmp/err.txt")"
  grep -qF -- "$piece" "$tmp/err.txt" || fail "aprc ${args[*]}: message lacks '$piece': $(cat "$tmp/err.txt")"
}
head -c 100000 "$gguf" > "$tmp/trunc.gguf"
expect_bad inspect "$tmp/trunc.gguf" "trunc.gguf: truncated"
head -c 1000000 "$tmp/t.apr" > "$tmp/trunc.apr"
expect_bad inspect "$tmp/trunc.apr" "trunc.apr: footer CRC mismatch"
expect_bad inspect "$fixtures/aprn-v1-mnist.apr" "APRN"
expect_bad inspect "$tmp/missing.gguf" "missing.gguf"
expect_bad inspect "expected 1 argument"
expect_bad inspect "$gguf" --bogus "unknown option --bogus"
expect_bad import "$gguf" "missing -o"
python3 - "$gguf" "$tmp/count.gguf" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[8:16] = (1 << 40).to_bytes(8, "little")  # the tensor count
open(sys.argv[2], "wb").write(b)
PY
expect_bad inspect "$tmp/count.gguf" "count.gguf: the tensor count 1099511627776 is more than the file can hold"
printf 'GGUF\x04\x00\x00\x00' > "$tmp/v4.gguf"
expect_bad inspect "$tmp/v4.gguf" "unsupported GGUF version 4"

[ $failures -eq 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
