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

}  // namespace aprc::cuda

namespace aprc::cuda {

// A standalone file holding one ModuleImage (for tools and benchmarks that carry precompiled kernels;
// plans store the same parts as plan sections). Errors name the file.
void save_module_image(const ModuleImage& image, const std::string& path);
ModuleImage load_module_image(const std::string& path);

}  // namespace aprc::cuda
