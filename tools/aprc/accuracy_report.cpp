#include "accuracy_report.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>

#include "aprc/argmax.h"
#include "aprc/codegen/compile.h"
#include "aprc/error.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/passes/pipeline.h"
#include "aprc/runtime.h"

namespace aprc::verify {
namespace {

// The encodings of the model's matrices, "q4_k, q6_k".
std::string matrix_encodings(const Model& model) {
  std::set<std::string> names;
  for (const auto& [name, tensor] : model.tensors)
    if (tensor.shape.size() == 2) names.insert(dtype_name(tensor.dtype));
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string format_error(double e) {
  if (!std::isfinite(e)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3e", e);
  return buf;
}

// A temporary directory, removed with what it holds.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path = std::filesystem::temp_directory_path() / ("aprc-verify-" + std::to_string(stamp));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The logits of every position of `ids` from `model` compiled for the CPU (after `pipeline`), run by
// the CPU runtime.
reference::Activation plan_logits(const Model& model, const std::string& pipeline, std::span<const int32_t> ids,
                                  const std::filesystem::path& dir, const std::string& name, int threads) {
  codegen::CompileOptions options;
  options.weight_pipeline = pipeline;
  options.recorded = {{"target", "cpu"}, {"weights", pipeline.empty() ? "stored" : pipeline}};
  const std::string path = (dir / (name + ".plan")).string();
  codegen::compile_plan(model, path, options);
  EngineOptions engine;
  engine.threads = threads;
  engine.context = static_cast<int64_t>(ids.size());
  const std::vector<float> logits = Session::open(path, "cpu", engine)->prefill_all(ids);
  reference::Activation out(static_cast<int64_t>(ids.size()), model.config.vocab_size);
  if (logits.size() != out.data.size())
    throw_internal("verify --report: the plan gave " + std::to_string(logits.size()) + " logits for " +
                   std::to_string(ids.size()) + " tokens");
  std::copy(logits.begin(), logits.end(), out.data.begin());
  return out;
}

}  // namespace

reference::Activation prefill_logits(const Model& model, const std::string& pipeline, std::span<const int32_t> ids) {
  ir::Module module = ir::build_module(model);
  if (!pipeline.empty()) passes::run_pipeline(module, pipeline);
  const reference::ModelWeights weights(model);
  reference::Interpreter interp(module, weights);
  return interp.run("prefill", ids, 0);
}

double LogitsError::max_error() const {
  double m = 0;
  for (double e : position_error) m = std::isnan(e) ? std::numeric_limits<double>::infinity() : std::max(m, e);
  return m;
}

double LogitsError::mean_error() const {
  double s = 0;
  for (double e : position_error) s += e;
  return position_error.empty() ? 0 : s / static_cast<double>(position_error.size());
}

double LogitsError::top1_fraction() const {
  return position_error.empty() ? 0 : static_cast<double>(top1_agree) / static_cast<double>(positions());
}

LogitsError compare_logits(const reference::Activation& got, const reference::Activation& ref) {
  if (got.rows != ref.rows || got.cols != ref.cols)
    throw_internal("compare_logits: logits of [" + std::to_string(got.rows) + ", " + std::to_string(got.cols) +
                   "] against [" + std::to_string(ref.rows) + ", " + std::to_string(ref.cols) + "]");
  LogitsError out;
  for (int64_t p = 0; p < ref.rows; ++p) {
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < ref.cols; ++i) {
      const double g = got.row(p)[i], r = ref.row(p)[i];
      diff = std::isfinite(g) && std::isfinite(r) ? std::max(diff, std::fabs(g - r)) : std::numeric_limits<double>::infinity();
      scale = std::max(scale, std::fabs(r));
    }
    out.position_error.push_back(scale > 0 ? diff / scale : diff);
    out.top1_agree += first_argmax(got.row(p), got.cols) == first_argmax(ref.row(p), ref.cols);
  }
  return out;
}

AccuracyReport accuracy_report(const Model& model, std::span<const int32_t> ids, const Fp8Options& fp8,
                               const ReportOptions& options) {
  AccuracyReport report;
  report.model = model.path;
  report.ids.assign(ids.begin(), ids.end());
  const reference::Activation ref = prefill_logits(model, kReferencePipeline, ids);
  const std::string stored = matrix_encodings(model);
  report.rows.push_back({"stored", "interpreter", stored, compare_logits(prefill_logits(model, "", ids), ref)});
  report.rows.push_back({"fp8", "interpreter", fp8.description(), compare_logits(prefill_logits(model, fp8.pipeline(), ids), ref)});
  if (options.cpu_plans) {
    const TempDir dir;
    report.rows.push_back({"stored", "cpu plan", stored, compare_logits(plan_logits(model, "", ids, dir.path, "stored", options.threads), ref)});
    report.rows.push_back({"fp8", "cpu plan", fp8.description(),
                           compare_logits(plan_logits(model, fp8.pipeline(), ids, dir.path, "fp8", options.threads), ref)});
  }
  return report;
}

nlohmann::json AccuracyReport::to_json() const {
  nlohmann::json rows_json = nlohmann::json::array();
  for (const Row& r : rows) {
    const auto finite = [](double e) { return std::isfinite(e) ? nlohmann::json(e) : nlohmann::json(nullptr); };
    nlohmann::json positions = nlohmann::json::array();
    for (double e : r.error.position_error) positions.push_back(finite(e));
    rows_json.push_back({{"name", r.name},
                         {"engine", r.engine},
                         {"encoding", r.encoding},
                         {"max_error", finite(r.error.max_error())},
                         {"mean_error", finite(r.error.mean_error())},
                         {"position_error", positions},
                         {"top1_agree", r.error.top1_agree},
                         {"positions", r.error.positions()},
                         {"top1_fraction", r.error.top1_fraction()}});
  }
  return {{"model", model},
          {"ids", ids},
          {"reference", "f32-dequantized weights, reference interpreter"},
          {"error", "per position: max |logit - reference| / max |reference logit|"},
          {"rows", rows_json}};
}

std::string AccuracyReport::to_text() const {
  std::string out = model + ": " + std::to_string(ids.size()) + " tokens, logits against the f32-dequantized weights\n" +
                    "(reference: the interpreter; error per position = max |logit - reference| / max |reference logit|)\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-8s %-12s %-10s %-10s %-10s  %s\n", "weights", "engine", "max error", "mean error",
                "top-1", "encoding");
  out += line;
  for (const Row& r : rows) {
    const std::string top1 = std::to_string(r.error.top1_agree) + "/" + std::to_string(r.error.positions());
    std::snprintf(line, sizeof line, "%-8s %-12s %-10s %-10s %-10s  %s\n", r.name.c_str(), r.engine.c_str(),
                  format_error(r.error.max_error()).c_str(), format_error(r.error.mean_error()).c_str(), top1.c_str(),
                  r.encoding.c_str());
    out += line;
  }
  return out;
}

}  // namespace aprc::verify
