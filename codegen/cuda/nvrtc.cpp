// NVRTC: the generated source to cubins (one per requested architecture) and PTX. Runs without a GPU.
#include <nvrtc.h>

#include <algorithm>
#include <memory>

#include "aprc/codegen/cuda.h"
#include "aprc/error.h"

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
  for (int a : o.archs) m.cubins.emplace_back(a, compile_once(source, a, true, o, m.log));
  if (o.ptx) {
    m.ptx_arch = *std::min_element(o.archs.begin(), o.archs.end());
    const auto ptx = compile_once(source, m.ptx_arch, false, o, m.log);
    m.ptx.assign(ptx.begin(), ptx.end());
  }
  return m;
}

}  // namespace aprc::cuda
