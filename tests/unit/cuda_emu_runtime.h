// The warp-level emulator that runs generated CUDA kernels on the host, for tests on machines without a
// GPU. A generated source compiled as host C++ with -DAPRC_EMU and this header force-included becomes
// a shared object exporting aprc_emu_launch(). Each CUDA thread is a fiber (ucontext); blocks run one
// after another; __syncthreads waits for every live thread of the block, and warp collectives (shuffles,
// mma.sync) wait for all 32 lanes of the warp, so barrier and lane-exchange logic executes as written.
// Divergent barriers, collectives with exited lanes and deadlocks are reported as errors.
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <string>
#include <vector>

struct uint2 {
  unsigned x, y;
};
struct uint4 {
  unsigned x, y, z, w;
};
struct int4 {
  int x, y, z, w;
};
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
struct int2 {
  int x, y;
};
static inline int2 make_int2(int x, int y) { return int2{x, y}; }
struct float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

struct aprc_emu_dim3 {
  unsigned x, y, z;
};

typedef void (*aprc_emu_fn)(void**);
struct aprc_emu_kernel {
  const char* name;
  aprc_emu_fn fn;
};

namespace aprc_emu {

enum State { Ready, AtBlock, AtWarp, Done };

struct Fiber {
  ucontext_t ctx;
  aprc_emu_dim3 tid;
  int lane, warp;
  State state;
};

struct Machine {
  std::vector<Fiber> fibers;
  std::vector<std::vector<char>> stacks;
  ucontext_t sched;
  Fiber* cur = nullptr;
  aprc_emu_dim3 block_idx{}, block_dim{}, grid_dim{};
  std::vector<char> dyn_shared;
  std::vector<uint32_t> xchg;  // per thread 16 words of lane exchange
  aprc_emu_fn fn = nullptr;
  void** params = nullptr;
  std::string error;
};

inline Machine& m() {
  static Machine machine;
  return machine;
}

inline void yield(State s) {
  Machine& mc = m();
  Fiber* f = mc.cur;
  f->state = s;
  swapcontext(&f->ctx, &mc.sched);
}

inline void entry() {
  Machine& mc = m();
  mc.fn(mc.params);
  mc.cur->state = Done;  // uc_link returns to the scheduler
}

inline uint32_t* slots(int thread) { return &m().xchg[static_cast<size_t>(thread) * 16]; }
inline int self() { return static_cast<int>(m().cur - m().fibers.data()); }

// Runs one block; returns false with m().error set on deadlock or divergence.
inline bool run_block(unsigned threads) {
  Machine& mc = m();
  const size_t stack_bytes = 256 * 1024;
  if (mc.stacks.size() < threads) mc.stacks.resize(threads);
  mc.fibers.assign(threads, Fiber{});
  mc.xchg.assign(static_cast<size_t>(threads) * 16, 0);
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = mc.fibers[t];
    f.tid = {t % mc.block_dim.x, (t / mc.block_dim.x) % mc.block_dim.y, t / (mc.block_dim.x * mc.block_dim.y)};
    f.lane = static_cast<int>(t % 32);
    f.warp = static_cast<int>(t / 32);
    f.state = Ready;
    if (mc.stacks[t].size() < stack_bytes) mc.stacks[t].resize(stack_bytes);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = mc.stacks[t].data();
    f.ctx.uc_stack.ss_size = stack_bytes;
    f.ctx.uc_link = &mc.sched;
    makecontext(&f.ctx, entry, 0);
  }
  const int warps = static_cast<int>((threads + 31) / 32);
  mc.error.clear();
  for (;;) {
    if (!mc.error.empty()) return false;
    bool ran = false;
    for (auto& f : mc.fibers)
      if (f.state == Ready) {
        mc.cur = &f;
        swapcontext(&mc.sched, &f.ctx);
        ran = true;
      }
    bool released = false;
    for (int w = 0; w < warps; ++w) {
      int waiting = 0, done = 0, other = 0, n = 0;
      for (unsigned t = 32 * w; t < threads && t < 32u * w + 32; ++t, ++n) {
        const State s = mc.fibers[t].state;
        waiting += s == AtWarp, done += s == Done, other += s == AtBlock || s == Ready;
      }
      if (waiting == 0) continue;
      if (done > 0 && other == 0) {
        mc.error = "warp " + std::to_string(w) + ": a warp collective (shuffle / mma) with exited lanes";
        return false;
      }
      if (waiting == n) {
        for (unsigned t = 32 * w; t < threads && t < 32u * w + 32; ++t) mc.fibers[t].state = Ready;
        released = true;
      }
    }
    if (released) continue;
    int at_block = 0, done = 0, at_warp = 0;
    for (auto& f : mc.fibers) at_block += f.state == AtBlock, done += f.state == Done, at_warp += f.state == AtWarp;
    if (done == static_cast<int>(threads)) return mc.error.empty();
    if (at_block + done == static_cast<int>(threads)) {
      for (auto& f : mc.fibers)
        if (f.state == AtBlock) f.state = Ready;
      continue;
    }
    if (!ran) {
      mc.error = "deadlock: " + std::to_string(at_block) + " threads at __syncthreads, " + std::to_string(at_warp) +
                 " at a warp collective, " + std::to_string(done) + " exited (divergent barrier?)";
      return false;
    }
  }
}

template <class T>
inline T exchange(T v, int src_lane) {
  static_assert(sizeof(T) <= 8, "exchange of small values");
  const int me = self();
  memcpy(slots(me), &v, sizeof(T));
  yield(AtWarp);
  T r;
  memcpy(&r, slots((me & ~31) + src_lane), sizeof(T));
  yield(AtWarp);
  return r;
}

}  // namespace aprc_emu

#define threadIdx (aprc_emu::m().cur->tid)
#define blockIdx (aprc_emu::m().block_idx)
#define blockDim (aprc_emu::m().block_dim)
#define gridDim (aprc_emu::m().grid_dim)

// A fault inside a kernel (misaligned access): remembered, reported when the block ends.
static inline void aprc_emu_check_align(const void* p, int bytes) {
  if (reinterpret_cast<uintptr_t>(p) % bytes != 0 && aprc_emu::m().error.empty())
    aprc_emu::m().error = "misaligned " + std::to_string(bytes) + "-byte load at " + std::to_string(reinterpret_cast<uintptr_t>(p));
}

static inline void aprc_emu_syncthreads() { aprc_emu::yield(aprc_emu::AtBlock); }
static inline float aprc_emu_shfl_xor(float v, int mask) {
  return aprc_emu::exchange(v, (aprc_emu::m().cur->lane ^ mask) & 31);
}
static inline float aprc_emu_shfl(float v, int src) { return aprc_emu::exchange(v, src & 31); }
static inline void* aprc_emu_dyn_shared() { return aprc_emu::m().dyn_shared.data(); }

static inline float aprc_emu_bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static inline unsigned aprc_emu_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
  u += 0x7fffu + ((u >> 16) & 1u);
  return u >> 16;
}

static inline unsigned short aprc_emu_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<unsigned short>(sign | 0x7e00u);
  if (a >= 0x477ff000u) return static_cast<unsigned short>(sign | 0x7c00u);  // rounds to >= 65536: inf
  if (a < 0x38800000u) {  // subnormal or zero in f16: round a * 2^24 to an integer, ties to even
    const float x = aprc_emu_bits_float(a) * 16777216.0f;
    return static_cast<unsigned short>(sign | static_cast<uint32_t>(nearbyintf(x)));
  }
  uint32_t h = ((a >> 13) - (112u << 10));
  const uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<unsigned short>(sign | h);
}

// d += A * B for one m16n8k16 tile; lanes hold fragments as mma.sync does (see prelude.cuh).
static inline void aprc_emu_mma_bf16_16816(float* d, const unsigned* a, const unsigned* b) {
  using namespace aprc_emu;
  const int me = self(), base = me & ~31, lane = me & 31;
  uint32_t* mine = slots(me);
  for (int i = 0; i < 4; ++i) mine[i] = a[i];
  mine[4] = b[0];
  mine[5] = b[1];
  yield(AtWarp);
  auto bf = [](uint32_t word, int half) { return aprc_emu_bits_float(half ? (word & 0xffff0000u) : (word << 16)); };
  const int g = lane >> 2, t = lane & 3;
  for (int e = 0; e < 4; ++e) {
    const int r = g + (e >= 2 ? 8 : 0), c = 2 * t + (e & 1);
    float acc = d[e];
    for (int k = 0; k < 16; ++k) {
      const int alane = (r & 7) * 4 + (k & 7) / 2, areg = (r >= 8) + 2 * (k >= 8);
      const int blane = c * 4 + (k & 7) / 2, breg = 4 + (k >= 8);
      acc += bf(slots(base + alane)[areg], k & 1) * bf(slots(base + blane)[breg], k & 1);
    }
    d[e] = acc;
  }
  yield(AtWarp);
}

#define APRC_EMU_EXPORT_TABLE(table)                                                                       \
  extern "C" __attribute__((visibility("default"))) int aprc_emu_launch(                                    \
      const char* name, const unsigned* grid, const unsigned* block, unsigned shared, void** params,         \
      char* error, int error_len) {                                                                         \
    aprc_emu::Machine& mc = aprc_emu::m();                                                                  \
    aprc_emu_fn fn = nullptr;                                                                               \
    for (const aprc_emu_kernel* k = table; k->name; ++k)                                                    \
      if (strcmp(k->name, name) == 0) fn = k->fn;                                                           \
    if (!fn) {                                                                                              \
      snprintf(error, error_len, "no kernel %s in the module", name);                                      \
      return 1;                                                                                             \
    }                                                                                                       \
    mc.fn = fn;                                                                                             \
    mc.params = params;                                                                                     \
    mc.grid_dim = {grid[0], grid[1], grid[2]};                                                              \
    mc.block_dim = {block[0], block[1], block[2]};                                                          \
    mc.dyn_shared.assign(shared + 16, 0);                                                                   \
    const unsigned threads = block[0] * block[1] * block[2];                                                \
    for (unsigned z = 0; z < grid[2]; ++z)                                                                  \
      for (unsigned y = 0; y < grid[1]; ++y)                                                                \
        for (unsigned x = 0; x < grid[0]; ++x) {                                                            \
          mc.block_idx = {x, y, z};                                                                         \
          if (!aprc_emu::run_block(threads)) {                                                              \
            snprintf(error, error_len, "%s, block (%u,%u,%u): %s", name, x, y, z, mc.error.c_str());        \
            return 1;                                                                                       \
          }                                                                                                 \
        }                                                                                                   \
    return 0;                                                                                               \
  }
