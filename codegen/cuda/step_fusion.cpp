// Launch-level fusion of adjacent decode steps: the IR keeps the ops apart (each keeps its value for
// `aprc verify`), only the CUDA schedule joins their kernels, where a launch in the chain of a decode
// step costs more than the work it does.
#include "aprc/codegen/cuda.h"

namespace aprc::cuda {
namespace {

// Whether two arguments of a one-token step, of a and b floats, may share bytes.
bool may_overlap(const Arg& x, int64_t a, const Arg& y, int64_t b) {
  if (x.kind != y.kind) return false;
  if (x.kind != ArgKind::Arena || x.offset.coef_pos != 0 || y.offset.coef_pos != 0) return true;
  const int64_t xb = x.offset.eval(1, 0), yb = y.offset.eval(1, 0);
  return xb < yb + 4 * b && yb < xb + 4 * a;
}

// rope_qk_kv_append (KvAppend with q heads; args k, v, cache_k, cache_v, q) directly followed by the
// decode attention (args q, cache_k, cache_v, out) on the q it rotated and the cache it appended to.
bool rope_then_attention(const Step& append, const Step& attention, int64_t max_tokens) {
  const KernelSpec& a = append.spec;
  const KernelSpec& t = attention.spec;
  if (max_tokens != 1 || a.kind != KernelKind::KvAppend || t.kind != KernelKind::Attention) return false;
  if (!a.rope || a.heads <= 0 || t.rope || variant_of(attention.kernel) != Variant::AttnDecode) return false;
  if (a.heads != t.heads || a.kv_heads != t.kv_heads || a.head_dim != t.head_dim || a.cache_dtype != t.cache_dtype)
    return false;
  if (!(append.scalars == attention.scalars) || append.args.size() != 5 || attention.args.size() != 4) return false;
  if (!(attention.args[0] == append.args[4] && attention.args[1] == append.args[2] && attention.args[2] == append.args[3]))
    return false;
  // The blocks that finish a kv head write its output while another kv head's may still read its k
  // and v (aprc-plan-memory keeps them apart; a schedule from elsewhere may not).
  const int64_t out = t.heads * t.head_dim, kv = a.kv_heads * a.head_dim;
  return !may_overlap(attention.args[3], out, append.args[0], kv) && !may_overlap(attention.args[3], out, append.args[1], kv);
}

// One decode attention step that rotates and appends first (KernelSpec::rope on an Attention): args
// q, cache_k, cache_v, out, k, v; the values of both steps stay outputs.
Step rope_attention(const Step& append, const Step& attention, int64_t max_tokens) {
  Step s = attention;
  s.spec.rope = true;
  s.spec.theta = append.spec.theta;
  s.args.push_back(append.args[0]);
  s.args.push_back(append.args[1]);
  const int append_to_fused[5] = {4, 5, 1, 2, 0};  // k, v, cache_k, cache_v, q
  for (OutputName o : append.outputs) {
    o.arg = append_to_fused[o.arg];
    s.outputs.push_back(o);
  }
  s.ops.insert(s.ops.begin(), append.ops.begin(), append.ops.end());
  assign_cuda_launch(s, max_tokens);
  return s;
}

}  // namespace

void fuse_decode_steps(Function& f) {
  std::vector<Step> out;
  for (size_t i = 0; i < f.steps.size(); ++i) {
    if (i + 1 < f.steps.size() && rope_then_attention(f.steps[i], f.steps[i + 1], f.max_tokens)) {
      out.push_back(rope_attention(f.steps[i], f.steps[i + 1], f.max_tokens));
      ++i;
    } else {
      out.push_back(std::move(f.steps[i]));
    }
  }
  f.steps = std::move(out);
}

}  // namespace aprc::cuda
