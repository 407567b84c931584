// The module of no plan kernels (emit_module({})): the kernels every module has besides the plan's
// (arithmetic peaks, the greedy sampler), compiled for `device` (NVRTC) and loaded on it.
#pragma once

#include "aprc/codegen/cuda.h"
#include "aprc/cuda/device.h"

namespace aprc::cuda::test {

inline void load_builtin_module(Device& device) {
  ModuleImage image;
  image.source = emit_module({});
  CompileOptions options;
  options.archs = {device.compute_capability() >= 90 ? 90 : device.compute_capability() >= 89 ? 89 : 80};
  const CompiledModule m = compile_module(image.source, options);
  image.cubins = m.cubins;
  image.ptx = m.ptx;
  image.ptx_arch = m.ptx_arch;
  device.load_module(image);
}

}  // namespace aprc::cuda::test
