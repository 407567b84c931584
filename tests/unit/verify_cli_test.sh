#!/usr/bin/env bash
# aprc verify, aprc kernels and aprc bench --per-kernel end to end on CPU plans: a clean plan passes
# (exit 0, every op listed, prefill and decode checked); a plan compiled with --inject-fault on layer
# 2's down projection fails (exit 1) at exactly the value that op computes, with nothing over
# tolerance before it. On the synthetic tiny preset (no files needed) and, when present, on the
# GGUF fixture. Usage: verify_cli_test.sh APRC FIXTURES_DIR
set -uo pipefail
aprc=$1
fixtures=${APRC_FIXTURES:-$2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The fault goes in before the fusions, so the down projection keeps its own value (it does not fuse
# with the residual add) and verify must name exactly that op.
fault=layers.2.mlp.down_proj
fault_value=layers.2.mlp.down_proj

check_model() {  # NAME, then aprc compile's model arguments
  local name=$1
  shift
  local clean=$tmp/$name.plan faulty=$tmp/$name-fault.plan
  "$aprc" compile "$@" -o "$clean" --target cpu --quiet > /dev/null || { fail "$name: compile"; return; }
  "$aprc" compile "$@" -o "$faulty" --target cpu --quiet --inject-fault "$fault" > /dev/null ||
    { fail "$name: compile --inject-fault $fault"; return; }

  # The clean plan: exit 0, a PASS verdict on the last line, every op within tolerance.
  "$aprc" verify "$clean" --quiet > "$tmp/$name.txt"
  local rc=$?
  [ $rc -eq 0 ] || fail "$name: verify of the clean plan exits $rc, not 0: $(tail -1 "$tmp/$name.txt")"
  tail -1 "$tmp/$name.txt" | grep -q '^PASS: cpu within' || fail "$name: verdict: $(tail -1 "$tmp/$name.txt")"
  "$aprc" verify "$clean" --quiet --json --decode 3 > "$tmp/$name.json"
  rc=$?
  [ $rc -eq 0 ] || fail "$name: verify --json of the clean plan exits $rc"
  python3 - "$tmp/$name.json" <<'PY' || fail "$name: verify --json of the clean plan"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["passed"], j["verdict"]
functions = [c["function"] for c in j["calls"]]
assert functions[0] == "prefill" and functions.count("decode") == 3, functions
e = j["engines"][0]
assert e["engine"] == "cpu" and e["passed"], e.get("first_failure")
ops = {o["op"]: o for o in e["ops"]}
for layer in range(4):
    for op in ("attn.q_proj", "attn.attention", "attn_residual", "mlp_residual"):
        assert f"layers.{layer}.{op}" in ops, (layer, op)
assert "logits" in ops and "embed" in ops
for o in e["ops"]:
    assert o["ok"] and o["max_rel"] <= j["tolerance"] and o["cosine"] > 0.9999, o
# every call compared the values, not only the logits
for c in e["calls"]:
    assert len(c["ops"]) == len(e["ops"]), (c["call"], len(c["ops"]))
PY

  # The faulty plan: exit 1, the first op over tolerance is the perturbed value, in the first call,
  # and every op computed before it (in that call) is within tolerance.
  "$aprc" verify "$faulty" --quiet --json > "$tmp/$name-fault.json"
  rc=$?
  [ $rc -eq 1 ] || fail "$name: verify of the faulty plan exits $rc, not 1"
  python3 - "$tmp/$name-fault.json" "$fault_value" <<'PY' || fail "$name: verify of the faulty plan"
import json, sys
j = json.load(open(sys.argv[1]))
want = sys.argv[2]
assert not j["passed"] and j["verdict"].startswith("FAIL: cpu: first op over tolerance: " + want + " "), j["verdict"]
e = j["engines"][0]
f = e["first_failure"]
assert f["op"] == want and f["call"] == 0 and f["error"]["max_rel"] > 1e-2, f
first = e["calls"][0]["ops"]
names = [o["op"] for o in first]
i = names.index(want)
for o in first[:i]:
    assert o["max_rel"] <= j["tolerance"], ("before the fault", o)
# the value the fault perturbs is the fused down projection's: the same name with .unperturbed is
# what the fused kernel stores, and the reference never computes it
assert want + ".unperturbed" not in names
PY
  "$aprc" verify "$faulty" --quiet > "$tmp/$name-fault.txt"
  grep -q "^  $fault_value .*over tolerance <- first" "$tmp/$name-fault.txt" ||
    fail "$name: the table does not mark $fault_value as the first op over tolerance"

  # aprc kernels: every kernel with its ops and its MLIR; the down projection in one kernel.
  "$aprc" kernels "$clean" --json > "$tmp/$name-kernels.json" || fail "$name: kernels --json"
  python3 - "$tmp/$name-kernels.json" "$fault" <<'PY' || fail "$name: kernels --json content"
import json, sys
j = json.load(open(sys.argv[1]))
(t,) = j["targets"]
assert t["name"] == "cpu" and t["kernels"], t.keys()
holders = []
for k in t["kernels"]:
    assert k["ops"], k["name"]
    assert k["source"].lstrip().startswith("func.func @" + k["name"] + "("), k["name"]
    assert k["source"].count("{") == k["source"].count("}"), k["name"]
    if sys.argv[2] in k["ops"]:
        holders.append(k["name"])
    assert sum(k["steps"].values()) >= 1, k["name"]
assert len(holders) == 1, holders
PY
}

check_model synthetic --synthetic tiny
if [ -f "$fixtures/qwen2-tiny-q4km.gguf" ]; then
  check_model fixture "$fixtures/qwen2-tiny-q4km.gguf"
else
  echo "note: $fixtures/qwen2-tiny-q4km.gguf not found; checked the synthetic model only"
fi

# Plans whose kernels round activations are held to their rounding's noise by default (plan_verify.h,
# default_tolerance): per-token fp8 activations 1e-2 (the note says so), int8 activations 5e-2; the
# same fault is still caught at its value; --tolerance still wins.
"$aprc" compile --synthetic tiny --weights fp8 --fp8-activations per-token -o "$tmp/fp8act.plan" --target cpu --quiet > /dev/null &&
  "$aprc" compile --synthetic tiny --weights fp8 --fp8-activations per-token -o "$tmp/fp8act-fault.plan" --target cpu --quiet \
    --inject-fault "$fault" > /dev/null &&
  "$aprc" compile --synthetic tiny --int8-activations -o "$tmp/int8act.plan" --target cpu --quiet > /dev/null ||
  fail "compile the plans that round activations"
"$aprc" verify "$tmp/fp8act.plan" --json > "$tmp/fp8act.json" 2> "$tmp/fp8act.err"
rc=$?
[ $rc -eq 0 ] && grep -q "note: the plan's kernels round activations (fp8 per token or int8), so the default tolerance is 1e-02" \
  "$tmp/fp8act.err" || fail "verify of a per-token fp8 plan: exit $rc, $(cat "$tmp/fp8act.err" | tail -2)"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['passed'] and j['tolerance'] == 1e-2, j['verdict']" \
  "$tmp/fp8act.json" || fail "verify --json of a per-token fp8 plan"
"$aprc" verify "$tmp/int8act.plan" --quiet --json > "$tmp/int8act.json"
rc=$?
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['passed'] and j['tolerance'] == 5e-2, j['verdict']" \
  "$tmp/int8act.json" && [ $rc -eq 0 ] || fail "verify of an int8-activation plan: exit $rc"
"$aprc" verify "$tmp/fp8act-fault.plan" --quiet > "$tmp/fp8act-fault.txt"
rc=$?
[ $rc -eq 1 ] && tail -1 "$tmp/fp8act-fault.txt" | grep -q "^FAIL: cpu: first op over tolerance: $fault_value in prefill" ||
  fail "verify of a faulty per-token fp8 plan: exit $rc, $(tail -1 "$tmp/fp8act-fault.txt")"
"$aprc" verify "$tmp/fp8act.plan" --quiet --json --tolerance 1e-9 > "$tmp/tight.json"
rc=$?
[ $rc -eq 1 ] || fail "verify --tolerance 1e-9 of a per-token fp8 plan: exit $rc, not 1"

# aprc record (aprc-rt on a GPU host) then aprc verify --recorded (where the compiler is): the
# recorded clean run passes; the recorded faulty run is caught at the same value.
"$aprc" record "$tmp/synthetic.plan" --ids 5,17,2,901,33,7 --decode 2 -o "$tmp/clean.vdump" --quiet > /dev/null ||
  fail "record the clean plan"
"$aprc" record "$tmp/synthetic-fault.plan" --ids 5,17,2,901,33,7 --decode 2 -o "$tmp/fault.vdump" --quiet > /dev/null ||
  fail "record the faulty plan"
"$aprc" verify "$tmp/synthetic.plan" --recorded "$tmp/clean.vdump" --quiet --json > "$tmp/rec.json"
rc=$?
[ $rc -eq 0 ] || fail "verify --recorded of the clean run: exit $rc"
python3 - "$tmp/rec.json" <<'PY' || fail "verify --recorded of the clean run: content"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["prompt_ids"] == [5, 17, 2, 901, 33, 7] and [c["function"] for c in j["calls"]].count("decode") == 2, j["calls"]
(e,) = j["engines"]
assert e["passed"] and "recorded in" in e["device"] and len(e["ops"]) > 30, e["device"]
PY
"$aprc" verify "$tmp/synthetic-fault.plan" --recorded "$tmp/fault.vdump" --quiet > "$tmp/rec.txt"
rc=$?
[ $rc -eq 1 ] && tail -1 "$tmp/rec.txt" | grep -q "^FAIL: cpu: first op over tolerance: $fault_value in prefill" ||
  fail "verify --recorded of the faulty run: exit $rc, $(tail -1 "$tmp/rec.txt")"
head -c 100 "$tmp/clean.vdump" > "$tmp/cut.vdump"
"$aprc" verify "$tmp/synthetic.plan" --recorded "$tmp/cut.vdump" > /dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "verify --recorded of a cut file: exit $rc"

# --override-kernel NAME=FILE.mlir: the final norm's kernel replaced by its own MLIR (as aprc kernels
# prints it) passes verify; with 1/sqrt(mean square) turned into sqrt(mean square)/1 verify names
# final_norm and the hand-written kernel; aprc kernels says which file it came from.
"$aprc" kernels "$tmp/synthetic.plan" --json > "$tmp/k.json" || fail "kernels --json for the override"
norm=$(python3 - "$tmp/k.json" "$tmp/norm.mlir" "$tmp/norm-bad.mlir" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1]))
(k,) = [k for k in j["targets"][0]["kernels"] if k["ops"] == ["final_norm"]]
open(sys.argv[2], "w").write(k["source"])
out, root, swapped = [], None, False
for line in k["source"].split("\n"):
    m = re.search(r"(%\w+) = math.sqrt", line)
    if m:
        root = m.group(1)
    if root and not swapped and "arith.divf" in line and line.rstrip().split(", ")[-1].startswith(root + " "):
        line, swapped = re.sub(r"arith.divf (%\w+), (%\w+)", r"arith.divf \2, \1", line), True
    out.append(line)
assert swapped, "no 1/sqrt in the norm kernel"
open(sys.argv[3], "w").write("\n".join(out))
print(k["name"])
PY
) || fail "the final norm's kernel source"
for variant in norm norm-bad; do
  "$aprc" compile --synthetic tiny -o "$tmp/$variant.plan" --quiet --override-kernel "$norm=$tmp/$variant.mlir" > /dev/null ||
    fail "compile --override-kernel $norm=$variant.mlir"
done
"$aprc" verify "$tmp/norm.plan" --quiet > "$tmp/v.txt" || fail "the unchanged override: $(tail -1 "$tmp/v.txt")"
"$aprc" verify "$tmp/norm-bad.plan" --quiet > "$tmp/v.txt"
rc=$?
[ $rc -eq 1 ] && tail -1 "$tmp/v.txt" | grep -q "^FAIL: cpu: first op over tolerance: final_norm .*kernel $norm" ||
  fail "the faulty override: exit $rc, $(tail -1 "$tmp/v.txt")"
"$aprc" kernels "$tmp/norm-bad.plan" > "$tmp/k.txt" || fail "kernels of the plan with an override"
grep -q "hand-written: \"$tmp/norm-bad.mlir\"" "$tmp/k.txt" || fail "aprc kernels does not show the override"
"$aprc" compile --synthetic tiny -o "$tmp/x.plan" --quiet --override-kernel "no_such_kernel=$tmp/norm.mlir" > /dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--override-kernel of an unknown kernel: exit $rc"

# aprc bench --per-kernel: every kernel timed, bytes and flops counted, the peaks measured.
"$aprc" bench "$tmp/synthetic.plan" --per-kernel --json --prompt-len 9 --gen 3 > "$tmp/bench.json" 2> /dev/null ||
  fail "bench --per-kernel"
python3 - "$tmp/bench.json" <<'PY' || fail "bench --per-kernel --json content"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["engine"] == "cpu" and j["mem_bandwidth_gbs"] > 0 and j["peak_gflops"] > 0, j
for call, tokens in (("decode", 1), ("prefill", 9)):
    p = j[call]
    assert p["tokens"] == tokens and p["kernels"], (call, p["tokens"])
    total = sum(k["seconds"] for k in p["kernels"])
    assert abs(total - p["timed_seconds"]) <= 1e-9 + 1e-6 * total, (call, total, p["timed_seconds"])
    for k in p["kernels"]:
        assert k["seconds"] > 0 and k["calls"] >= 1, k
        assert k["weight_bytes"] + k["cache_bytes"] + k["activation_bytes"] > 0, k
        if k["kind"] == "linear":
            assert k["flops"] > 0 and k["weight_bytes"] > 0, k
        # On the CPU every kernel is held to the fp32 peak.
        assert k["peak"] == "fp32" and k["peak_gflops"] == j["peak_gflops"], k
        assert abs(k["peak_fraction"] - k["gflops"] / j["peak_gflops"]) <= 1e-9 * max(1, k["peak_fraction"]), k
assert j["tensor_peak_gflops"] == {"bf16_mma": 0, "e4m3_mma": 0}, j["tensor_peak_gflops"]
PY

# cuda (where this aprc has NVRTC): aprc kernels shows every cubin kernel's registers, shared memory
# and spills (ptxas's, recorded at compile time); --override-kernel NAME=FILE.cu puts a hand-written
# kernel in the plan (aprc kernels shows it and its text), and refuses with exit 2 a file that does
# not compile or a name no kernel has. (Running and verifying such plans needs a GPU or the emulator:
# compile_cuda_override_test.)
if "$aprc" compile --synthetic tiny --target cuda -o "$tmp/cuda.plan" --quiet > /dev/null 2> "$tmp/err"; then
  "$aprc" kernels "$tmp/cuda.plan" --json > "$tmp/ck.json" || fail "kernels --json of the cuda plan"
  rope=$(python3 - "$tmp/ck.json" "$tmp/rope.cu" "$tmp/rope-broken.cu" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
(t,) = j["targets"]
assert t["name"] == "cuda" and t["kernels"], t
for k in t["kernels"]:
    r = k["resources"]["sm_90"]
    assert r["registers"] > 0 and r["spill_store_bytes"] >= 0 and r["spill_load_bytes"] >= 0, (k["name"], r)
    assert "shared_bytes" in r and "local_bytes" in r, (k["name"], r)
    assert k["info"]["sm_90"]["spill_store_bytes"] == r["spill_store_bytes"], k["name"]
(k,) = [k for k in t["kernels"] if k["computes"].startswith("kv_append:")]  # rotates q and k, appends k and v
open(sys.argv[2], "w").write(k["source"].replace("const int t = blockIdx.x;", "const int t = (int)blockIdx.x;"))
open(sys.argv[3], "w").write(k["source"].replace("const int t = blockIdx.x;", "const int t = blockIdx.x +;"))
print(k["name"])
PY
  ) || fail "aprc kernels --json of the cuda plan: resources"
  "$aprc" kernels "$tmp/cuda.plan" > "$tmp/ck.txt" || fail "kernels of the cuda plan"
  grep -q "^    sm_90: .* registers, .* B static shared.*(spills: [0-9]* B stored, [0-9]* B loaded)" "$tmp/ck.txt" ||
    fail "aprc kernels shows no spills: $(grep -m1 sm_90 "$tmp/ck.txt")"
  "$aprc" compile --synthetic tiny --target cuda -o "$tmp/cuda-rope.plan" --quiet --override-kernel "$rope=$tmp/rope.cu" > /dev/null ||
    fail "compile --override-kernel $rope=rope.cu"
  "$aprc" kernels "$tmp/cuda-rope.plan" --kernel "$rope" > "$tmp/ck.txt" || fail "kernels --kernel $rope of the override"
  grep -q "hand-written: \"$tmp/rope.cu\"" "$tmp/ck.txt" && grep -q "const int t = (int)blockIdx.x;" "$tmp/ck.txt" ||
    fail "aprc kernels does not show the cuda override"
  "$aprc" compile --synthetic tiny --target cuda -o "$tmp/x.plan" --quiet --override-kernel "$rope=$tmp/rope-broken.cu" > /dev/null 2> "$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "^aprc: error: $tmp/rope-broken.cu: the hand-written kernel $rope does not compile" "$tmp/err" ||
    fail "a cuda override that does not compile: exit $rc, $(cat "$tmp/err")"
  "$aprc" compile --synthetic tiny --target cuda -o "$tmp/x.plan" --quiet --override-kernel "rope_nothing=$tmp/rope.cu" > /dev/null 2>&1
  rc=$?
  [ $rc -eq 2 ] || fail "a cuda override of no kernel: exit $rc"
elif grep -q "without the CUDA toolkit" "$tmp/err"; then
  echo "note: this aprc has no NVRTC; the cuda kernel checks are skipped"
else
  fail "compile --target cuda: $(cat "$tmp/err")"
fi

# Bad input: one line, exit 2.
"$aprc" verify "$tmp/missing.plan" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "verify of a missing plan: exit $rc, $(cat "$tmp/err")"
"$aprc" verify "$tmp/synthetic.plan" --engines gpu > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 2 ] || fail "verify --engines gpu: exit $rc"
"$aprc" compile --synthetic tiny -o "$tmp/x.plan" --quiet --inject-fault layers.9.mlp.down_proj > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "layers.9.mlp.down_proj" "$tmp/err" || fail "--inject-fault naming no op: exit $rc, $(cat "$tmp/err")"

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "verify CLI: all checks passed"
