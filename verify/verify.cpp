#include "aprc/verify/verify.h"

#include <algorithm>
#include <map>

#include "aprc/error.h"

namespace aprc::verify {

std::string Call::label() const {
  if (function == "decode") return "decode at position " + std::to_string(pos);
  return function + " of positions [" + std::to_string(pos) + ", " + std::to_string(pos + static_cast<int64_t>(ids.size())) +
         ")";
}

bool Verification::passed() const {
  return std::all_of(engines.begin(), engines.end(), [](const EngineCheck& e) { return !e.skipped.empty() || e.passed(); });
}

int Verification::engines_run() const {
  return static_cast<int>(std::count_if(engines.begin(), engines.end(), [](const EngineCheck& e) { return e.skipped.empty(); }));
}

int layer_of(std::string_view op) {
  constexpr std::string_view prefix = "layers.";
  if (op.substr(0, prefix.size()) != prefix) return -1;
  int layer = 0;
  size_t i = prefix.size();
  if (i >= op.size() || op[i] < '0' || op[i] > '9') return -1;
  for (; i < op.size() && op[i] >= '0' && op[i] <= '9'; ++i) layer = layer * 10 + (op[i] - '0');
  return i < op.size() && op[i] == '.' ? layer : -1;
}

namespace {

std::string shape(const reference::Activation& a) {
  std::string s = "[";
  s += std::to_string(a.rows);
  s += ", ";
  s += std::to_string(a.cols);
  s += "]";
  return s;
}

// The reference's values of one call, in the order it computed them.
struct ReferenceValues {
  std::vector<NamedValue> values;
  std::map<std::string, size_t> index;
  void add(NamedValue&& v) {
    auto [it, fresh] = index.emplace(v.name, values.size());
    if (fresh)
      values.push_back(std::move(v));
    else
      values[it->second] = std::move(v);  // a name computed twice: the later value is the one used
  }
};

// Compares a candidate's values with the reference's as they come.
class Checker {
 public:
  explicit Checker(const ReferenceValues& ref) : ref_(ref), checks_(ref.values.size()) {}

  void operator()(NamedValue&& v) {
    auto it = ref_.index.find(v.name);
    if (it == ref_.index.end()) return;  // a value the reference has no name for (e.g. a fault's unperturbed input)
    const reference::Activation& want = ref_.values[it->second].value;
    OpCheck c;
    c.op = v.name;
    c.step = v.step;
    c.kernel = std::move(v.kernel);
    c.ops = std::move(v.ops);
    if (want.rows != v.value.rows || want.cols != v.value.cols)
      c.mismatch = shape(v.value) + " where the reference has " + shape(want);
    else
      c.error = compare(want.data, v.value.data);
    checks_[it->second] = std::move(c);
  }

  CallCheck finish(const Call& call) {
    CallCheck out{call, {}, {}};
    for (size_t i = 0; i < checks_.size(); ++i) {
      if (checks_[i])
        out.ops.push_back(std::move(*checks_[i]));
      else
        out.missing.push_back(ref_.values[i].name);
    }
    return out;
  }

 private:
  const ReferenceValues& ref_;
  std::vector<std::optional<OpCheck>> checks_;
};

int32_t argmax_last_row(const reference::Activation& logits) {
  const float* row = logits.row(logits.rows - 1);
  return static_cast<int32_t>(std::max_element(row, row + logits.cols) - row);
}

}  // namespace

Verification verify(Executor& reference, std::span<Executor* const> candidates, std::span<const int32_t> prompt,
                    const VerifyOptions& options, const Progress& progress) {
  if (prompt.empty()) throw_bad_input("verify: the prompt has no tokens");
  Verification v;
  v.tolerance = options.tolerance;
  v.prompt.assign(prompt.begin(), prompt.end());
  v.reference = reference.name() + " (" + reference.device() + ")";
  int64_t chunk = reference.max_prefill_tokens();
  for (Executor* c : candidates) {
    chunk = std::min(chunk, c->max_prefill_tokens());
    v.engines.push_back(EngineCheck{c->name(), c->device(), {}, {}, {}});
  }
  if (chunk < 1) throw_bad_input("verify: an engine has no prefill function");

  auto note = [&](const std::string& what) {
    if (progress) progress(what);
  };
  std::vector<Call> calls;
  for (size_t begin = 0; begin < prompt.size(); begin += static_cast<size_t>(chunk)) {
    const size_t end = std::min(prompt.size(), begin + static_cast<size_t>(chunk));
    calls.push_back(Call{"prefill", static_cast<int64_t>(begin), {prompt.begin() + begin, prompt.begin() + end}});
  }
  const size_t decode_calls = options.decode_tokens.empty() ? static_cast<size_t>(std::max(0, options.decode_steps))
                                                           : options.decode_tokens.size();
  const size_t prefill_calls = calls.size(), total = prefill_calls + decode_calls;
  int32_t next = 0;  // the reference's greedy token after the previous call
  for (size_t i = 0; i < total; ++i) {
    if (i >= prefill_calls) {
      const int32_t token = options.decode_tokens.empty() ? next : options.decode_tokens[i - prefill_calls];
      calls.push_back(Call{"decode", static_cast<int64_t>(prompt.size() + (i - prefill_calls)), {token}});
    }
    const Call call = calls[i];
    note(call.label() + ": " + reference.name());
    ReferenceValues ref;
    const reference::Activation logits =
        reference.run(call.function, call.ids, call.pos, [&](NamedValue&& value) { ref.add(std::move(value)); });
    if (!ref.index.count("logits")) ref.add(NamedValue{"logits", logits, -1, {}, {}});
    next = argmax_last_row(logits);
    for (size_t e = 0; e < candidates.size(); ++e) {
      note(call.label() + ": " + candidates[e]->name());
      Checker check(ref);
      bool saw_logits = false;
      const reference::Activation got = candidates[e]->run(call.function, call.ids, call.pos, [&](NamedValue&& value) {
        saw_logits = saw_logits || value.name == "logits";
        check(std::move(value));
      });
      if (!saw_logits) check(NamedValue{"logits", got, -1, {}, {}});  // a plan without OutputNames: the logits at least
      v.engines[e].calls.push_back(check.finish(call));
    }
  }
  v.calls = std::move(calls);
  for (EngineCheck& e : v.engines)
    for (size_t c = 0; c < e.calls.size() && !e.failure; ++c)
      for (size_t o = 0; o < e.calls[c].ops.size(); ++o)
        if (!e.calls[c].ops[o].ok(options.tolerance)) {
          e.failure = EngineCheck::Failure{c, o};
          break;
        }
  return v;
}

}  // namespace aprc::verify
