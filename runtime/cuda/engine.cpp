#include "aprc/cuda/engine.h"

#include <algorithm>

#include "aprc/error.h"

namespace aprc::cuda {

struct Engine::PreparedStep {
  const Step* step = nullptr;
  void* kernel = nullptr;
  std::string what;  // "decode step 12 (kernel ..., op layers.3.mlp.down_proj)"
  DevPtr workspace = 0;
  std::vector<DevPtr> arg_values;  // the kernel's pointer parameters, then s and ws
  std::vector<void*> params;       // pointers to arg_values, as cuLaunchKernel wants
};

struct Engine::PreparedFunction {
  Function fn;
  std::vector<PreparedStep> steps;
  DevPtr scalars = 0;                 // kScalarSlot int64 per step
  std::vector<int64_t> host_scalars;  // staging for the table
  bool graph_ok = false;              // launch shapes and pointers do not depend on (T, pos)
  void* graph = nullptr;
};

namespace {

int64_t eval_checked(const Expr& e, int64_t T, int64_t pos, const std::string& what) {
  const int64_t v = e.eval(T, pos);
  if (v < 0) throw_internal("cuda: " + what + ": an expression of the schedule is negative (" + std::to_string(v) + ")");
  return v;
}

}  // namespace

Engine::Engine(std::unique_ptr<Device> device, const ModuleImage& image, std::vector<Function> functions,
               const std::vector<std::span<const uint8_t>>& weights, const KvCacheDesc& kv, const EngineOptions& options)
    : device_(std::move(device)), options_(options), kv_(kv) {
  if (options_.vocab <= 0) throw_internal("cuda engine: vocab size not set");
  if (options_.context <= 0) throw_bad_input("cuda: context length must be positive");
  device_->load_module(image);

  // Weights: one allocation each, in their target layout.
  for (size_t i = 0; i < weights.size(); ++i) {
    const DevPtr p = alloc(weights[i].size(), "weight " + std::to_string(i));
    device_->upload(p, weights[i].data(), weights[i].size());
    weights_.push_back(p);
    weight_bytes_ += weights[i].size();
  }
  // KV caches.
  const uint64_t row_bytes = static_cast<uint64_t>(kv.kv_heads * kv.head_dim) * format_info(kv.dtype).block_bytes;
  for (int64_t l = 0; l < kv.layers; ++l) {
    cache_k_.push_back(alloc(row_bytes * options_.context, "KV cache (k) of layer " + std::to_string(l)));
    cache_v_.push_back(alloc(row_bytes * options_.context, "KV cache (v) of layer " + std::to_string(l)));
    device_->zero(cache_k_.back(), row_bytes * options_.context);
    device_->zero(cache_v_.back(), row_bytes * options_.context);
  }
  // One arena for all functions, ids and logits sized for the largest call.
  int64_t arena = 0;
  for (const auto& f : functions) {
    arena = std::max(arena, f.arena_bytes);
    max_tokens_ = std::max(max_tokens_, f.max_tokens);
  }
  arena_ = alloc(static_cast<uint64_t>(arena), "activation arena");
  ids_ = alloc(static_cast<uint64_t>(max_tokens_) * 4, "token ids");
  logits_ = alloc(static_cast<uint64_t>(max_tokens_ * options_.vocab) * 4, "logits");

  for (auto& f : functions) {
    auto pf = std::make_unique<PreparedFunction>();
    pf->fn = std::move(f);
    const Function& fn = pf->fn;
    pf->scalars = alloc(fn.steps.size() * kScalarSlot * 8 + 8, "step scalars of " + fn.name);
    pf->host_scalars.assign(fn.steps.size() * kScalarSlot, 0);
    pf->graph_ok = options_.graphs && device_->supports_graphs() && fn.max_tokens == 1;
    for (size_t i = 0; i < fn.steps.size(); ++i) {
      const Step& st = fn.steps[i];
      PreparedStep ps;
      ps.step = &st;
      ps.what = fn.name + " step " + std::to_string(i) + " (kernel " + st.kernel +
                (st.outputs.empty() ? std::string() : ", op " + st.outputs[0].op) + ")";
      ps.kernel = device_->kernel(st.kernel);
      if (st.shared_bytes > 48 * 1024) device_->set_max_shared(ps.kernel, st.kernel, st.shared_bytes);
      const uint64_t ws = workspace_bytes(st.spec, variant_of(st.kernel), fn.max_tokens);
      if (ws) {
        ps.workspace = alloc(ws, "workspace of " + ps.what);
        device_->zero(ps.workspace, ws);
      }
      ps.arg_values.resize(st.args.size() + 2);
      // Pointers that depend on the call are bound at each launch; graphs need none.
      for (const auto& a : st.args)
        if (a.offset.coef_pos != 0 || (a.offset.coef_T != 0 && fn.max_tokens != 1)) pf->graph_ok = false;
      for (int d = 0; d < 3; ++d)
        if (st.grid[d].coef_pos != 0) pf->graph_ok = false;
      pf->steps.push_back(std::move(ps));
    }
    // The parameter arrays point into arg_values, whose storage is now final.
    for (size_t i = 0; i < pf->steps.size(); ++i) {
      PreparedStep& ps = pf->steps[i];
      ps.arg_values[ps.step->args.size()] = pf->scalars + i * kScalarSlot * 8;
      ps.arg_values[ps.step->args.size() + 1] = ps.workspace;
      for (auto& v : ps.arg_values) ps.params.push_back(&v);
      ps.params.push_back(nullptr);
    }
    functions_[pf->fn.name] = std::move(pf);
  }
  device_->synchronize("loading the plan");
}

Engine::~Engine() {
  for (auto& [name, f] : functions_) device_->destroy_graph(f->graph);
  for (DevPtr p : owned_) device_->free(p);
}

DevPtr Engine::alloc(uint64_t bytes, const std::string& what) {
  const uint64_t rounded = (bytes + 255) & ~uint64_t(255);
  const DevPtr p = device_->alloc(rounded ? rounded : 256, what);
  owned_.push_back(p);
  device_bytes_ += rounded;
  return p;
}

DevPtr Engine::bind(const Arg& a, int64_t T, int64_t pos, const Step& st) const {
  const int64_t off = a.offset.eval(T, pos);
  auto at = [&](DevPtr base, const char* what) -> DevPtr {
    if (off < 0) throw_internal("cuda: kernel " + st.kernel + ": negative offset into " + what);
    return base + static_cast<uint64_t>(off);
  };
  auto index = [&](size_t n, const char* what) {
    if (a.index < 0 || static_cast<size_t>(a.index) >= n)
      throw_internal("cuda: kernel " + st.kernel + ": " + what + " " + std::to_string(a.index) + " does not exist");
    return static_cast<size_t>(a.index);
  };
  switch (a.kind) {
    case ArgKind::Arena: return at(arena_, "the arena");
    case ArgKind::Weight: return at(weights_[index(weights_.size(), "weight")], "a weight");
    case ArgKind::CacheK: return at(cache_k_[index(cache_k_.size(), "cache layer")], "the k cache");
    case ArgKind::CacheV: return at(cache_v_[index(cache_v_.size(), "cache layer")], "the v cache");
    case ArgKind::InputIds: return at(ids_, "the input ids");
    case ArgKind::Logits: return at(logits_, "the logits");
  }
  throw_internal("cuda: unknown argument kind");
}

LaunchShape Engine::bind_step(PreparedStep& ps, int64_t T, int64_t pos) {
  const Step& st = *ps.step;
  for (size_t a = 0; a < st.args.size(); ++a) ps.arg_values[a] = bind(st.args[a], T, pos, st);
  LaunchShape shape;
  for (int d = 0; d < 3; ++d) {
    const int64_t div = std::max<int64_t>(1, st.grid_divisor[d]);
    shape.grid[d] = static_cast<unsigned>((eval_checked(st.grid[d], T, pos, ps.what) + div - 1) / div);
    shape.block[d] = static_cast<unsigned>(std::max(1, st.block[d]));
  }
  shape.shared_bytes = static_cast<unsigned>(st.shared_bytes);
  return shape;
}

void Engine::launch_steps(PreparedFunction& f, int64_t T, int64_t pos, std::vector<double>* step_seconds) {
  for (size_t i = 0; i < f.steps.size(); ++i) {
    PreparedStep& ps = f.steps[i];
    const LaunchShape shape = bind_step(ps, T, pos);
    if (shape.grid[0] == 0 || shape.grid[1] == 0 || shape.grid[2] == 0) continue;  // nothing to do
    if (step_seconds) device_->timer_start();
    device_->launch(ps.kernel, shape, ps.params.data(), ps.what);
    if (step_seconds) (*step_seconds)[i] += device_->timer_stop_seconds();
  }
}

Engine::PreparedFunction& Engine::prepare_call(const std::string& name, std::span<const int32_t> ids, int64_t pos) {
  auto it = functions_.find(name);
  if (it == functions_.end()) throw_internal("cuda: the plan has no function '" + name + "'");
  PreparedFunction& f = *it->second;
  const int64_t T = static_cast<int64_t>(ids.size());
  if (T < 1 || T > f.fn.max_tokens)
    throw_internal("cuda: " + name + " takes 1 to " + std::to_string(f.fn.max_tokens) + " tokens, not " + std::to_string(T));
  if (pos < 0 || pos + T > options_.context)
    throw_bad_input("cuda: the context is full: positions " + std::to_string(pos) + ".." + std::to_string(pos + T - 1) +
                    " do not fit a context of " + std::to_string(options_.context));
  for (int64_t i = 0; i < T; ++i)
    if (ids[i] < 0 || ids[i] >= options_.vocab)
      throw_bad_input("cuda: token id " + std::to_string(ids[i]) + " is outside the vocabulary (" +
                      std::to_string(options_.vocab) + ")");
  device_->upload(ids_, ids.data(), static_cast<uint64_t>(T) * 4);
  for (size_t i = 0; i < f.steps.size(); ++i) {
    const Step& st = *f.steps[i].step;
    f.host_scalars[i * kScalarSlot] = st.scalars.empty() ? T : eval_checked(st.scalars[0], T, pos, f.steps[i].what);
    f.host_scalars[i * kScalarSlot + 1] = pos;
  }
  device_->upload(f.scalars, f.host_scalars.data(), f.host_scalars.size() * 8);
  return f;
}

void Engine::run(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logits_rows,
                 std::vector<float>* logits) {
  if (logits && logits_rows > 0) logits->resize(static_cast<size_t>(logits_rows * options_.vocab));
  run_into(name, ids, pos, logits_rows, logits ? logits->data() : nullptr);
}

void Engine::run_into(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logits_rows,
                      float* logits) {
  auto it = functions_.find(name);
  if (it != functions_.end() && (logits_rows < 0 || logits_rows > it->second->fn.max_tokens))
    throw_internal("cuda: bad logits row count");
  PreparedFunction& f = prepare_call(name, ids, pos);
  const int64_t T = static_cast<int64_t>(ids.size());

  execute(f, name, T, pos);
  if (logits && logits_rows > 0) {
    device_->download(logits, logits_, static_cast<uint64_t>(logits_rows * options_.vocab) * 4);
  } else {
    device_->synchronize(name);
  }
}

void Engine::execute(PreparedFunction& f, const std::string& name, int64_t T, int64_t pos) {
  if (use_graphs_ && f.graph_ok && T == 1) {
    if (!f.graph) {
      device_->begin_capture();
      try {
        launch_steps(f, T, pos);
      } catch (...) {
        device_->end_capture();
        throw;
      }
      f.graph = device_->end_capture();
    }
    device_->replay(f.graph, name + " (graph)");
  } else {
    launch_steps(f, T, pos);
  }
}

bool Engine::samples_greedy() {
  if (!greedy_looked_up_) {
    greedy_looked_up_ = true;
    try {
      greedy_kernel_ = device_->kernel(kGreedyKernel);
    } catch (const Error&) {
      greedy_kernel_ = nullptr;  // a module from before the sampler
    }
    if (greedy_kernel_) greedy_scalars_ = alloc(16, "greedy sampler scalars");
  }
  return greedy_kernel_ && options_.vocab < (int64_t(1) << 24);
}

bool Engine::decode_greedy(const std::string& name, int32_t first, int64_t pos, std::span<int32_t> out) {
  if (!samples_greedy()) return false;
  const int64_t n = static_cast<int64_t>(out.size());
  if (n == 0) return true;
  PreparedFunction& f = prepare_call(name, std::span<const int32_t>(&first, 1), pos);
  if (f.fn.max_tokens != 1) throw_internal("cuda: decode_greedy runs a function of one token a call, not " + name);
  if (pos + n > options_.context)
    throw_bad_input("cuda: the context is full: positions " + std::to_string(pos) + ".." + std::to_string(pos + n - 1) +
                    " do not fit a context of " + std::to_string(options_.context));
  if (n > greedy_capacity_) {  // the workspace, then the tokens: one download brings the NaN words and the tokens
    greedy_capacity_ = std::max<int64_t>(n, std::max<int64_t>(256, 2 * greedy_capacity_));
    greedy_ws_ = alloc(kGreedyWorkspaceBytes + static_cast<uint64_t>(greedy_capacity_) * 4, "greedy sampler workspace and tokens");
    greedy_out_ = greedy_ws_ + kGreedyWorkspaceBytes;
  }
  const int64_t scalars[2] = {options_.vocab, static_cast<int64_t>(f.steps.size())};
  device_->upload(greedy_scalars_, scalars, sizeof scalars);
  device_->zero(greedy_ws_, kGreedyWorkspaceBytes);  // no token picked yet
  LaunchShape shape;
  shape.grid[0] = kGreedyBlocks;
  shape.block[0] = kGreedyThreads;
  void* params[] = {&logits_, &ids_, &greedy_out_, &f.scalars, &greedy_scalars_, &greedy_ws_, nullptr};
  const std::string what = "greedy sampler after " + name;
  // The step's graph and the sampler launched after it, token by token (a graph of several tokens and
  // their samplers was slower on an H100: 380 tok/s at 4 tokens a graph, 355 at 16, against 385).
  for (int64_t i = 0; i < n; ++i) {
    execute(f, name, 1, pos + i);  // reads ids_ and the positions the sampler left
    device_->launch(greedy_kernel_, shape, params, what);
  }
  std::vector<int32_t> words(static_cast<size_t>(2 + n));  // aprc_greedy_ws's nan_blocks, first_nan, then the tokens
  static_assert(kGreedyWorkspaceBytes == kGreedyNanOffset + 8, "the tokens follow the NaN words");
  device_->download(words.data(), greedy_ws_ + kGreedyNanOffset, words.size() * 4);
  if (words[1] != 0)  // as the host sampler, which refuses NaN logits
    throw_internal("cuda: the logits of position " + std::to_string(pos + words[1] - 1) + " hold NaN (" + name +
                   "); the greedy token picked from them is not meaningful");
  std::copy(words.begin() + 2, words.end(), out.begin());
  return true;
}

std::vector<double> Engine::profile_steps(const std::string& name, std::span<const int32_t> ids, int64_t pos, int reps) {
  PreparedFunction& f = prepare_call(name, ids, pos);
  std::vector<double> seconds(f.steps.size(), 0.0);
  for (int r = 0; r < reps; ++r) launch_steps(f, static_cast<int64_t>(ids.size()), pos, &seconds);
  for (auto& s : seconds) s /= reps;
  return seconds;
}

double Engine::profile_step_repeated(const std::string& name, size_t index, std::span<const int32_t> ids, int64_t pos,
                                     int reps) {
  PreparedFunction& f = prepare_call(name, ids, pos);
  if (index >= f.steps.size()) throw_internal("cuda: profile_step_repeated: no step " + std::to_string(index));
  PreparedStep& ps = f.steps[index];
  const LaunchShape shape = bind_step(ps, static_cast<int64_t>(ids.size()), pos);
  device_->launch(ps.kernel, shape, ps.params.data(), ps.what);  // warm-up
  device_->timer_start();
  for (int r = 0; r < reps; ++r) device_->launch(ps.kernel, shape, ps.params.data(), ps.what);
  return device_->timer_stop_seconds() / reps;
}

void Engine::reset_graphs() {
  for (auto& [name, f] : functions_) {
    device_->destroy_graph(f->graph);
    f->graph = nullptr;
  }
}

const std::vector<Step>& Engine::steps(const std::string& name) const {
  auto it = functions_.find(name);
  if (it == functions_.end()) throw_internal("cuda: the plan has no function '" + name + "'");
  return it->second->fn.steps;
}

void Engine::run_observed(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logits_rows,
                          float* logits, const StepCallback& after_step, bool timing) {
  PreparedFunction& f = prepare_call(name, ids, pos);
  const int64_t T = static_cast<int64_t>(ids.size());
  for (size_t i = 0; i < f.steps.size(); ++i) {
    PreparedStep& ps = f.steps[i];
    const Step& st = *ps.step;
    const LaunchShape shape = bind_step(ps, T, pos);
    double seconds = 0;
    if (shape.grid[0] && shape.grid[1] && shape.grid[2]) {
      if (timing) device_->timer_start();
      device_->launch(ps.kernel, shape, ps.params.data(), ps.what);
      if (timing) seconds = device_->timer_stop_seconds();
      else device_->synchronize(ps.what);
    }
    const ArgReader read = [&](size_t arg, int64_t offset, size_t bytes, void* dst) {
      if (arg >= st.args.size()) throw_internal("cuda: step observer: step " + std::to_string(i) + " has no argument " + std::to_string(arg));
      device_->download(dst, ps.arg_values[arg] + static_cast<uint64_t>(offset), bytes);
    };
    after_step(i, seconds, read);
  }
  if (logits && logits_rows > 0) device_->download(logits, logits_, static_cast<uint64_t>(logits_rows * options_.vocab) * 4);
  else device_->synchronize(name);
}

bool Engine::uses_graph(const std::string& name) const {
  auto it = functions_.find(name);
  return it != functions_.end() && it->second->graph != nullptr;
}

void Engine::read_arena(int64_t offset, void* dst, uint64_t bytes) { device_->download(dst, arena_ + offset, bytes); }
void Engine::write_arena(int64_t offset, const void* src, uint64_t bytes) { device_->upload(arena_ + offset, src, bytes); }

void Engine::read_cache(int64_t layer, bool v, int64_t row_begin, int64_t rows, void* dst) {
  const uint64_t row_bytes = static_cast<uint64_t>(kv_.kv_heads * kv_.head_dim) * format_info(kv_.dtype).block_bytes;
  device_->download(dst, (v ? cache_v_ : cache_k_).at(layer) + row_begin * row_bytes, rows * row_bytes);
}

}  // namespace aprc::cuda
