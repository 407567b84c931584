// The commands that run plans, shared by `aprc` and `aprc-rt` (tools/cli: no compiler in them).
// In `aprc`, `run` and `logits` take a plan or a model file: dispatch_on_plan picks the plan
// command when an argument names a plan file.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "aprc/engine.h"
#include "aprc/plan.h"
#include "args.h"

namespace aprc::cli {

using CommandFn = int (*)(int argc, char** argv);

int cmd_run_plan(int argc, char** argv);
int cmd_logits_plan(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_kernels(int argc, char** argv);
int cmd_record(int argc, char** argv);

// Calls on_plan when one of the arguments is a plan file, else on_model (nullptr: none yet, and
// on_plan answers --help and says what is wrong with the file).
int dispatch_on_plan(int argc, char** argv, CommandFn on_plan, CommandFn on_model);

// --engine, --threads, --context: how a plan command opens its engine.
std::set<std::string> engine_value_flags();
const char* engine_options_help();
EngineOptions parse_engine_options(const Args& args);

// The plan named by a command's first argument, refused with a hint when it is a model file.
std::string plan_path_argument(const Args& args, const char* command);

// `aprc bench`'s progress lines on stderr.
void bench_progress(std::string_view what);

// Opens a plan to benchmark: a synthetic plan's weights are generated now (with a progress line),
// not inside the first timed call.
std::shared_ptr<const Plan> open_plan_for_bench(const std::string& path);

}  // namespace aprc::cli
