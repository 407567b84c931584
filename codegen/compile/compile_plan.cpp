// The compile driver (compile.h): IR builder -> per target (lowering pipeline -> schedules ->
// kernels) -> weights in their target layouts -> the plan.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "aprc/codegen/compile.h"
#include "aprc/codegen/schedule_builder.h"
#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "aprc/passes/pipeline.h"
#include "aprc/plan_format.h"
#include "backend.h"

namespace aprc::codegen {
namespace {

constexpr const char* kProducer = "aprc 0.1.0";

// The plan's weights table: each distinct (source tensor, type) once, whichever targets and symbols
// declare it (a tied embedding and output projection in one layout share their bytes).
class WeightTable {
 public:
  WeightTable(const Model& model, PlanWriter& writer, bool synthetic) : model_(model), writer_(writer), synthetic_(synthetic) {}

  int64_t add(const PlanWeight& decl) {
    const auto key = std::make_tuple(decl.source, decl.dtype, decl.layout, decl.scales, decl.shape);
    if (auto it = index_.find(key); it != index_.end()) return it->second;
    size_t index;
    if (synthetic_) {
      index = writer_.add_generated_weight(decl);
    } else {
      const TensorRef& tensor = model_.tensor(decl.source);
      std::vector<uint8_t> bytes;
      try {
        bytes = convert_weight(tensor.view(), decl.dtype, decl.scales, decl.layout);
      } catch (const Error& e) {
        throw Error(e.kind(), model_.path + ": tensor '" + decl.source + "' as weight @" + decl.name + ": " + e.what());
      }
      index = writer_.add_weight(decl, bytes);
    }
    return index_[key] = static_cast<int64_t>(index);
  }

 private:
  const Model& model_;
  PlanWriter& writer_;
  bool synthetic_;
  std::map<std::tuple<std::string, DType, WeightLayout, ScaleGranularity, std::vector<int64_t>>, int64_t> index_;
};

const char* target_name(Backend backend) { return backend == Backend::Cpu ? "cpu" : "cuda"; }

class Stages {
 public:
  explicit Stages(CompileSummary& summary) : summary_(summary) {}
  template <typename F>
  auto run(const std::string& name, F&& f) {
    const auto start = std::chrono::steady_clock::now();
    struct Record {
      Stages& s;
      std::string name;
      std::chrono::steady_clock::time_point start;
      ~Record() {
        s.summary_.seconds.emplace_back(name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    } record{*this, name, start};
    return f();
  }

 private:
  CompileSummary& summary_;
};

// A backend's lowering pipeline ("aprc-lower-X{max-tokens=N}", whose options are the lowering
// pipelines' own) with aprc-inject-fault's pattern added to its options.
std::string with_fault(std::string pipeline, const std::string& pattern) {
  if (pattern.empty()) return pipeline;
  if (pattern.find_first_of(" \t\n{}=,") != std::string::npos)
    throw_bad_input("aprc compile: --inject-fault '" + pattern + "': an op name pattern has no spaces, braces, '=' or ','");
  if (pipeline.empty() || pipeline.back() != '}') throw_internal("with_fault: a lowering pipeline without options: " + pipeline);
  pipeline.insert(pipeline.size() - 1, " inject-fault=" + pattern);
  return pipeline;
}

}  // namespace

std::string read_kernel_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input(path + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

CompileSummary compile_plan(const Model& model, const std::string& path, const CompileOptions& options,
                            Progress* progress) {
  if (options.targets.empty()) throw_bad_input("aprc compile: no target to compile for");
  if (options.max_tokens < 1)
    throw_bad_input("aprc compile: --max-tokens must be at least 1, not " + std::to_string(options.max_tokens));
  for (const auto& [name, file] : options.kernel_overrides) {
    const bool cpu = file.ends_with(".mlir");
    if (!cpu && !file.ends_with(".cu"))
      throw_bad_input("aprc compile: --override-kernel " + name + "=" + file +
                      ": a kernel file is FILE.mlir (cpu target) or FILE.cu (cuda target)");
    const Backend wanted = cpu ? Backend::Cpu : Backend::Cuda;
    if (std::none_of(options.targets.begin(), options.targets.end(), [&](const CompileTarget& t) { return t.backend == wanted; }))
      throw_bad_input(file + ": a " + target_name(wanted) + " kernel, but the plan has no " + target_name(wanted) + " target");
  }
  CompileSummary summary;
  Stages stages(summary);

  const std::string reference = stages.run("ir", [&] {
    ir::Module module = ir::build_module(model);
    if (!options.weight_pipeline.empty())
      passes::run_pipeline(module, options.weight_pipeline, {options.print_ir_after_all, options.timing});
    return module.print();
  });
  PlanWriter writer(path);
  WeightTable weights(model, writer, options.synthetic.has_value());
  PlanManifest manifest;

  for (const CompileTarget& t : options.targets) {
    const std::string name = target_name(t.backend);
    std::unique_ptr<TargetBackend> backend =
        t.backend == Backend::Cpu ? make_cpu_backend(options) : make_cuda_backend(t, options);
    ir::Module lowered = ir::parse_module(reference, model.path);
    stages.run("passes (" + name + ")", [&] {
      try {
        passes::run_pipeline(lowered, with_fault(backend->lowering_pipeline(options.max_tokens), options.inject_fault),
                             {options.print_ir_after_all, options.timing});
      } catch (const Error& e) {
        // The one way the user's input fails the pipeline: a pattern that names no op.
        if (options.inject_fault.empty() || std::string_view(e.what()).find("aprc-inject-fault:") == std::string_view::npos)
          throw;
        throw_bad_input("aprc compile: --inject-fault " + options.inject_fault + ": no op of the " + name +
                        " target's IR is named that (aprc compile MODEL --emit ir shows the names)");
      }
    });

    std::map<std::string, int64_t> index;
    stages.run("weights (" + name + ")", [&] {
      const std::vector<PlanWeight> decls = declared_weights(lowered);
      for (size_t i = 0; i < decls.size(); ++i) {
        index[decls[i].name] = weights.add(decls[i]);
        report(progress, "weights (" + name + ")", static_cast<int64_t>(i + 1), static_cast<int64_t>(decls.size()));
      }
    });

    PlanTarget target;
    target.name = name;
    stages.run("schedule (" + name + ")", [&] {
      ScheduleOptions schedule;
      schedule.weight_index = [&](const std::string& symbol) { return index.at(symbol); };
      schedule.finish_step = [&](Step& step, int64_t max_tokens) { backend->finish_step(step, max_tokens); };
      target.functions = build_schedules(lowered, schedule);
      for (Function& f : target.functions) backend->finish_function(f);
    });
    stages.run("kernels (" + name + ")", [&] { backend->generate(target, writer, progress); });
    std::map<std::string, bool> distinct;
    for (const Function& f : target.functions)
      for (const Step& s : f.steps) distinct[s.kernel] = true;
    summary.kernels.emplace_back(name, distinct.size());
    if (manifest.targets.empty()) manifest.kv_cache = kv_cache_geometry(lowered);
    manifest.targets.push_back(std::move(target));
  }

  writer.add_section(std::string(plan_section::kReferenceIr), std::vector<uint8_t>(reference.begin(), reference.end()));
  manifest.producer = kProducer;
  manifest.source = options.synthetic ? "synthetic:" + options.synthetic->preset : model.path;
  manifest.config = model.config;
  manifest.tokenizer = model.tokenizer;
  manifest.synthetic = options.synthetic;
  manifest.options = options.recorded;
  summary.weights = writer.weights().size();
  for (const PlanWeight& w : writer.weights()) summary.weight_bytes += w.bytes;
  stages.run("write", [&] { writer.finish(std::move(manifest)); });
  return summary;
}

}  // namespace aprc::codegen
