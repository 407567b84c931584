// Where a kernel's definition lies in a plan's source section: the function @NAME in the CPU MLIR
// (`func.func @NAME(...) ... {` to its closing brace), or the __global__ function NAME in the CUDA
// C++ (the signature line, with the comment lines right above it, to the closing brace of the
// body; for a hand-written kernel, the whole text of its file as the module holds it). `aprc kernels`
// prints it; a hand-written kernel replaces it. No MLIR, no CUDA.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aprc::verify {

enum class KernelLanguage { Mlir, Cuda };

struct SourceSpan {
  size_t begin = 0, end = 0;  // [begin, end) in the source; empty when not found
  bool found() const { return end > begin; }
};

SourceSpan kernel_definition(std::string_view source, const std::string& name, KernelLanguage language);

}  // namespace aprc::verify
