// --target: which backends a plan is compiled for.
#include <charconv>

#include "aprc/codegen/compile.h"
#include "aprc/error.h"

namespace aprc::codegen {
namespace {

// "sm_90" -> 90.
std::optional<int> arch_of(std::string_view item) {
  if (!item.starts_with("sm_")) return std::nullopt;
  int arch = 0;
  const auto [end, ec] = std::from_chars(item.data() + 3, item.data() + item.size(), arch);
  if (ec != std::errc() || end != item.data() + item.size() || item.size() == 3) return std::nullopt;
  return arch;
}

}  // namespace

std::vector<CompileTarget> parse_targets(std::string_view text) {
  const std::string all(text);
  auto bad = [&](const std::string& why) -> void {
    throw_bad_input("--target '" + all + "': " + why + " (targets: cpu, cuda, cuda:sm_90; e.g. cpu,cuda:sm_80,sm_90)");
  };
  std::vector<CompileTarget> out;
  auto has = [&](Backend b) { for (const CompileTarget& t : out) if (t.backend == b) return true; return false; };
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (item == "cpu" || item == "cuda" || item.starts_with("cuda:")) {
      const Backend backend = item == "cpu" ? Backend::Cpu : Backend::Cuda;
      if (has(backend)) bad("'" + std::string(item.substr(0, 4)) + "' appears twice");
      out.push_back(CompileTarget{backend, {}});
      if (item.starts_with("cuda:")) {
        const std::optional<int> arch = arch_of(item.substr(5));
        if (!arch) bad("'" + std::string(item.substr(5)) + "' is not an architecture such as sm_90");
        out.back().cuda_archs.push_back(*arch);
      }
    } else if (const std::optional<int> arch = arch_of(item)) {
      if (out.empty() || out.back().backend != Backend::Cuda) bad("'" + std::string(item) + "' follows no cuda target");
      out.back().cuda_archs.push_back(*arch);
    } else {
      bad(item.empty() ? "an empty target" : "unknown target '" + std::string(item) + "'");
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  for (CompileTarget& t : out)
    if (t.backend == Backend::Cuda && t.cuda_archs.empty()) t.cuda_archs.push_back(90);
  return out;
}

}  // namespace aprc::codegen
