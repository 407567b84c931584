#include "aprc/verify/plan_verify.h"

#include <algorithm>

#include "aprc/error.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/module.h"
#include "aprc/model.h"
#include "aprc/plan_format.h"
#include "aprc/verify/plan_weights.h"
#include "aprc/verify/value_dump.h"

namespace aprc::verify {

double default_tolerance(const PlanManifest& plan) {
  double tolerance = VerifyOptions{}.tolerance;
  for (const PlanTarget& target : plan.targets)
    for (const PlanKernel& k : target.kernels) {
      if (k.spec.fp8_activations) tolerance = std::max(tolerance, 1e-2);
      if (k.spec.int8_activations) tolerance = std::max(tolerance, 5e-2);
    }
  return tolerance;
}

Verification verify_plan(const std::string& plan_path, std::span<const int32_t> prompt, const PlanVerifyOptions& options,
                         const Progress& progress) {
  if (!options.open) throw_internal("verify_plan: no way to open engines given");
  std::shared_ptr<const Plan> plan = Plan::open(plan_path);
  const PlanManifest& m = plan->manifest();
  const auto ir_text = plan->section(plan_section::kReferenceIr);
  if (!ir_text)
    throw_bad_input(plan_path + ": the plan has no reference IR (section " + std::string(plan_section::kReferenceIr) +
                    ") to verify against");
  const ir::Module module = ir::parse_module(
      std::string_view(reinterpret_cast<const char*>(ir_text->data()), ir_text->size()),
      plan_path + ": " + std::string(plan_section::kReferenceIr));

  // The reference's weights: the model file's when given, else the plan's own.
  std::unique_ptr<Model> model;
  std::unique_ptr<reference::WeightSource> weights;
  if (!options.model_path.empty()) {
    model = std::make_unique<Model>(load_model(options.model_path));
    if (!(model->config == m.config))
      throw_bad_input(options.model_path + ": not the model " + plan_path + " was compiled from (its configuration differs)");
    weights = std::make_unique<reference::ModelWeights>(*model);
  } else {
    weights = std::make_unique<PlanWeights>(plan);
  }
  InterpreterExecutor reference(module, *weights, "reference");

  // Recorded runs: of this plan's model, on this prompt; their decode tokens drive the decode steps.
  std::vector<ValueDump> dumps;
  VerifyOptions verify_options = options.verify;
  for (const std::string& file : options.recorded) {
    ValueDump& d = dumps.emplace_back(read_value_dump(file));
    if (d.plan_source != m.source || d.vocab != m.config.vocab_size)
      throw_bad_input(file + ": recorded from a plan of " + d.plan_source + ", not of " + m.source + " (" + plan_path + ")");
    if (!std::equal(prompt.begin(), prompt.end(), d.prompt.begin(), d.prompt.end()))
      throw_bad_input(file + ": recorded another prompt (" + std::to_string(d.prompt.size()) + " tokens)");
    std::vector<int32_t> tokens;
    for (const DumpedCall& c : d.calls)
      if (c.function == "decode") tokens.insert(tokens.end(), c.ids.begin(), c.ids.end());
    if (dumps.size() > 1 && tokens != verify_options.decode_tokens)
      throw_bad_input(file + ": its decode steps took other tokens than " + options.recorded[0] + "'s");
    verify_options.decode_tokens = tokens;
    verify_options.decode_steps = static_cast<int>(tokens.size());
  }

  std::vector<std::string> kinds = options.engines;
  if (kinds.empty() && options.recorded.empty())
    for (const PlanTarget& t : m.targets)
      if (!t.functions.empty()) kinds.push_back(t.name);
  const int64_t needed = static_cast<int64_t>(prompt.size()) + verify_options.decode_steps;
  if (needed > m.kv_cache.max_context)
    throw_bad_input(plan_path + ": " + std::to_string(prompt.size()) + " prompt tokens and " +
                    std::to_string(verify_options.decode_steps) + " decode steps do not fit the plan's context of " +
                    std::to_string(m.kv_cache.max_context) + " positions");
  EngineOptions engine_options = options.engine;
  engine_options.context = needed;

  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<std::unique_ptr<Executor>> executors;
  std::vector<std::pair<std::string, std::string>> skipped;  // kind, why
  for (const std::string& kind : kinds) {
    const PlanTarget* target = plan->target(kind);
    try {
      if (!target || target->functions.empty()) throw_bad_input("the plan has no code for it");
      if (progress) progress("opening the " + kind + " engine");
      engines.push_back(options.open(plan, kind, engine_options));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::BadInput) throw;
      std::string why = e.what();
      if (why.rfind(plan_path + ": ", 0) == 0) why = why.substr(plan_path.size() + 2);
      skipped.emplace_back(kind, why);
      continue;
    }
    executors.push_back(std::make_unique<EngineExecutor>(*engines.back(), *target, m.config.vocab_size));
  }
  for (size_t i = 0; i < dumps.size(); ++i) {
    executors.push_back(std::make_unique<ReplayExecutor>(dumps[i], options.recorded[i]));
    kinds.push_back(dumps[i].engine);
  }
  std::vector<Executor*> candidates;
  for (auto& e : executors) candidates.push_back(e.get());
  Verification v = verify(reference, candidates, prompt, verify_options, progress);
  for (auto& [kind, why] : skipped) v.engines.push_back(EngineCheck{kind, "", why, {}, {}});
  // Keep the engines in the order they were asked for.
  std::stable_sort(v.engines.begin(), v.engines.end(), [&](const EngineCheck& a, const EngineCheck& b) {
    return std::find(kinds.begin(), kinds.end(), a.engine) < std::find(kinds.begin(), kinds.end(), b.engine);
  });
  return v;
}

}  // namespace aprc::verify
