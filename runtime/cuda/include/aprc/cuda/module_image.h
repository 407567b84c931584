// What a cuda plan carries for its kernels: cubins per architecture, PTX for newer cards, and the
// generated source (for readers, and for the emulator in tests).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace aprc::cuda {

struct ModuleImage {
  std::vector<std::pair<int, std::vector<uint8_t>>> cubins;  // (sm_XX as XX, cubin bytes)
  int ptx_arch = 0;                                            // compute_XX of `ptx`; 0 when absent
  std::string ptx;
  std::string source;
};

// What a card of compute capability `cc` (90 for sm_90) loads from `image`: the cubin of the
// highest architecture of its major version not above it, else the PTX when its architecture is not
// above the card's (JIT-compiled by the driver). Error(BadInput) naming both sides when neither fits.
struct LoadableCode {
  const void* data = nullptr;
  std::string what;  // "cubin sm_90", "PTX compute_90 (JIT for sm_100)"
};
LoadableCode select_code(const ModuleImage& image, int cc);


// A standalone file holding one ModuleImage (for tools and benchmarks that carry precompiled kernels;
// plans store the same parts as plan sections). Errors name the file.
void save_module_image(const ModuleImage& image, const std::string& path);
ModuleImage load_module_image(const std::string& path);

}  // namespace aprc::cuda
