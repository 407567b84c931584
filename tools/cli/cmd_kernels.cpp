// aprc kernels PLAN: the generated kernels of each target, the IR ops each one implements (from the
// schedule steps that call it), its source (the CPU MLIR before LLVM, or the CUDA C++), and for
// cubins the registers, shared memory and local memory (spills) of each architecture, read from the
// cubin itself (no GPU needed).
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "aprc/error.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"
#include "aprc/verify/cubin_info.h"
#include "aprc/verify/kernel_source.h"
#include "plan_commands.h"

namespace aprc::cli {
namespace {

constexpr const char* kUsage =
    "usage: aprc kernels PLAN [--target cpu|cuda] [--kernel NAME] [--source] [--json]\n"
    "Lists each target's kernels: what each computes, the IR ops of the steps that call it, and for\n"
    "cuda the registers, shared memory and local memory per architecture (from the cubins).\n"
    "  --target T     one target only\n"
    "  --kernel NAME  one kernel only, with its source\n"
    "  --source       print each kernel's source (the CPU MLIR before LLVM, or the CUDA C++)\n"
    "  --json         everything, sources included, as JSON\n";

std::string weight_text(const WeightDesc& w) {
  std::string t = dtype_name(w.dtype);
  if (w.layout != WeightLayout::RowMajor) t += "/" + std::string(layout_name(w.layout));
  return t + " [" + std::to_string(w.rows) + ", " + std::to_string(w.cols) + "]";
}

// "linear: norm, 3 weights (q8_0/cpu_r16 [256, 256], ...), biases, epilogue swiglu"
std::string describe(const KernelSpec& s) {
  std::string d = kernel_kind_name(s.kind);
  std::vector<std::string> parts;
  if (s.has_norm) parts.push_back("rms_norm prologue");
  if (!s.weights.empty()) {
    std::string w;
    for (const WeightDesc& x : s.weights) w += (w.empty() ? "" : ", ") + weight_text(x);
    parts.push_back((s.kind == KernelKind::Linear ? "weights " : "") + w);
  }
  if (!s.biases.empty()) parts.push_back("biases");
  if (s.epilogue == Epilogue::SwiGLU) parts.push_back("swiglu epilogue");
  if (s.epilogue == Epilogue::Residual) parts.push_back("residual epilogue");
  if (s.heads) parts.push_back(std::to_string(s.heads) + " heads");
  if (s.kv_heads) parts.push_back(std::to_string(s.kv_heads) + " kv heads");
  if (s.head_dim) parts.push_back("head_dim " + std::to_string(s.head_dim));
  if (s.rope) parts.push_back(s.kind == KernelKind::Attention ? "rope of q and k and kv append first" : "rope");
  if (s.int8_activations) parts.push_back("int8 activations in prefill");
  if (s.fp8_activations) parts.push_back("fp8 activations per token in prefill");
  if (s.cols && s.kind != KernelKind::Linear) parts.push_back(std::to_string(s.cols) + " columns");
  for (size_t i = 0; i < parts.size(); ++i) d += (i ? ", " : ": ") + parts[i];
  return d;
}

// Op names with their layer numbers gathered: "layers.{0-3}.mlp.down_proj", "logits".
std::vector<std::string> gather_layers(const std::vector<std::string>& ops) {
  std::vector<std::string> order;
  std::map<std::string, std::set<int>> layers;
  for (const std::string& op : ops) {
    std::string key = op;
    int layer = -1;
    if (op.rfind("layers.", 0) == 0) {
      const size_t dot = op.find('.', 7);
      if (dot != std::string::npos && dot > 7 && op.find_first_not_of("0123456789", 7) == dot) {
        layer = std::stoi(op.substr(7, dot - 7));
        key = "layers.#" + op.substr(dot);
      }
    }
    if (!layers.count(key)) order.push_back(key);
    if (layer >= 0) layers[key].insert(layer);
    else layers[key];
  }
  std::vector<std::string> out;
  for (const std::string& key : order) {
    const std::set<int>& l = layers[key];
    if (l.empty()) {
      out.push_back(key);
      continue;
    }
    std::string ranges;
    for (auto it = l.begin(); it != l.end();) {
      int first = *it, last = *it;
      while (++it != l.end() && *it == last + 1) last = *it;
      if (!ranges.empty()) ranges += ",";
      ranges += std::to_string(first);
      if (last > first) ranges += "-" + std::to_string(last);
    }
    std::string name = "layers.";
    if (l.size() > 1) name += "{";
    name += ranges;
    if (l.size() > 1) name += "}";
    name += key.substr(8);
    out.push_back(std::move(name));
  }
  return out;
}

std::string section_text(const Plan& plan, std::string_view name) {
  auto s = plan.section(name);
  return s ? std::string(reinterpret_cast<const char*>(s->data()), s->size()) : std::string();
}

struct KernelUse {
  std::vector<std::string> ops;               // every op of every step that calls it, in order
  std::map<std::string, int> steps;           // function -> steps calling it
  int max_dynamic_shared = 0;                 // cuda: Step::shared_bytes
};

nlohmann::json resources_json(const verify::KernelResources& r) {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&](const char* key, int64_t v) {
    if (v >= 0) j[key] = v;
  };
  put("registers", r.registers);
  put("shared_bytes", r.shared_bytes);
  put("local_bytes", r.frame_bytes);
  put("max_stack_bytes", r.max_stack_bytes);
  put("spill_store_bytes", r.spill_store_bytes);
  put("spill_load_bytes", r.spill_load_bytes);
  return j;
}

std::string resources_text(const verify::KernelResources& r, int dynamic_shared) {
  std::string t = std::to_string(r.registers) + " registers, " + std::to_string(std::max<int64_t>(r.shared_bytes, 0)) +
                  " B static shared";
  if (dynamic_shared) t += " + " + std::to_string(dynamic_shared) + " B dynamic";
  t += ", " + std::to_string(std::max<int64_t>(r.frame_bytes, 0)) + " B local";
  if (r.spill_store_bytes >= 0)
    t += " (spills: " + std::to_string(r.spill_store_bytes) + " B stored, " + std::to_string(r.spill_load_bytes) + " B loaded)";
  else if (r.frame_bytes > 0)
    t += " (stack frame: spills or local arrays)";
  else
    t += " (no spills)";
  return t;
}

}  // namespace

int cmd_kernels(int argc, char** argv) {
  Args args("kernels", argc, argv, {"target", "kernel"}, {"source", "json", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string path = plan_path_argument(args, "kernels");
  const auto plan = Plan::open(path);
  const std::optional<std::string> only_target = args.value("target"), only_kernel = args.value("kernel");
  const bool json_out = args.flag("json"), show_source = args.flag("source") || only_kernel.has_value();

  nlohmann::json targets = nlohmann::json::array();
  bool found_kernel = false;
  for (const PlanTarget& t : plan->manifest().targets) {
    if (only_target && t.name != *only_target) continue;
    const bool cuda = t.name == "cuda";
    const std::string source = section_text(*plan, cuda ? plan_section::kCudaSource : plan_section::kCpuMlir);
    // Resources per architecture, from each cubin.
    std::map<std::string, std::map<std::string, verify::KernelResources>> cubins;
    for (const std::string& arch : t.cuda_archs) {
      const std::string section = std::string(plan_section::kCudaCubinPrefix) + arch;
      if (auto bytes = plan->section(section)) cubins[arch] = verify::cubin_resources(*bytes, path + ": section " + section);
    }
    std::map<std::string, KernelUse> uses;
    for (const Function& f : t.functions)
      for (const Step& s : f.steps) {
        KernelUse& u = uses[s.kernel];
        ++u.steps[f.name];
        const std::vector<std::string> ops = s.ops.empty() ? [&] {
          std::vector<std::string> o;
          for (const OutputName& out : s.outputs) o.push_back(out.op);
          return o;
        }() : s.ops;
        for (const std::string& op : ops)
          if (std::find(u.ops.begin(), u.ops.end(), op) == u.ops.end()) u.ops.push_back(op);
        u.max_dynamic_shared = std::max(u.max_dynamic_shared, s.shared_bytes);
      }

    nlohmann::json kernels = nlohmann::json::array();
    if (!json_out) {
      std::string what = t.triple.empty() ? "" : t.triple + (t.cpu_name.empty() ? "" : ", " + t.cpu_name);
      for (const std::string& a : t.cuda_archs) what += (what.empty() ? "" : ", ") + a;
      if (t.has_ptx) what += (what.empty() ? "" : " + ") + std::string("PTX");
      std::printf("%s target (%s): %zu kernels\n", t.name.c_str(), what.c_str(), t.kernels.size());
    }
    for (const PlanKernel& k : t.kernels) {
      if (only_kernel && k.name != *only_kernel) continue;
      found_kernel = true;
      const KernelUse& u = uses[k.name];
      const verify::SourceSpan span =
          verify::kernel_definition(source, k.name, cuda ? verify::KernelLanguage::Cuda : verify::KernelLanguage::Mlir);
      const std::string text = source.substr(span.begin, span.end - span.begin);
      nlohmann::json j = {{"name", k.name}, {"computes", describe(k.spec)}, {"ops", u.ops}, {"steps", u.steps}};
      if (!k.info.empty()) j["info"] = k.info;
      nlohmann::json res = nlohmann::json::object();
      for (const auto& [arch, table] : cubins) {
        auto it = table.find(k.name);
        if (it == table.end()) continue;
        verify::KernelResources r = it->second;
        // Spills are recorded at compile time (ptxas -v), when the code generator kept them.
        if (k.info.contains(arch) && k.info[arch].is_object()) {
          r.spill_store_bytes = k.info[arch].value("spill_store_bytes", r.spill_store_bytes);
          r.spill_load_bytes = k.info[arch].value("spill_load_bytes", r.spill_load_bytes);
        }
        res[arch] = resources_json(r);
        if (u.max_dynamic_shared) res[arch]["dynamic_shared_bytes"] = u.max_dynamic_shared;
      }
      if (cuda) j["resources"] = res;
      j["source"] = text;
      if (json_out) {
        kernels.push_back(j);
        continue;
      }
      std::string steps;
      for (const auto& [fn, n] : u.steps) steps += (steps.empty() ? "" : ", ") + fn + " " + std::to_string(n);
      std::printf("\n  %s\n    computes: %s\n", k.name.c_str(), describe(k.spec).c_str());
      std::string ops;
      for (const std::string& o : gather_layers(u.ops)) ops += (ops.empty() ? "" : ", ") + o;
      std::printf("    ops:      %s\n    steps:    %s\n", ops.c_str(), steps.empty() ? "none" : steps.c_str());
      if (k.info.contains("override")) std::printf("    hand-written: %s\n", k.info["override"].dump().c_str());
      for (const auto& [arch, table] : cubins) {
        auto it = table.find(k.name);
        if (it == table.end()) continue;
        verify::KernelResources r = it->second;
        if (res.contains(arch)) {
          r.spill_store_bytes = res[arch].value("spill_store_bytes", int64_t{-1});
          r.spill_load_bytes = res[arch].value("spill_load_bytes", int64_t{-1});
        }
        std::printf("    %-9s %s\n", (arch + ":").c_str(), resources_text(r, u.max_dynamic_shared).c_str());
      }
      const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
      if (show_source)
        std::printf("    source (%s):\n%s", cuda ? "CUDA C++" : "MLIR before LLVM", text.c_str());
      else
        std::printf("    source:   %zu lines of %s (--source or --kernel %s to print)\n", lines,
                    cuda ? "CUDA C++" : "MLIR", k.name.c_str());
    }
    if (json_out) {
      nlohmann::json tj = {{"name", t.name}, {"kernels", kernels}};
      if (!t.triple.empty()) tj["triple"] = t.triple;
      if (!t.cpu_name.empty()) tj["cpu"] = t.cpu_name;
      if (!t.cuda_archs.empty()) tj["cuda_archs"] = t.cuda_archs;
      targets.push_back(tj);
    } else {
      std::printf("\n");
    }
  }
  if (only_kernel && !found_kernel) throw_bad_input(path + ": no kernel named '" + *only_kernel + "'");
  if (json_out) std::printf("%s\n", nlohmann::json{{"plan", path}, {"targets", targets}}.dump(2).c_str());
  return 0;
}

}  // namespace aprc::cli
