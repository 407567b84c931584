// What a cubin says about each of its kernels, read from the ELF without a GPU: registers per
// thread (EIATTR_REGCOUNT in .nv.info), static shared memory (the size of .nv.shared.KERNEL),
// the stack frame per thread (EIATTR_FRAME_SIZE: local memory, where spilled registers go) and the
// largest stack (EIATTR_MAX_STACK_SIZE). And what ptxas says when it compiles with -v (the spill
// bytes are only there). No MLIR, no CUDA: `aprc kernels` (also in aprc-rt) uses it.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

namespace aprc::verify {

struct KernelResources {
  int64_t registers = -1;      // per thread; -1: not recorded
  int64_t shared_bytes = -1;   // static shared memory per block (without the block's reserved 1 KiB on sm_90)
  int64_t frame_bytes = -1;    // local memory per thread (stack frame)
  int64_t max_stack_bytes = -1;
  int64_t spill_store_bytes = -1;  // ptxas -v only
  int64_t spill_load_bytes = -1;   // ptxas -v only
  bool operator==(const KernelResources&) const = default;
};

// Every kernel of a cubin (an ELF of NVIDIA's machine code), by name. A file that is not such an
// ELF, or whose tables run past its end, is Error(BadInput) "`what`: what is wrong".
std::map<std::string, KernelResources> cubin_resources(std::span<const uint8_t> cubin, const std::string& what);

// The per-function lines of ptxas -v (what NVRTC's log holds with -Xptxas=-v): "Compiling entry
// function 'K' for 'sm_90'", "Function properties for K: N bytes stack frame, N bytes spill stores,
// N bytes spill loads", "Used N registers, ... N bytes smem". Kernels of the architecture `arch`
// ("sm_90"), or of any when empty.
std::map<std::string, KernelResources> ptxas_resources(const std::string& log, const std::string& arch = "");

}  // namespace aprc::verify
