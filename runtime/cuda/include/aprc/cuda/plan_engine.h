// The cuda engine of aprc::Engine (aprc/engine.h): a plan's cuda target run by cuda::Engine on the GPU
// (or on any cuda::Device, e.g. the emulator in tests). Kernels come from the plan's sections (a cubin
// for this card, else the PTX, JIT-compiled by the driver), weights from its weights table (already in
// their cuda layouts), the KV cache geometry from its manifest.
#pragma once

#include <memory>

#include "aprc/cuda/device.h"
#include "aprc/engine.h"

namespace aprc::cuda {

// Opens the GPU (options.device); BadInput naming the plan when it has no cuda target or this machine
// cannot run it.
std::unique_ptr<aprc::Engine> open_cuda_engine(std::shared_ptr<const Plan> plan, const aprc::EngineOptions& options);
// The same on a given device.
std::unique_ptr<aprc::Engine> open_cuda_engine(std::shared_ptr<const Plan> plan, const aprc::EngineOptions& options,
                                               std::unique_ptr<Device> device);

// The plan's cuda kernels as a ModuleImage (sections cuda.cubin.sm_XX, cuda.ptx, cuda.source).
ModuleImage module_image_of(const Plan& plan);

}  // namespace aprc::cuda
