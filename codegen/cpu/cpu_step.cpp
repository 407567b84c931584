#include <algorithm>

#include "aprc/codegen/cpu_codegen.h"

namespace aprc {

void finish_cpu_step(Step& step, int64_t max_tokens, const CpuStepOptions& options) {
  KernelSpec& s = step.spec;
  if (s.kind == KernelKind::Linear && options.int8_activations && max_tokens > 1) s.int8_activations = true;
  if (s.kind == KernelKind::Attention && s.kv_heads > 0 && s.heads % s.kv_heads == 0)
    step.grain = std::max<int64_t>(step.grain, s.heads / s.kv_heads);
  step.kernel = s.name();
}

}  // namespace aprc
