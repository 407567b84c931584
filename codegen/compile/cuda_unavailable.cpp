// The cuda target of an aprc built without the CUDA toolkit (no NVRTC): refused with the reason.
#include "aprc/error.h"
#include "backend.h"

namespace aprc::codegen {

std::unique_ptr<TargetBackend> make_cuda_backend(const CompileTarget&, const CompileOptions&) {
  throw_bad_input("--target cuda: this aprc was built without the CUDA toolkit (NVRTC); rebuild it with CUDA 13 at /usr/local/cuda");
}

}  // namespace aprc::codegen
