#include "plan_commands.h"

#include <cstdio>

#include "aprc/error.h"
#include "aprc/plan.h"

namespace aprc::cli {

int dispatch_on_plan(int argc, char** argv, CommandFn on_plan, CommandFn on_model) {
  for (int i = 0; i < argc; ++i)
    if (is_plan_file(argv[i])) return on_plan(argc, argv);
  // No plan among the arguments: a model file's command, or the plan command's help and errors.
  return on_model ? on_model(argc, argv) : on_plan(argc, argv);
}

std::set<std::string> engine_value_flags() { return {"engine", "threads", "context"}; }

const char* engine_options_help() {
  return "  --engine cpu|cuda      the engine (default: cpu when the plan has CPU code)\n"
         "  --threads N            CPU threads (default: one per core)\n"
         "  --context N            positions the KV cache holds (default: the plan's maximum)\n";
}

EngineOptions parse_engine_options(const Args& args) {
  EngineOptions o;
  o.threads = static_cast<int>(args.int_or("threads", 0));
  o.context = args.int_or("context", 0);
  if (o.threads < 0 || o.threads > 4096) throw_bad_input("--threads expects a count of threads");
  if (o.context < 0) throw_bad_input("--context expects a number of positions");
  return o;
}

std::string plan_path_argument(const Args& args, const char* command) {
  const std::string& path = args.positional(0, "PLAN");
  if (!is_plan_file(path)) {
    Plan::open(path);  // names what is wrong: missing, unreadable, not a plan
    throw_bad_input(path + ": not a plan (aprc " + std::string(command) + " runs compiled plans)");
  }
  return path;
}

void bench_progress(std::string_view what) {
  std::fprintf(stderr, "aprc bench: %.*s\n", static_cast<int>(what.size()), what.data());
}

std::shared_ptr<const Plan> open_plan_for_bench(const std::string& path) {
  auto plan = Plan::open(path);
  if (plan->synthetic()) {
    bench_progress("generating the synthetic weights (" + std::to_string(plan->weights_size() >> 20) + " MiB)");
    plan->weights();
  }
  return plan;
}

}  // namespace aprc::cli
