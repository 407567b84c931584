#include "accuracy_report.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "aprc/error.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/passes/pipeline.h"

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

int64_t argmax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}

std::string format_error(double e) {
  if (!std::isfinite(e)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3e", e);
  return buf;
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
    out.top1_agree += argmax(got.row(p), got.cols) == argmax(ref.row(p), ref.cols);
  }
  return out;
}

AccuracyReport accuracy_report(const Model& model, std::span<const int32_t> ids, const Fp8Options& fp8) {
  AccuracyReport report;
  report.model = model.path;
  report.ids.assign(ids.begin(), ids.end());
  const reference::Activation ref = prefill_logits(model, kReferencePipeline, ids);
  report.rows.push_back({"stored", matrix_encodings(model), compare_logits(prefill_logits(model, "", ids), ref)});
  report.rows.push_back({"fp8", fp8.description(), compare_logits(prefill_logits(model, fp8.pipeline(), ids), ref)});
  return report;
}

nlohmann::json AccuracyReport::to_json() const {
  nlohmann::json rows_json = nlohmann::json::array();
  for (const Row& r : rows) {
    const auto finite = [](double e) { return std::isfinite(e) ? nlohmann::json(e) : nlohmann::json(nullptr); };
    nlohmann::json positions = nlohmann::json::array();
    for (double e : r.error.position_error) positions.push_back(finite(e));
    rows_json.push_back({{"name", r.name},
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
                    "(reference interpreter; error per position = max |logit - reference| / max |reference logit|)\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-8s %-10s %-10s %-10s  %s\n", "weights", "max error", "mean error", "top-1",
                "encoding");
  out += line;
  for (const Row& r : rows) {
    const std::string top1 = std::to_string(r.error.top1_agree) + "/" + std::to_string(r.error.positions());
    std::snprintf(line, sizeof line, "%-8s %-10s %-10s %-10s  %s\n", r.name.c_str(), format_error(r.error.max_error()).c_str(),
                  format_error(r.error.mean_error()).c_str(), top1.c_str(), r.encoding.c_str());
    out += line;
  }
  return out;
}

}  // namespace aprc::verify
