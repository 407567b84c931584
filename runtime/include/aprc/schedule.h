// The schedule of a compiled function: the kernel calls, in order, with their argument bindings.
// The compiler builds it (codegen/), the plan stores it in its manifest, and each runtime executor
// replays it. Nothing here knows LLVM, MLIR or CUDA.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "aprc/kernel_spec.h"

namespace aprc {

// An integer that may depend on the call: coef_T * T + coef_pos * pos + constant, where T is the
// number of tokens of the call and pos the position of its first token.
struct Expr {
  int64_t coef_T = 0;
  int64_t coef_pos = 0;
  int64_t constant = 0;
  static Expr lit(int64_t c) { return {0, 0, c}; }
  static Expr tokens(int64_t per_token = 1) { return {per_token, 0, 0}; }
  int64_t eval(int64_t T, int64_t pos) const { return coef_T * T + coef_pos * pos + constant; }
  bool operator==(const Expr&) const = default;
};

enum class ArgKind {
  Arena,      // activations: byte `offset` into the function's arena
  Weight,     // weights[index] (+ byte offset)
  CacheK,     // the key cache of layer `index`
  CacheV,     // the value cache of layer `index`
  InputIds,   // the call's token ids (i32[T]) (+ byte offset)
  Logits,     // the call's output logits (+ byte offset)
};

struct Arg {
  ArgKind kind = ArgKind::Arena;
  int64_t index = 0;
  Expr offset;  // bytes
  bool operator==(const Arg&) const = default;
};

// Which original op's value a kernel output holds, for `aprc verify`: rows of `cols` floats starting
// at column `col_offset` of a buffer whose rows are `row_stride` floats apart.
struct OutputName {
  std::string op;    // e.g. "layers.2.mlp.down_proj"
  int arg = 0;       // index into Step::args
  int64_t col_offset = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;
  Expr rows;         // usually T (1 for last-position logits)
};

struct Step {
  std::string kernel;  // name of the kernel in the target's kernel table (KernelSpec::name())
  KernelSpec spec;
  std::vector<Arg> args;
  std::vector<Expr> scalars;  // passed to the kernel after the arguments; T is always first
  Expr extent;                // CPU: the parallel range [0, extent) split across threads
  int64_t grain = 1;          // CPU: chunks are multiples of this (except the last)
  std::array<Expr, 3> grid{Expr::lit(1), Expr::lit(1), Expr::lit(1)};  // CUDA: blocks = ceil(grid / block_tile)
  std::array<int64_t, 3> grid_divisor{1, 1, 1};
  std::array<int, 3> block{1, 1, 1};  // CUDA threads per block
  int shared_bytes = 0;               // CUDA dynamic shared memory
  std::vector<OutputName> outputs;
  // The original ops this step computes, in program order: a fused op's location names (e.g.
  // "layers.2.mlp.down_proj", "layers.2.mlp_residual"), one name for an unfused op. Those whose
  // values the step writes are in `outputs` too; the others (a norm folded into a linear, a
  // projection whose result only feeds its fused epilogue) are computed but never stored.
  // `aprc verify` names them when an output goes wrong, `aprc kernels` lists them.
  std::vector<std::string> ops;
};

struct Function {
  std::string name;        // "prefill", "prefill_last", "decode"
  int64_t max_tokens = 1;  // T of one call never exceeds this; longer prompts run in chunks
  int64_t arena_bytes = 0;
  std::vector<Step> steps;
};

}  // namespace aprc
