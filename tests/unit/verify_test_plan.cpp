#include "verify_test_plan.h"

#include <dlfcn.h>

#include <fstream>
#include <regex>
#include <stdexcept>

#include "aprc/plan.h"
#include "aprc/plan_format.h"

namespace aprc::testing {
namespace {

Expr lit(int64_t v) { return Expr::lit(v); }

class ScheduleBuilder {
 public:
  ScheduleBuilder(const ModelConfig& c, const std::map<std::string, size_t>& weights,
                  const std::vector<PlanWeight>& table, int64_t max_tokens, const std::map<std::string, std::string>& kernels)
      : c_(c), weights_(weights), table_(table), tm_(max_tokens), kernels_(kernels) {}

  Function build(const std::string& name) {
    Function f;
    f.name = name;
    f.max_tokens = tm_;
    const int64_t H = c_.hidden_size, HQ = c_.num_heads * c_.head_dim, KV = c_.num_kv_heads * c_.head_dim;
    const int64_t F = c_.intermediate_size, V = c_.vocab_size;
    const int64_t x = alloc(H), x2 = alloc(H), xn = alloc(H), q = alloc(HQ), k = alloc(KV), v = alloc(KV), att = alloc(HQ),
                  o = alloc(H), g = alloc(F), u = alloc(F), h = alloc(F), d = alloc(H);
    const Expr T = Expr::tokens(), pos{0, 1, 0};
    step(f, "embed", "test_embedding", {ids(), wt("embed.weight"), ar(x)}, {T, lit(H), lit(V), dt("embed.weight")}, T,
         {{2, H}});
    for (int64_t l = 0; l < c_.num_layers; ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      step(f, p + "attn_norm", "test_rms_norm", {ar(x), wt(p + "attn_norm.weight"), ar(xn)}, {T, lit(H)}, T, {{2, H}});
      for (auto [proj, out, n] : {std::tuple{"q_proj", q, HQ}, std::tuple{"k_proj", k, KV}, std::tuple{"v_proj", v, KV}}) {
        const std::string w = p + "attn." + proj;
        step(f, w, "test_linear_bias", {ar(xn), wt(w + ".weight"), wt(w + ".bias"), ar(out)},
             {T, lit(H), lit(n), dt(w + ".weight")}, lit(n), {{3, n}});
      }
      step(f, p + "attn.q_rope", "test_rope", {ar(q)}, {T, pos, lit(c_.num_heads), lit(c_.head_dim)}, T, {{0, HQ}});
      step(f, p + "attn.k_rope", "test_rope", {ar(k)}, {T, pos, lit(c_.num_kv_heads), lit(c_.head_dim)}, T, {{0, KV}});
      const Arg ck{ArgKind::CacheK, l, lit(0)}, cv{ArgKind::CacheV, l, lit(0)};
      step(f, p + "attn.kv_append", "test_kv_append", {ar(k), ar(v), ck, cv}, {T, pos, lit(KV)}, T, {});
      step(f, p + "attn.attention", "test_attention", {ar(q), ck, cv, ar(att)},
           {T, pos, lit(c_.num_heads), lit(c_.num_kv_heads), lit(c_.head_dim)}, lit(c_.num_heads), {{3, HQ}});
      step(f, p + "attn.o_proj", "test_linear", {ar(att), wt(p + "attn.o_proj.weight"), ar(o)},
           {T, lit(HQ), lit(H), dt(p + "attn.o_proj.weight")}, lit(H), {{2, H}});
      step(f, p + "attn_residual", "test_add", {ar(x), ar(o), ar(x2)}, {T, lit(H)}, T, {{2, H}});
      step(f, p + "mlp_norm", "test_rms_norm", {ar(x2), wt(p + "mlp_norm.weight"), ar(xn)}, {T, lit(H)}, T, {{2, H}});
      step(f, p + "mlp.gate_proj", "test_linear", {ar(xn), wt(p + "mlp.gate_proj.weight"), ar(g)},
           {T, lit(H), lit(F), dt(p + "mlp.gate_proj.weight")}, lit(F), {{2, F}});
      step(f, p + "mlp.up_proj", "test_linear", {ar(xn), wt(p + "mlp.up_proj.weight"), ar(u)},
           {T, lit(H), lit(F), dt(p + "mlp.up_proj.weight")}, lit(F), {{2, F}});
      // silu and mul in one kernel: only the product is stored, as a fused kernel would.
      step(f, p + "mlp.mul", "test_swiglu", {ar(g), ar(u), ar(h)}, {T, lit(F)}, T, {{2, F}});
      f.steps.back().ops = {p + "mlp.silu", p + "mlp.mul"};
      step(f, p + "mlp.down_proj", "test_linear", {ar(h), wt(p + "mlp.down_proj.weight"), ar(d)},
           {T, lit(F), lit(H), dt(p + "mlp.down_proj.weight")}, lit(H), {{2, H}});
      step(f, p + "mlp_residual", "test_add", {ar(x2), ar(d), ar(x)}, {T, lit(H)}, T, {{2, H}});
    }
    step(f, "final_norm", "test_rms_norm", {ar(x), wt("final_norm.weight"), ar(xn)}, {T, lit(H)}, T, {{2, H}});
    step(f, "logits", "test_linear", {ar(xn), wt("logits.weight"), Arg{ArgKind::Logits, 0, lit(0)}},
         {T, lit(H), lit(V), dt("logits.weight")}, lit(V), {{2, V}});
    f.arena_bytes = arena_;
    arena_ = 0;
    return f;
  }

 private:
  int64_t alloc(int64_t cols) {
    const int64_t offset = arena_;
    arena_ += tm_ * cols * 4 + 64;
    return offset;
  }
  static Arg ar(int64_t offset) { return Arg{ArgKind::Arena, 0, lit(offset)}; }
  static Arg ids() { return Arg{ArgKind::InputIds, 0, lit(0)}; }
  Arg wt(const std::string& symbol) const {
    auto it = weights_.find(symbol);
    if (it == weights_.end()) throw std::runtime_error("test plan: no weight " + symbol);
    return Arg{ArgKind::Weight, static_cast<int64_t>(it->second), lit(0)};
  }
  Expr dt(const std::string& symbol) const {
    return lit(static_cast<int64_t>(table_[static_cast<size_t>(wt(symbol).index)].dtype));
  }
  // A step for `op`, with an OutputName of `cols` columns per (arg, cols) in `outputs`.
  void step(Function& f, const std::string& op, const std::string& kernel, std::vector<Arg> args,
            std::vector<Expr> scalars, Expr extent, std::vector<std::pair<int, int64_t>> outputs) {
    Step st;
    auto swapped = kernels_.find(op);
    st.kernel = swapped == kernels_.end() ? kernel : swapped->second;
    st.spec.kind = KernelKind::Add;  // the test kernels are not generated from specs
    st.args = std::move(args);
    st.scalars = std::move(scalars);
    st.extent = extent;
    for (auto [arg, cols] : outputs) st.outputs.push_back(OutputName{op, arg, 0, cols, cols, Expr::tokens()});
    st.ops = {op};
    f.steps.push_back(std::move(st));
  }

  const ModelConfig& c_;
  const std::map<std::string, size_t>& weights_;
  const std::vector<PlanWeight>& table_;
  int64_t tm_;
  const std::map<std::string, std::string>& kernels_;
  int64_t arena_ = 0;
};

}  // namespace

void write_test_kernel_plan(const std::string& path, const Model& model, const std::string& module_text,
                            const TestKernelPlanOptions& options) {
  PlanWriter writer(path);
  // The module's weight symbols, as the builder declared them.
  std::map<std::string, size_t> weights;
  const std::regex decl(R"re(aprc\.weight @(\S+) : !aprc\.weight<[^>]*> \{source = "([^"]+)"\})re");
  for (auto it = std::sregex_iterator(module_text.begin(), module_text.end(), decl); it != std::sregex_iterator(); ++it) {
    const TensorRef& t = model.tensor((*it)[2]);
    PlanWeight w;
    w.name = (*it)[1];
    w.source = (*it)[2];
    w.dtype = t.dtype;
    w.shape = t.shape;
    weights[w.name] = writer.add_weight(w, t.bytes);
  }
  PlanManifest m;
  m.source = model.path;
  m.config = model.config;
  m.tokenizer = model.tokenizer;
  m.kv_cache = KvCacheGeometry{model.config.num_layers, model.config.num_kv_heads, model.config.head_dim, DType::F32,
                               options.max_context};
  m.weights = writer.weights();
  PlanTarget cpu;
  cpu.name = "cpu";
  cpu.triple = "x86_64-unknown-linux-gnu";
  cpu.functions = {ScheduleBuilder(model.config, weights, m.weights, options.max_tokens, options.kernels).build("prefill"),
                   ScheduleBuilder(model.config, weights, m.weights, 1, options.kernels).build("decode")};
  m.targets.push_back(std::move(cpu));
  std::ifstream so(APRC_TEST_KERNELS_SO, std::ios::binary);
  writer.add_section(std::string(plan_section::kCpuObject), std::vector<uint8_t>(std::istreambuf_iterator<char>(so), {}));
  if (options.store_reference_ir)
    writer.add_section(std::string(plan_section::kReferenceIr), std::vector<uint8_t>(module_text.begin(), module_text.end()));
  writer.finish(m);
}

CpuKernelResolver test_kernel_resolver(std::map<std::string, CpuKernelFn> extra) {
  void* handle = dlopen(APRC_TEST_KERNELS_SO, RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  return [handle, extra = std::move(extra)](const std::string& name) -> CpuKernelFn {
    auto it = extra.find(name);
    if (it != extra.end()) return it->second;
    return reinterpret_cast<CpuKernelFn>(dlsym(handle, name.c_str()));
  };
}

}  // namespace aprc::testing
