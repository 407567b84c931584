#include "fp8_options.h"

#include "aprc/error.h"
#include "aprc/passes/fp8_groups.h"

namespace aprc {
namespace {

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

}  // namespace

Fp8Options Fp8Options::from_args(const cli::Args& args) {
  Fp8Options o;
  if (auto ops = args.value("fp8-ops")) {
    o.ops.clear();
    size_t start = 0;
    while (start <= ops->size()) {
      size_t end = ops->find(',', start);
      if (end == std::string::npos) end = ops->size();
      const std::string group = ops->substr(start, end - start);
      if (!passes::fp8_group(group))
        throw_bad_input("--fp8-ops: unknown group '" + group + "' (groups: " + passes::fp8_group_list() + ")");
      o.ops.push_back(group);
      start = end + 1;
    }
  }
  const std::string scales = args.value_or("fp8-scales", "per-channel");
  if (scales == "per-tensor")
    o.granularity = ScaleGranularity::PerTensor;
  else if (scales != "per-channel")
    throw_bad_input("--fp8-scales: expected per-channel or per-tensor, got '" + scales + "'");
  if (auto act = args.value("fp8-activations")) {
    if (*act != "per-token" && *act != "none")
      throw_bad_input("--fp8-activations: expected per-token or none, got '" + *act + "'");
    o.per_token_activations = *act == "per-token";
  }
  return o;
}

std::string Fp8Options::pipeline() const {
  return "aprc-cast-fp8{ops=" + joined(ops) +
         (granularity == ScaleGranularity::PerChannel ? " granularity=per_channel" : " granularity=per_tensor") +
         (per_token_activations ? " per-token-activations=1}" : "}");
}

std::string Fp8Options::description() const {
  return std::string("fp8e4m3 ") + (granularity == ScaleGranularity::PerChannel ? "per_channel" : "per_tensor") + " (" +
         joined(ops) + ")" + (per_token_activations ? ", per-token fp8 activations" : "");
}

}  // namespace aprc
