#include "aprc/verify/report.h"

#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

namespace aprc::verify {

namespace {

std::string sci(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return "inf";
  return fmt::format("{:.2e}", x);
}

// "layers.7.mlp.up_proj" -> "layers.N.mlp.up_proj"
std::string generic_name(const std::string& op) {
  if (layer_of(op) < 0) return op;
  const size_t dot = op.find('.', 7);
  return "layers.N" + op.substr(dot);
}

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string s;
  for (const std::string& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

nlohmann::json number(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}

nlohmann::json error_json(const TensorError& e) {
  return {{"max_abs", number(e.max_abs)}, {"max_rel", number(e.max_rel)}, {"cosine", number(e.cosine)},
          {"ref_max", number(e.ref_max)}, {"finite", e.finite}};
}

}  // namespace

std::vector<OpSummary> summarize(const EngineCheck& engine, double tolerance) {
  std::vector<OpSummary> ops;
  std::map<std::string, size_t> index;
  for (const CallCheck& call : engine.calls)
    for (const OpCheck& c : call.ops) {
      auto [it, fresh] = index.emplace(c.op, ops.size());
      if (fresh) {
        ops.push_back(OpSummary{c.op, layer_of(c.op), c.error, c.mismatch, call.call.label(), c.ok(tolerance)});
        continue;
      }
      OpSummary& s = ops[it->second];
      if (c.error.max_rel > s.error.max_rel || (!c.error.finite && s.error.finite)) s.worst_call = call.call.label();
      s.error = worst_of(s.error, c.error);
      if (s.mismatch.empty()) s.mismatch = c.mismatch;
      s.ok = s.ok && c.ok(tolerance);
    }
  // Layers in order; ops outside them go before (embed) or after (final_norm, logits) them, as
  // the reference computed them.
  bool seen_layer = false;
  for (OpSummary& o : ops) {
    seen_layer = seen_layer || o.layer >= 0;
    o.group = o.layer >= 0 ? o.layer : seen_layer ? OpSummary::kAfterLayers : OpSummary::kBeforeLayers;
  }
  std::stable_sort(ops.begin(), ops.end(), [](const OpSummary& a, const OpSummary& b) { return a.group < b.group; });
  return ops;
}

std::vector<std::string> not_produced(const EngineCheck& engine) {
  std::map<std::string, std::set<int>> layers;  // generic name -> layers missing it
  std::vector<std::string> order;
  std::set<int> all_layers;
  for (const CallCheck& call : engine.calls) {
    for (const OpCheck& c : call.ops)
      if (layer_of(c.op) >= 0) all_layers.insert(layer_of(c.op));
    for (const std::string& m : call.missing) {
      const std::string g = generic_name(m);
      if (!layers.count(g)) order.push_back(g);
      if (layer_of(m) >= 0) {
        layers[g].insert(layer_of(m));
        all_layers.insert(layer_of(m));
      } else {
        layers[g];
      }
    }
  }
  std::vector<std::string> out;
  for (const std::string& g : order) {
    const std::set<int>& missing = layers[g];
    if (missing.empty() || missing == all_layers) {
      out.push_back(g);
      continue;
    }
    for (int l : missing) out.push_back("layers." + std::to_string(l) + g.substr(8));
  }
  return out;
}

std::string describe_failure(const EngineCheck& engine, double tolerance) {
  const OpCheck* op = engine.failed_op();
  if (!op) return "";
  const CallCheck& call = engine.calls[engine.failure->call];
  std::string s = op->op + " in " + call.call.label() + ": ";
  if (!op->mismatch.empty())
    s += "shape " + op->mismatch;
  else if (!op->error.finite)
    s += "non-finite value (NaN or infinity) at element " + std::to_string(op->error.worst);
  else
    s += "relative error " + sci(op->error.max_rel) + " > " + sci(tolerance) + " (max abs " + sci(op->error.max_abs) +
         " of values up to " + sci(op->error.ref_max) + ", cosine " + fmt::format("{:.6f}", op->error.cosine) + ")";
  if (op->step >= 0) {
    s += "; step " + std::to_string(op->step) + ", kernel " + op->kernel;
    if (!op->ops.empty()) s += ", which computes " + join(op->ops);
  }
  return s;
}

std::string verdict(const Verification& v) {
  std::vector<std::string> passed, skipped;
  for (const EngineCheck& e : v.engines) {
    if (!e.skipped.empty()) {
      skipped.push_back(e.engine + " skipped (" + e.skipped + ")");
      continue;
    }
    if (e.failure) return "FAIL: " + e.engine + ": first op over tolerance: " + describe_failure(e, v.tolerance);
    passed.push_back(e.engine);
  }
  if (passed.empty()) return "nothing verified: " + join(skipped, "; ");
  // The worst op of all engines that ran.
  std::string worst;
  double worst_rel = -1;
  size_t ops = 0;
  for (const EngineCheck& e : v.engines) {
    if (!e.skipped.empty()) continue;
    const std::vector<OpSummary> s = summarize(e, v.tolerance);
    ops = std::max(ops, s.size());
    for (const OpSummary& o : s)
      if (o.error.max_rel > worst_rel) {
        worst_rel = o.error.max_rel;
        worst = e.engine + " " + o.op;
      }
  }
  size_t decode = 0;
  for (const Call& c : v.calls) decode += c.function == "decode";
  std::string line = "PASS: " + join(passed) + " within " + sci(v.tolerance) + " of the reference on all " +
                     std::to_string(ops) + " ops, over " + std::to_string(v.calls.size() - decode) + " prefill call" +
                     (v.calls.size() - decode == 1 ? "" : "s") + " and " + std::to_string(decode) + " decode step" +
                     (decode == 1 ? "" : "s") + " (worst: " + worst + ", " + sci(worst_rel) + ")";
  if (!skipped.empty()) line += "; " + join(skipped, "; ");
  return line;
}

void print_report(std::FILE* out, const Verification& v) {
  size_t decode = 0;
  for (const Call& c : v.calls) decode += c.function == "decode";
  std::fprintf(out, "%zu prompt tokens in %zu prefill call%s, then %zu decode steps; reference: %s\n", v.prompt.size(),
               v.calls.size() - decode, v.calls.size() - decode == 1 ? "" : "s", decode, v.reference.c_str());
  std::fprintf(out, "tolerance %s on max |error| / max |reference value| of each op's output (worst over the calls)\n",
               sci(v.tolerance).c_str());
  for (const EngineCheck& e : v.engines) {
    if (!e.skipped.empty()) {
      std::fprintf(out, "\n%s: skipped: %s\n", e.engine.c_str(), e.skipped.c_str());
      continue;
    }
    std::fprintf(out, "\n%s: %s\n", e.engine.c_str(), e.device.c_str());
    const std::vector<OpSummary> ops = summarize(e, v.tolerance);
    size_t width = 20;
    for (const OpSummary& o : ops) width = std::max(width, o.op.size());
    const std::string failed = e.failed_op() ? e.failed_op()->op : "";
    int group = OpSummary::kBeforeLayers - 1;
    for (const OpSummary& o : ops) {
      if (o.group != group) {
        group = o.group;
        const std::string title = group == OpSummary::kBeforeLayers  ? "before the layers"
                                  : group == OpSummary::kAfterLayers ? "after the layers"
                                                                     : "layer " + std::to_string(group);
        std::fprintf(out, "  %-*s  %10s  %10s  %10s\n", static_cast<int>(width), ("-- " + title).c_str(), "max abs",
                     "max rel", "cosine");
      }
      std::string note = o.mismatch.empty() ? "" : "  shape " + o.mismatch;
      if (!o.ok && note.empty()) note = "  over tolerance";
      if (o.op == failed) note += " <- first";
      std::fprintf(out, "  %-*s  %10s  %10s  %10s%s\n", static_cast<int>(width), o.op.c_str(), sci(o.error.max_abs).c_str(),
                   sci(o.error.max_rel).c_str(),
                   std::isnan(o.error.cosine) ? "nan" : fmt::format("{:.7f}", o.error.cosine).c_str(), note.c_str());
    }
    const std::vector<std::string> missing = not_produced(e);
    if (!missing.empty())
      std::fprintf(out, "  not stored by %s (computed inside fused kernels): %s\n", e.engine.c_str(), join(missing).c_str());
  }
  std::fprintf(out, "\n%s\n", verdict(v).c_str());
}

nlohmann::json report_json(const Verification& v) {
  nlohmann::json calls = nlohmann::json::array();
  for (const Call& c : v.calls) calls.push_back({{"function", c.function}, {"pos", c.pos}, {"ids", c.ids}});
  nlohmann::json engines = nlohmann::json::array();
  for (const EngineCheck& e : v.engines) {
    nlohmann::json j = {{"engine", e.engine}, {"device", e.device}};
    if (!e.skipped.empty()) {
      j["skipped"] = e.skipped;
      engines.push_back(j);
      continue;
    }
    j["passed"] = e.passed();
    if (const OpCheck* f = e.failed_op()) {
      j["first_failure"] = {{"op", f->op},
                            {"call", e.failure->call},
                            {"error", error_json(f->error)},
                            {"step", f->step},
                            {"kernel", f->kernel},
                            {"ops", f->ops},
                            {"message", describe_failure(e, v.tolerance)}};
      if (!f->mismatch.empty()) j["first_failure"]["shape_mismatch"] = f->mismatch;
    }
    nlohmann::json ops = nlohmann::json::array();
    for (const OpSummary& o : summarize(e, v.tolerance)) {
      nlohmann::json op = {{"op", o.op}, {"layer", o.layer}, {"ok", o.ok}, {"worst_call", o.worst_call}};
      op.update(error_json(o.error));
      if (!o.mismatch.empty()) op["shape_mismatch"] = o.mismatch;
      ops.push_back(op);
    }
    j["ops"] = ops;
    nlohmann::json per_call = nlohmann::json::array();
    for (const CallCheck& c : e.calls) {
      nlohmann::json cops = nlohmann::json::array();
      for (const OpCheck& o : c.ops) {
        nlohmann::json op = {{"op", o.op}, {"step", o.step}, {"kernel", o.kernel}};
        op.update(error_json(o.error));
        if (!o.mismatch.empty()) op["shape_mismatch"] = o.mismatch;
        cops.push_back(op);
      }
      per_call.push_back({{"call", c.call.label()}, {"ops", cops}, {"not_stored", c.missing}});
    }
    j["calls"] = per_call;
    j["not_stored"] = not_produced(e);
    engines.push_back(j);
  }
  return {{"tolerance", v.tolerance}, {"prompt_ids", v.prompt}, {"reference", v.reference}, {"calls", calls},
          {"engines", engines}, {"passed", v.passed()}, {"verdict", verdict(v)}};
}

}  // namespace aprc::verify
