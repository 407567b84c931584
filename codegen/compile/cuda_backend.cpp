// The cuda target: each step's kernel variant and launch chosen by codegen/cuda, one CUDA C++
// source for all kernels, compiled by NVRTC to a cubin per architecture plus PTX for newer cards.
#include "aprc/codegen/cuda.h"
#include "aprc/plan_format.h"
#include "backend.h"

namespace aprc::codegen {
namespace {

class CudaBackend final : public TargetBackend {
 public:
  explicit CudaBackend(const CompileTarget& target) : archs_(target.cuda_archs) {}

  std::string lowering_pipeline(int64_t max_tokens) const override {
    return "aprc-lower-cuda{max-tokens=" + std::to_string(max_tokens) + "}";
  }

  void finish_step(Step& step, int64_t max_tokens) override { cuda::assign_cuda_launch(step, max_tokens); }

  void generate(PlanTarget& target, PlanWriter& writer, Progress* progress) override {
    const std::vector<cuda::KernelRef> kernels = cuda::kernels_of(target.functions);
    report(progress, "cuda kernels", 0, 1);
    cuda::CompileOptions options;
    options.archs = archs_;
    options.ptx = true;
    cuda::CompiledModule module = cuda::compile_module(cuda::emit_module(kernels), options);
    report(progress, "cuda kernels", 1, 1);
    for (auto& [arch, cubin] : module.cubins) {
      writer.add_section(std::string(plan_section::kCudaCubinPrefix) + "sm_" + std::to_string(arch), std::move(cubin));
      target.cuda_archs.push_back("sm_" + std::to_string(arch));
    }
    target.has_ptx = module.ptx_arch != 0;
    if (target.has_ptx) writer.add_section(std::string(plan_section::kCudaPtx), std::vector<uint8_t>(module.ptx.begin(), module.ptx.end()));
    writer.add_section(std::string(plan_section::kCudaSource), std::vector<uint8_t>(module.source.begin(), module.source.end()));
  }

 private:
  std::vector<int> archs_;
};

}  // namespace

std::unique_ptr<TargetBackend> make_cuda_backend(const CompileTarget& target, const CompileOptions&) {
  return std::make_unique<CudaBackend>(target);
}

}  // namespace aprc::codegen
