// NVRTC: the generated source to cubins (one per requested architecture) and PTX. Runs without a GPU.
#include <nvrtc.h>

#include <algorithm>
#include <memory>

#include "aprc/codegen/cuda.h"
#include "aprc/error.h"
#include "aprc/verify/cubin_info.h"

namespace aprc::cuda {
namespace {

void check(nvrtcResult r, const char* call, const std::string& log = "") {
  if (r != NVRTC_SUCCESS)
    throw_internal(std::string("nvrtc: ") + call + " failed: " + nvrtcGetErrorString(r) + (log.empty() ? "" : "\n" + log));
}

struct Program {
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p) nvrtcDestroyProgram(&p);
  }
};

std::string program_log(nvrtcProgram p) {
  size_t n = 0;
  if (nvrtcGetProgramLogSize(p, &n) != NVRTC_SUCCESS || n <= 1) return "";
  std::string log(n, '\0');
  nvrtcGetProgramLog(p, log.data());
  log.resize(n - 1);
  return log;
}

// A compilation that failed in a hand-written kernel's file (its #line directives name the file in
// NVRTC's messages, "FILE(12): error: ...") is the user's error: the file and its first errors.
void refuse_broken_override(const std::string& log, const std::string& arch_opt, const KernelOverrides& overrides) {
  for (const auto& [name, o] : overrides) {
    std::string errors;
    for (size_t at = log.find(o.file + "("); at != std::string::npos; at = log.find(o.file + "(", at + 1)) {
      const size_t eol = log.find('\n', at);
      const std::string line = log.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
      if (line.find("error") == std::string::npos) continue;
      if (errors.size() > 600) {
        errors += "; ...";
        break;
      }
      errors += (errors.empty() ? "" : "; ") + line.substr(o.file.size());
    }
    if (!errors.empty())
      throw_bad_input(o.file + ": the hand-written kernel " + name + " does not compile (nvrtc " + arch_opt + "): " + errors);
  }
}

// Compiles for "-arch=sm_XX" (cubin) or "-arch=compute_XX" (PTX); appends NVRTC's log to `log`.
std::vector<uint8_t> compile_once(const std::string& source, int arch, bool cubin, const CompileOptions& o,
                                  std::string& log) {
  Program prog;
  check(nvrtcCreateProgram(&prog.p, source.c_str(), "aprc_kernels.cu", 0, nullptr, nullptr), "nvrtcCreateProgram");
  const std::string arch_opt = std::string("-arch=") + (cubin ? "sm_" : "compute_") + std::to_string(arch);
  std::vector<const char*> opts{arch_opt.c_str(), "-std=c++17", "-default-device"};
  if (o.lineinfo) opts.push_back("-lineinfo");
  if (o.ptxas_verbose && cubin) opts.push_back("-Xptxas=-v");
  const nvrtcResult r = nvrtcCompileProgram(prog.p, static_cast<int>(opts.size()), opts.data());
  const std::string l = program_log(prog.p);
  if (!l.empty()) log += "[" + arch_opt + "]\n" + l + "\n";
  if (r == NVRTC_ERROR_COMPILATION) refuse_broken_override(l, arch_opt, o.overrides);
  check(r, ("nvrtcCompileProgram " + arch_opt).c_str(), l);
  size_t n = 0;
  std::vector<uint8_t> out;
  if (cubin) {
    check(nvrtcGetCUBINSize(prog.p, &n), "nvrtcGetCUBINSize");
    out.resize(n);
    check(nvrtcGetCUBIN(prog.p, reinterpret_cast<char*>(out.data())), "nvrtcGetCUBIN");
  } else {
    check(nvrtcGetPTXSize(prog.p, &n), "nvrtcGetPTXSize");
    out.resize(n);
    check(nvrtcGetPTX(prog.p, reinterpret_cast<char*>(out.data())), "nvrtcGetPTX");
    while (!out.empty() && out.back() == 0) out.pop_back();
  }
  return out;
}

}  // namespace

CompiledModule compile_module(const std::string& source, const CompileOptions& o) {
  if (o.archs.empty()) throw_bad_input("cuda: no target architecture requested");
  for (int a : o.archs)
    if (a != 80 && a != 86 && a != 87 && a != 89 && a != 90)
      throw_bad_input("cuda: unsupported target architecture sm_" + std::to_string(a) +
                      " (supported: sm_80, sm_86, sm_87, sm_89, sm_90; newer cards run the PTX)");
  CompiledModule m;
  m.source = source;
  for (int a : o.archs) {
    m.cubins.emplace_back(a, compile_once(source, a, true, o, m.log));
    // A hand-written file that compiles but defines no kernel of the name leaves a declaration only.
    if (o.overrides.empty()) continue;
    const auto kernels = verify::cubin_resources(m.cubins.back().second, "the cubin for sm_" + std::to_string(a));
    for (const auto& [name, over] : o.overrides)
      if (!kernels.count(name))
        throw_bad_input(over.file + ": defines no kernel " + name + " (APRC_KERNEL void " + name +
                        "(...) with the generated kernel's parameters; aprc kernels PLAN --kernel " + name + " prints them)");
  }
  if (o.ptx) {
    m.ptx_arch = *std::min_element(o.archs.begin(), o.archs.end());
    const auto ptx = compile_once(source, m.ptx_arch, false, o, m.log);
    m.ptx.assign(ptx.begin(), ptx.end());
  }
  return m;
}

}  // namespace aprc::cuda
