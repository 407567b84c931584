#include "ir_fused_module.h"

#include <regex>

namespace aprc::testing {

std::map<std::string, std::string> weight_types(const std::string& text) {
  std::map<std::string, std::string> types;
  const std::regex decl(R"re(aprc\.weight @(\S+) : (!aprc\.weight<[^>]*>))re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), decl); it != std::sregex_iterator(); ++it)
    types[(*it)[1]] = (*it)[2];
  return types;
}

std::string fused_function(const std::string& name, const std::string& rows, const ModelConfig& c,
                           const std::map<std::string, std::string>& types) {
  std::string s;
  const std::string act = "tensor<" + rows + "x";
  auto t = [&](int64_t cols) { return act + std::to_string(cols) + "xf32>"; };
  int counter = 0;
  auto ref = [&](const std::string& symbol) {
    const std::string v = "%w" + std::to_string(counter++);
    s += "    " + v + " = aprc.weight_ref @" + symbol + " : " + types.at(symbol) + "\n";
    return v;
  };
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const int64_t ff = c.intermediate_size, V = c.vocab_size;
  const std::string eps = "eps = 9.9999999999999995E-7 : f64", theta = "theta = 1.000000e+06 : f64";
  s += "  func.func @" + name + "(%ids: tensor<" + rows + "xi32>, %pos: index) -> tensor<" + rows + "x" +
       std::to_string(V) + "xf32> {\n";
  const std::string e = ref("embed.weight");
  s += "    %x0 = aprc.embedding %ids, " + e + " : (tensor<" + rows + "xi32>, " + types.at("embed.weight") + ") -> " +
       t(h) + " loc(\"embed\")\n";
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".", L = std::to_string(l);
    const std::string x = "%x" + L, n = "%n" + L;
    const std::string g = ref(p + "attn_norm.weight"), wq = ref(p + "attn.q_proj.weight"), wk = ref(p + "attn.k_proj.weight");
    const std::string wv = ref(p + "attn.v_proj.weight"), bq = ref(p + "attn.q_proj.bias"), bk = ref(p + "attn.k_proj.bias");
    const std::string bv = ref(p + "attn.v_proj.bias");
    s += "    %q" + L + ", %k" + L + ", %v" + L + " = aprc.fused_linear " + x + " norm(" + g + ") weights(" + wq + ", " +
         wk + ", " + wv + ") biases(" + bq + ", " + bk + ", " + bv + ") epilogue none {" + eps + ", result_names = [\"" +
         p + "attn.q_proj\", \"" + p + "attn.k_proj\", \"" + p + "attn.v_proj\"]} : (" + t(h) + ", " +
         types.at(p + "attn_norm.weight") + ", " + types.at(p + "attn.q_proj.weight") + ", " +
         types.at(p + "attn.k_proj.weight") + ", " + types.at(p + "attn.v_proj.weight") + ", " +
         types.at(p + "attn.q_proj.bias") + ", " + types.at(p + "attn.k_proj.bias") + ", " +
         types.at(p + "attn.v_proj.bias") + ") -> (" + t(q) + ", " + t(kv) + ", " + t(kv) + ")\n";
    s += "    %qr" + L + " = aprc.rope %q" + L + ", %pos {head_dim = " + std::to_string(c.head_dim) + " : i64, " + theta +
         "} : " + t(q) + " loc(\"" + p + "attn.q_rope\")\n";
    s += "    %kr" + L + " = aprc.rope_kv_append %k" + L + ", %v" + L + ", @" + p + "kv[%pos] {" + theta +
         ", result_names = [\"" + p + "attn.k_rope\"]} : " + t(kv) + ", " + t(kv) + "\n";
    s += "    %a" + L + " = aprc.attention %qr" + L + ", @" + p + "kv[%pos] {scale = 1.250000e-01 : f64} : " + t(q) +
         " loc(\"" + p + "attn.attention\")\n";
    const std::string wo = ref(p + "attn.o_proj.weight");
    s += "    %r" + L + " = aprc.fused_linear %a" + L + " weights(" + wo + ") residual(" + x +
         ") epilogue residual {result_names = [\"" + p + "attn_residual\"]} : (" + t(q) + ", " +
         types.at(p + "attn.o_proj.weight") + ", " + t(h) + ") -> " + t(h) + "\n";
    const std::string g2 = ref(p + "mlp_norm.weight"), wg = ref(p + "mlp.gate_proj.weight"), wu = ref(p + "mlp.up_proj.weight");
    s += "    %m" + L + " = aprc.fused_linear %r" + L + " norm(" + g2 + ") weights(" + wg + ", " + wu +
         ") epilogue swiglu {" + eps + ", result_names = [\"" + p + "mlp.mul\"]} : (" + t(h) + ", " +
         types.at(p + "mlp_norm.weight") + ", " + types.at(p + "mlp.gate_proj.weight") + ", " +
         types.at(p + "mlp.up_proj.weight") + ") -> " + t(ff) + "\n";
    const std::string wd = ref(p + "mlp.down_proj.weight");
    s += "    %x" + std::to_string(l + 1) + " = aprc.fused_linear %m" + L + " weights(" + wd + ") residual(%r" + L +
         ") epilogue residual {result_names = [\"" + p + "mlp_residual\"]} : (" + t(ff) + ", " +
         types.at(p + "mlp.down_proj.weight") + ", " + t(h) + ") -> " + t(h) + "\n";
  }
  const std::string fn = ref("final_norm.weight"), lw = ref("logits.weight");
  const std::string last = "%x" + std::to_string(c.num_layers);
  s += "    %l = aprc.fused_linear " + last + " norm(" + fn + ") weights(" + lw + ") epilogue none {" + eps +
       ", result_names = [\"logits\"]} : (" + t(h) + ", " + types.at("final_norm.weight") + ", " +
       types.at("logits.weight") + ") -> " + t(V) + "\n";
  s += "    return %l : " + t(V) + "\n  }\n";
  return s;
}

std::string with_fused_functions(const std::string& module_text, const ModelConfig& c) {
  // The fused functions go in before the module's closing brace (the location aliases follow it).
  const auto types = weight_types(module_text);
  const size_t end = module_text.rfind("\n}");
  return module_text.substr(0, end + 1) + fused_function("prefill_fused", "?", c, types) +
         fused_function("decode_fused", "1", c, types) + module_text.substr(end + 1);
}

}  // namespace aprc::testing
