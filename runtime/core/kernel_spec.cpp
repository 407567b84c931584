#include "aprc/kernel_spec.h"

#include <charconv>

#include "aprc/error.h"

namespace aprc {
namespace {

// The shortest decimal that reads back as the same double, spelled with identifier characters
// only ('.' -> 'p', '-' -> 'm', '+' dropped): 1e-06 -> "1em06", 0.125 -> "0p125".
std::string number_token(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) throw_internal("KernelSpec::name: cannot format a number");
  std::string out;
  for (const char* p = buf; p != end; ++p) {
    if (*p == '.') out += 'p';
    else if (*p == '-') out += 'm';
    else if (*p != '+') out += *p;
  }
  return out;
}

// "q4_k_896x4864", "q4_k_cpu_r16_896x4864", "fp8e4m3_pt_64x64" (per-tensor fp8 scales).
std::string weight_token(const WeightDesc& w) {
  std::string s = dtype_name(w.dtype);
  if (w.layout != WeightLayout::RowMajor) s += std::string("_") + layout_name(w.layout);
  if (w.dtype == DType::FP8_E4M3 && w.scales == ScaleGranularity::PerTensor) s += "_pt";
  return s + "_" + std::to_string(w.rows) + "x" + std::to_string(w.cols);
}

}  // namespace

const char* kernel_kind_name(KernelKind kind) {
  switch (kind) {
    case KernelKind::Embedding: return "embedding";
    case KernelKind::RmsNorm: return "rms_norm";
    case KernelKind::Linear: return "linear";
    case KernelKind::Rope: return "rope";
    case KernelKind::KvAppend: return "kv_append";
    case KernelKind::Attention: return "attention";
    case KernelKind::Silu: return "silu";
    case KernelKind::Mul: return "mul";
    case KernelKind::Add: return "add";
  }
  throw_internal("unknown kernel kind");
}


// Every field that changes the generated code appears in the name, and only those of the kind, so
// two specs that compute the same thing share one kernel and two that differ never do.
std::string KernelSpec::name() const {
  std::string n = kernel_kind_name(kind);
  const std::string dims = "_h" + std::to_string(heads) + "_kv" + std::to_string(kv_heads) + "_d" +
                           std::to_string(head_dim);
  switch (kind) {
    case KernelKind::Embedding:
      return n + "_" + weight_token(weights.at(0));
    case KernelKind::RmsNorm:
      return n + "_" + weight_token(weights.at(0)) + "_eps" + number_token(eps);
    case KernelKind::Linear: {
      if (int8_activations) n += "_i8";
      if (fp8_activations) n += "_fp8act";
      if (has_norm) n += "_norm_" + weight_token(norm);
      for (const WeightDesc& w : weights) n += "__" + weight_token(w);
      for (const WeightDesc& b : biases) n += "__bias_" + weight_token(b);
      if (epilogue == Epilogue::SwiGLU) n += "__swiglu";
      if (epilogue == Epilogue::Residual) n += "__residual";
      if (has_norm) n += "_eps" + number_token(eps);
      return n;
    }
    case KernelKind::Rope:
      return n + dims + "_theta" + number_token(theta);
    case KernelKind::KvAppend:
      return n + (rope ? "_rope" : "") + dims + "_" + dtype_name(cache_dtype) +
             (rope ? "_theta" + number_token(theta) : "");
    case KernelKind::Attention:
      return n + (rope ? "_rope" : "") + dims + "_" + dtype_name(cache_dtype) + "_scale" + number_token(scale) +
             (rope ? "_theta" + number_token(theta) : "");
    case KernelKind::Silu:
    case KernelKind::Mul:
    case KernelKind::Add:
      return n + "_" + std::to_string(cols);
  }
  throw_internal("KernelSpec::name: unknown kernel kind");
}

}  // namespace aprc
