// The plan manifest as JSON: writing it, and reading it back with every value checked.
#include <algorithm>
#include <array>
#include <utility>

#include "aprc/error.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"
#include "json_reader.h"

namespace aprc {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Enumerations by name. One table per enum, used in both directions.
// ---------------------------------------------------------------------------------------------

template <typename E, size_t N>
using NameTable = std::array<std::pair<E, const char*>, N>;

constexpr NameTable<ArgKind, 6> kArgKinds{{{ArgKind::Arena, "arena"},
                                           {ArgKind::Weight, "weight"},
                                           {ArgKind::CacheK, "cache_k"},
                                           {ArgKind::CacheV, "cache_v"},
                                           {ArgKind::InputIds, "input_ids"},
                                           {ArgKind::Logits, "logits"}}};
constexpr NameTable<KernelKind, 9> kKernelKinds{{{KernelKind::Embedding, "embedding"},
                                                 {KernelKind::RmsNorm, "rms_norm"},
                                                 {KernelKind::Linear, "linear"},
                                                 {KernelKind::Rope, "rope"},
                                                 {KernelKind::KvAppend, "kv_append"},
                                                 {KernelKind::Attention, "attention"},
                                                 {KernelKind::Silu, "silu"},
                                                 {KernelKind::Mul, "mul"},
                                                 {KernelKind::Add, "add"}}};
constexpr NameTable<Epilogue, 3> kEpilogues{
    {{Epilogue::None, "none"}, {Epilogue::SwiGLU, "swiglu"}, {Epilogue::Residual, "residual"}}};
constexpr NameTable<ScaleGranularity, 2> kScales{
    {{ScaleGranularity::PerChannel, "per_channel"}, {ScaleGranularity::PerTensor, "per_tensor"}}};
constexpr NameTable<RopeType, 2> kRopeTypes{{{RopeType::Neox, "neox"}, {RopeType::Normal, "normal"}}};

template <typename E, size_t N>
const char* name_of(const NameTable<E, N>& table, E value) {
  for (const auto& [e, name] : table)
    if (e == value) return name;
  throw_internal("plan manifest: enumerator without a name");
}

template <typename E, size_t N>
E parse_enum(const NameTable<E, N>& table, const JsonReader& in, const char* what) {
  std::string s = in.string();
  for (const auto& [e, name] : table)
    if (s == name) return e;
  std::string known;
  for (const auto& [e, name] : table) known += std::string(known.empty() ? "" : ", ") + name;
  in.fail("unknown " + std::string(what) + " '" + s + "' (expected one of: " + known + ")");
}

DType parse_dtype(const JsonReader& in) {
  std::string s = in.string();
  auto d = dtype_from_name(s);
  if (!d) in.fail("unknown dtype '" + s + "'");
  return *d;
}

WeightLayout parse_layout(const JsonReader& in) {
  std::string s = in.string();
  auto l = layout_from_name(s);
  if (!l) in.fail("unknown weight layout '" + s + "' (a plan from a newer aprc?)");
  return *l;
}

std::vector<std::string> parse_strings(const JsonReader& in) {
  std::vector<std::string> out(in.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = in[i].string();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Schedules: Expr, Arg, WeightDesc, KernelSpec, Step, Function.
// ---------------------------------------------------------------------------------------------

// A constant is written as a plain integer; anything else as {"T": a, "pos": b, "c": c}.
json expr_json(const Expr& e) {
  if (e.coef_T == 0 && e.coef_pos == 0) return e.constant;
  json j = json::object();
  if (e.coef_T) j["T"] = e.coef_T;
  if (e.coef_pos) j["pos"] = e.coef_pos;
  if (e.constant) j["c"] = e.constant;
  return j;
}

Expr parse_expr(const JsonReader& in) {
  if (in.raw().is_number()) return Expr::lit(in.integer_in(-(int64_t{1} << 48), int64_t{1} << 48));
  if (!in.raw().is_object()) in.fail("expected an integer or {\"T\", \"pos\", \"c\"}");
  for (const auto& [key, value] : in.raw().items())
    if (key != "T" && key != "pos" && key != "c") in.fail("unknown key '" + key + "' in an expression");
  // Bounded so that evaluating at any T and pos a plan allows cannot overflow.
  constexpr int64_t kMaxCoef = int64_t{1} << 36, kMaxConst = int64_t{1} << 48;
  Expr e;
  if (auto v = in.find("T")) e.coef_T = v->integer_in(-kMaxCoef, kMaxCoef);
  if (auto v = in.find("pos")) e.coef_pos = v->integer_in(-kMaxCoef, kMaxCoef);
  if (auto v = in.find("c")) e.constant = v->integer_in(-kMaxConst, kMaxConst);
  return e;
}

json weight_desc_json(const WeightDesc& w) {
  return {{"dtype", dtype_name(w.dtype)},
          {"layout", layout_name(w.layout)},
          {"scales", name_of(kScales, w.scales)},
          {"rows", w.rows},
          {"cols", w.cols}};
}

WeightDesc parse_weight_desc(const JsonReader& in) {
  WeightDesc w;
  w.dtype = parse_dtype(in["dtype"]);
  w.layout = parse_layout(in["layout"]);
  w.scales = parse_enum(kScales, in["scales"], "scale granularity");
  w.rows = in["rows"].integer_in(0, INT64_MAX);
  w.cols = in["cols"].integer_in(0, INT64_MAX);
  return w;
}

json kernel_spec_json(const KernelSpec& s) {
  json weights = json::array(), biases = json::array();
  for (const auto& w : s.weights) weights.push_back(weight_desc_json(w));
  for (const auto& b : s.biases) biases.push_back(weight_desc_json(b));
  return {{"kind", name_of(kKernelKinds, s.kind)},
          {"weights", weights},
          {"biases", biases},
          {"has_norm", s.has_norm},
          {"norm", weight_desc_json(s.norm)},
          {"epilogue", name_of(kEpilogues, s.epilogue)},
          {"eps", s.eps},
          {"int8_activations", s.int8_activations},
          {"fp8_activations", s.fp8_activations},
          {"heads", s.heads},
          {"kv_heads", s.kv_heads},
          {"head_dim", s.head_dim},
          {"theta", s.theta},
          {"rope", s.rope},
          {"scale", s.scale},
          {"cache_dtype", dtype_name(s.cache_dtype)},
          {"cols", s.cols}};
}

KernelSpec parse_kernel_spec(const JsonReader& in) {
  KernelSpec s;
  s.kind = parse_enum(kKernelKinds, in["kind"], "kernel kind");
  JsonReader weights = in["weights"], biases = in["biases"];
  for (size_t i = 0; i < weights.size(); ++i) s.weights.push_back(parse_weight_desc(weights[i]));
  for (size_t i = 0; i < biases.size(); ++i) s.biases.push_back(parse_weight_desc(biases[i]));
  s.has_norm = in["has_norm"].boolean();
  s.norm = parse_weight_desc(in["norm"]);
  s.epilogue = parse_enum(kEpilogues, in["epilogue"], "epilogue");
  s.eps = in["eps"].number();
  if (auto i8 = in.find("int8_activations")) s.int8_activations = i8->boolean();
  if (auto f8 = in.find("fp8_activations")) s.fp8_activations = f8->boolean();
  s.heads = in["heads"].integer_in(0, INT32_MAX);
  s.kv_heads = in["kv_heads"].integer_in(0, INT32_MAX);
  s.head_dim = in["head_dim"].integer_in(0, INT32_MAX);
  s.theta = in["theta"].number();
  s.rope = in["rope"].boolean();
  s.scale = static_cast<float>(in["scale"].number());
  s.cache_dtype = parse_dtype(in["cache_dtype"]);
  s.cols = in["cols"].integer_in(0, INT64_MAX);
  return s;
}

json step_json(const Step& st) {
  json args = json::array(), scalars = json::array(), outputs = json::array();
  for (const Arg& a : st.args)
    args.push_back({{"kind", name_of(kArgKinds, a.kind)}, {"index", a.index}, {"offset", expr_json(a.offset)}});
  for (const Expr& e : st.scalars) scalars.push_back(expr_json(e));
  for (const OutputName& o : st.outputs)
    outputs.push_back({{"op", o.op},
                       {"arg", o.arg},
                       {"col_offset", o.col_offset},
                       {"cols", o.cols},
                       {"row_stride", o.row_stride},
                       {"rows", expr_json(o.rows)}});
  json grid = json::array();
  for (const Expr& g : st.grid) grid.push_back(expr_json(g));
  // The spec is not repeated here: it is in the target's kernel table under st.kernel.
  return {{"kernel", st.kernel},   {"args", args},
          {"scalars", scalars},    {"extent", expr_json(st.extent)},
          {"grain", st.grain},     {"grid", grid},
          {"grid_divisor", st.grid_divisor}, {"block", st.block},
          {"shared_bytes", st.shared_bytes}, {"outputs", outputs},
          {"ops", st.ops}};
}

Step parse_step(const JsonReader& in) {
  Step st;
  st.kernel = in["kernel"].string();
  JsonReader args = in["args"];
  for (size_t i = 0; i < args.size(); ++i) {
    Arg a;
    a.kind = parse_enum(kArgKinds, args[i]["kind"], "argument kind");
    a.index = args[i]["index"].integer_in(0, INT32_MAX);
    a.offset = parse_expr(args[i]["offset"]);
    st.args.push_back(a);
  }
  JsonReader scalars = in["scalars"];
  for (size_t i = 0; i < scalars.size(); ++i) st.scalars.push_back(parse_expr(scalars[i]));
  st.extent = parse_expr(in["extent"]);
  st.grain = in["grain"].integer_in(1, INT64_MAX);
  JsonReader grid = in["grid"], divisor = in["grid_divisor"], block = in["block"];
  if (grid.size() != 3) grid.fail("expected 3 dimensions");
  if (divisor.size() != 3) divisor.fail("expected 3 dimensions");
  if (block.size() != 3) block.fail("expected 3 dimensions");
  for (size_t i = 0; i < 3; ++i) {
    st.grid[i] = parse_expr(grid[i]);
    st.grid_divisor[i] = divisor[i].integer_in(1, INT32_MAX);
    st.block[i] = static_cast<int>(block[i].integer_in(1, 1024));
  }
  st.shared_bytes = static_cast<int>(in["shared_bytes"].integer_in(0, INT32_MAX));
  JsonReader outputs = in["outputs"];
  for (size_t i = 0; i < outputs.size(); ++i) {
    JsonReader o = outputs[i];
    OutputName name;
    name.op = o["op"].string();
    name.arg = static_cast<int>(o["arg"].integer_in(0, static_cast<int64_t>(st.args.size()) - 1));
    name.col_offset = o["col_offset"].integer_in(0, INT64_MAX);
    name.cols = o["cols"].integer_in(0, INT64_MAX);
    name.row_stride = o["row_stride"].integer_in(0, INT64_MAX);
    name.rows = parse_expr(o["rows"]);
    st.outputs.push_back(std::move(name));
  }
  if (std::optional<JsonReader> ops = in.find("ops"))
    for (size_t i = 0; i < ops->size(); ++i) st.ops.push_back((*ops)[i].string());
  return st;
}

json function_json(const Function& f) {
  json steps = json::array();
  for (const Step& st : f.steps) steps.push_back(step_json(st));
  return {{"name", f.name}, {"max_tokens", f.max_tokens}, {"arena_bytes", f.arena_bytes}, {"steps", steps}};
}

Function parse_function(const JsonReader& in) {
  Function f;
  f.name = in["name"].string();
  f.max_tokens = in["max_tokens"].integer_in(1, 1 << 20);
  f.arena_bytes = in["arena_bytes"].integer_in(0, INT64_MAX);
  JsonReader steps = in["steps"];
  for (size_t i = 0; i < steps.size(); ++i) f.steps.push_back(parse_step(steps[i]));
  return f;
}

// ---------------------------------------------------------------------------------------------
// Config, tokenizer, weights, targets.
// ---------------------------------------------------------------------------------------------

json config_json(const ModelConfig& c) {
  return {{"architecture", c.architecture},
          {"hidden_size", c.hidden_size},
          {"num_layers", c.num_layers},
          {"num_heads", c.num_heads},
          {"num_kv_heads", c.num_kv_heads},
          {"head_dim", c.head_dim},
          {"intermediate_size", c.intermediate_size},
          {"vocab_size", c.vocab_size},
          {"rope_theta", c.rope_theta},
          {"rope_type", name_of(kRopeTypes, c.rope_type)},
          {"rms_norm_eps", c.rms_norm_eps},
          {"max_position_embeddings", c.max_position_embeddings},
          {"tied_embeddings", c.tied_embeddings}};
}

ModelConfig parse_config(const JsonReader& in) {
  ModelConfig c;
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  c.architecture = in["architecture"].string();
  c.hidden_size = in["hidden_size"].integer_in(1, kMaxDim);
  c.num_layers = in["num_layers"].integer_in(1, 4096);
  c.num_heads = in["num_heads"].integer_in(1, 4096);
  c.num_kv_heads = in["num_kv_heads"].integer_in(1, c.num_heads);
  c.head_dim = in["head_dim"].integer_in(2, 4096);
  c.intermediate_size = in["intermediate_size"].integer_in(1, kMaxDim);
  c.vocab_size = in["vocab_size"].integer_in(1, kMaxDim);
  c.rope_theta = in["rope_theta"].number();
  c.rope_type = parse_enum(kRopeTypes, in["rope_type"], "rope type");
  c.rms_norm_eps = in["rms_norm_eps"].number();
  c.max_position_embeddings = in["max_position_embeddings"].integer_in(1, INT32_MAX);
  c.tied_embeddings = in["tied_embeddings"].boolean();
  if (c.num_heads % c.num_kv_heads != 0)
    in["num_kv_heads"].fail("num_heads " + std::to_string(c.num_heads) + " is not a multiple of it");
  return c;
}

json tokenizer_json(const TokenizerData& t) {
  json types = json::array();
  for (TokenType tt : t.token_types) types.push_back(static_cast<int32_t>(tt));
  return {{"model", t.model},         {"pre", t.pre},           {"pre_regex", t.pre_regex},
          {"tokens", t.tokens},       {"token_types", types},   {"merges", t.merges},
          {"bos_id", t.bos_id},       {"eos_id", t.eos_id},     {"pad_id", t.pad_id},
          {"add_bos", t.add_bos},     {"chat_template", t.chat_template}};
}

TokenizerData parse_tokenizer(const JsonReader& in) {
  TokenizerData t;
  t.model = in["model"].string();
  t.pre = in["pre"].string();
  t.pre_regex = in["pre_regex"].string();
  t.tokens = parse_strings(in["tokens"]);
  JsonReader types = in["token_types"];
  if (types.size() != t.tokens.size())
    types.fail(std::to_string(types.size()) + " token types for " + std::to_string(t.tokens.size()) + " tokens");
  t.token_types.resize(types.size());
  for (size_t i = 0; i < t.token_types.size(); ++i)
    t.token_types[i] = static_cast<TokenType>(types[i].integer_in(0, 6));
  t.merges = parse_strings(in["merges"]);
  const int64_t n = static_cast<int64_t>(t.tokens.size());
  t.bos_id = in["bos_id"].integer_in(-1, n - 1);
  t.eos_id = in["eos_id"].integer_in(-1, n - 1);
  t.pad_id = in["pad_id"].integer_in(-1, n - 1);
  t.add_bos = in["add_bos"].boolean();
  t.chat_template = in["chat_template"].string();
  return t;
}

json weight_json(const PlanWeight& w) {
  return {{"name", w.name},   {"source", w.source}, {"dtype", dtype_name(w.dtype)},
          {"layout", layout_name(w.layout)}, {"scales", name_of(kScales, w.scales)},
          {"shape", w.shape}, {"offset", w.offset}, {"bytes", w.bytes}};
}

PlanWeight parse_weight(const JsonReader& in) {
  PlanWeight w;
  w.name = in["name"].string();
  w.source = in["source"].string();
  w.dtype = parse_dtype(in["dtype"]);
  w.layout = parse_layout(in["layout"]);
  w.scales = parse_enum(kScales, in["scales"], "scale granularity");
  JsonReader shape = in["shape"];
  if (shape.size() < 1 || shape.size() > 2) shape.fail("expected [n] or [out, in]");
  for (size_t i = 0; i < shape.size(); ++i) w.shape.push_back(shape[i].integer_in(1, int64_t{1} << 32));
  w.offset = in["offset"].unsigned_integer();
  w.bytes = in["bytes"].unsigned_integer();
  if (!layout_supports(w.layout, w.dtype))
    in["layout"].fail(std::string("layout ") + layout_name(w.layout) + " does not hold " + dtype_name(w.dtype) + " weights");
  auto expected = layout_bytes(w.layout, w.dtype, w.rows(), w.cols(), w.scales);
  if (!expected) in["shape"].fail(std::string("not a whole number of ") + dtype_name(w.dtype) + " blocks per row");
  if (*expected != w.bytes)
    in["bytes"].fail(std::to_string(w.bytes) + " bytes, but the dtype, layout and shape make " + std::to_string(*expected));
  if (w.offset % kPlanWeightAlignment != 0)
    in["offset"].fail("not a multiple of " + std::to_string(kPlanWeightAlignment));
  return w;
}

json kv_cache_json(const KvCacheGeometry& kv) {
  return {{"layers", kv.layers},
          {"kv_heads", kv.kv_heads},
          {"head_dim", kv.head_dim},
          {"dtype", dtype_name(kv.dtype)},
          {"max_context", kv.max_context},
          {"layout", "[layer][k|v][position][kv_heads * head_dim]"}};
}

KvCacheGeometry parse_kv_cache(const JsonReader& in) {
  KvCacheGeometry kv;
  kv.layers = in["layers"].integer_in(1, 4096);
  kv.kv_heads = in["kv_heads"].integer_in(1, 4096);
  kv.head_dim = in["head_dim"].integer_in(1, 4096);
  kv.dtype = parse_dtype(in["dtype"]);
  if (kv.dtype != DType::F32 && kv.dtype != DType::F16 && kv.dtype != DType::BF16)
    in["dtype"].fail(std::string("a KV cache of ") + dtype_name(kv.dtype) + " is not supported");
  kv.max_context = in["max_context"].integer_in(1, int64_t{1} << 24);
  return kv;
}

json target_json(const PlanTarget& t) {
  json kernels = json::array(), functions = json::array();
  for (const PlanKernel& k : t.kernels)
    kernels.push_back({{"name", k.name}, {"spec", kernel_spec_json(k.spec)}, {"info", k.info}});
  for (const Function& f : t.functions) functions.push_back(function_json(f));
  json j = {{"name", t.name}, {"kernels", kernels}, {"functions", functions}};
  if (t.name == "cpu") {
    j["triple"] = t.triple;
    j["cpu"] = t.cpu_name;
    j["features"] = t.features;
  } else {
    j["cuda_archs"] = t.cuda_archs;
    j["has_ptx"] = t.has_ptx;
  }
  return j;
}

PlanTarget parse_target(const JsonReader& in) {
  PlanTarget t;
  t.name = in["name"].string();
  if (t.name == "cpu") {
    t.triple = in["triple"].string();
    t.cpu_name = in["cpu"].string();
    t.features = parse_strings(in["features"]);
  } else if (t.name == "cuda") {
    t.cuda_archs = parse_strings(in["cuda_archs"]);
    t.has_ptx = in["has_ptx"].boolean();
  } else {
    in["name"].fail("unknown target '" + t.name + "' (expected cpu or cuda)");
  }
  JsonReader kernels = in["kernels"];
  for (size_t i = 0; i < kernels.size(); ++i) {
    PlanKernel k;
    k.name = kernels[i]["name"].string();
    k.spec = parse_kernel_spec(kernels[i]["spec"]);
    k.info = kernels[i]["info"].raw();
    if (t.kernel(k.name)) kernels[i]["name"].fail("kernel '" + k.name + "' is listed twice");
    t.kernels.push_back(std::move(k));
  }
  JsonReader functions = in["functions"];
  for (size_t i = 0; i < functions.size(); ++i) {
    Function f = parse_function(functions[i]);
    if (t.function(f.name)) functions[i]["name"].fail("function '" + f.name + "' is listed twice");
    for (size_t s = 0; s < f.steps.size(); ++s) {
      Step& st = f.steps[s];
      const PlanKernel* k = t.kernel(st.kernel);
      if (!k) functions[i]["steps"][s]["kernel"].fail("kernel '" + st.kernel + "' is not in the target's kernel table");
      st.spec = k->spec;
    }
    t.functions.push_back(std::move(f));
  }
  return t;
}

// Every index and offset of a function against what it points into, so that a bad manifest is
// refused here and no executor ever indexes past a table or an arena.
void check_function(const JsonReader& in, const Function& f, const PlanManifest& m) {
  for (size_t s = 0; s < f.steps.size(); ++s) {
    const Step& st = f.steps[s];
    JsonReader step = in["steps"][s];
    for (size_t a = 0; a < st.args.size(); ++a) {
      const Arg& arg = st.args[a];
      JsonReader where = step["args"][a];
      // The offset is linear in T and pos, so its extremes over the calls the function allows are
      // at the corners: T in {1, max_tokens}, pos in {0, max_context - T}.
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (int64_t T : {int64_t{1}, f.max_tokens})
        for (int64_t pos : {int64_t{0}, std::max<int64_t>(0, m.kv_cache.max_context - T)}) {
          lo = std::min(lo, arg.offset.eval(T, pos));
          hi = std::max(hi, arg.offset.eval(T, pos));
        }
      if (lo < 0) where["offset"].fail("negative offset");
      switch (arg.kind) {
        case ArgKind::Arena:
          if (hi > f.arena_bytes)
            where["offset"].fail("offset " + std::to_string(hi) + " is past the arena (" + std::to_string(f.arena_bytes) + " bytes)");
          break;
        case ArgKind::Weight:
          if (static_cast<size_t>(arg.index) >= m.weights.size())
            where["index"].fail("weight " + std::to_string(arg.index) + " of " + std::to_string(m.weights.size()));
          if (static_cast<uint64_t>(hi) >= m.weights[arg.index].bytes)
            where["offset"].fail("past the end of weight '" + m.weights[arg.index].name + "'");
          break;
        case ArgKind::CacheK:
        case ArgKind::CacheV:
          if (arg.index >= m.kv_cache.layers)
            where["index"].fail("layer " + std::to_string(arg.index) + " of " + std::to_string(m.kv_cache.layers));
          if (static_cast<uint64_t>(hi) > m.kv_cache.bytes_per_position() * m.kv_cache.max_context)
            where["offset"].fail("past the end of the KV cache");
          break;
        case ArgKind::InputIds:
        case ArgKind::Logits:
          break;
      }
    }
  }
}

}  // namespace

uint64_t KvCacheGeometry::bytes_per_position() const {
  return static_cast<uint64_t>(kv_heads * head_dim) * format_info(dtype).block_bytes;
}

const Function* PlanTarget::function(std::string_view n) const {
  for (const Function& f : functions)
    if (f.name == n) return &f;
  return nullptr;
}

const PlanKernel* PlanTarget::kernel(std::string_view n) const {
  for (const PlanKernel& k : kernels)
    if (k.name == n) return &k;
  return nullptr;
}

const PlanTarget* PlanManifest::target(std::string_view n) const {
  for (const PlanTarget& t : targets)
    if (t.name == n) return &t;
  return nullptr;
}

json manifest_to_json(const PlanManifest& m) {
  json weights = json::array(), targets = json::array();
  for (const PlanWeight& w : m.weights) weights.push_back(weight_json(w));
  for (const PlanTarget& t : m.targets) targets.push_back(target_json(t));
  json j = {{"format_version", m.format_version},
            {"producer", m.producer},
            {"source", m.source},
            {"config", config_json(m.config)},
            {"tokenizer", tokenizer_json(m.tokenizer)},
            {"kv_cache", kv_cache_json(m.kv_cache)},
            {"weights", weights},
            {"targets", targets},
            {"options", m.options}};
  if (m.synthetic) j["synthetic"] = {{"preset", m.synthetic->preset}, {"seed", m.synthetic->seed}};
  return j;
}

PlanManifest manifest_from_json(const json& j, const std::string& context) {
  JsonReader in(j, context + ": manifest");
  PlanManifest m;
  m.format_version = static_cast<uint32_t>(in["format_version"].integer_in(0, UINT32_MAX));
  m.producer = in["producer"].string();
  m.source = in["source"].string();
  m.config = parse_config(in["config"]);
  m.tokenizer = parse_tokenizer(in["tokenizer"]);
  m.kv_cache = parse_kv_cache(in["kv_cache"]);
  if (m.kv_cache.layers != m.config.num_layers)
    in["kv_cache"]["layers"].fail("the model has " + std::to_string(m.config.num_layers) + " layers");
  JsonReader weights = in["weights"];
  for (size_t i = 0; i < weights.size(); ++i) m.weights.push_back(parse_weight(weights[i]));
  if (auto s = in.find("synthetic")) m.synthetic = SyntheticInfo{(*s)["preset"].string(), (*s)["seed"].unsigned_integer()};
  if (auto o = in.find("options")) m.options = o->raw();
  JsonReader targets = in["targets"];
  for (size_t i = 0; i < targets.size(); ++i) {
    PlanTarget t = parse_target(targets[i]);
    if (m.target(t.name)) targets[i]["name"].fail("target '" + t.name + "' is listed twice");
    for (size_t f = 0; f < t.functions.size(); ++f) check_function(targets[i]["functions"][f], t.functions[f], m);
    m.targets.push_back(std::move(t));
  }
  return m;
}

}  // namespace aprc
