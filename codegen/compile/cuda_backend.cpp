// The cuda target: each step's kernel variant and launch chosen by codegen/cuda, one CUDA C++
// source for all kernels, compiled by NVRTC to a cubin per architecture plus PTX for newer cards.
#include "aprc/codegen/cuda.h"
#include "backend.h"

namespace aprc::codegen {
namespace {

class CudaBackend final : public TargetBackend {
 public:
  CudaBackend(const CompileTarget& target, const CompileOptions& options) : archs_(target.cuda_archs) {
    for (const auto& [name, file] : options.kernel_overrides)
      if (file.ends_with(".cu")) overrides_[name] = cuda::KernelOverride{file, read_kernel_file(file)};
  }

  std::string lowering_pipeline(int64_t max_tokens) const override {
    return "aprc-lower-cuda{max-tokens=" + std::to_string(max_tokens) + "}";
  }

  void finish_step(Step& step, int64_t max_tokens) override { cuda::assign_cuda_launch(step, max_tokens); }
  void finish_function(Function& f) override { cuda::fuse_decode_steps(f); }

  void generate(PlanTarget& target, PlanWriter& writer, Progress* progress) override {
    report(progress, "cuda kernels", 0, 1);
    cuda::CompileOptions options;
    options.archs = archs_;
    options.ptx = true;
    options.overrides = overrides_;
    cuda::write_cuda_target(writer, target, options);
    report(progress, "cuda kernels", 1, 1);
  }

 private:
  std::vector<int> archs_;
  cuda::KernelOverrides overrides_;  // aprc compile --override-kernel NAME=FILE.cu
};

}  // namespace

std::unique_ptr<TargetBackend> make_cuda_backend(const CompileTarget& target, const CompileOptions& options) {
  return std::make_unique<CudaBackend>(target, options);
}

}  // namespace aprc::codegen
