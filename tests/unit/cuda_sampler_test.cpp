// The greedy sampler every module has (codegen/cuda/device/sampling.cuh, run by Engine::decode_greedy):
// the token it picks (the first of equal maxima; NaN never) on rows with ties, -inf, NaN and sizes
// around the block's, and the positions it moves on, on the emulator and, where there is one, on the
// GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "aprc/codegen/cuda.h"
#include "aprc/cuda/abi.h"
#include "cuda_builtin_module.h"
#include "cuda_emu_device.h"

namespace aprc::cuda {
namespace {

struct Row {
  std::string what;
  std::vector<float> logits;
  int32_t want;
  bool nan = false;  // the sampler must record that the row held a NaN
};

std::vector<Row> rows() {
  std::vector<Row> out;
  uint64_t s = 12345;
  auto rnd = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((s >> 40) & 0xffffff) / 16777216.0f * 20.0f - 10.0f;
  };
  std::vector<float> big(151936);
  for (float& v : big) v = rnd();
  big[98765] = 11.0f;
  out.push_back({"vocab 151936, one maximum", big, 98765});
  std::vector<float> ties = big;
  ties[70000] = ties[100] = ties[151935] = 12.5f;
  out.push_back({"ties: the first", ties, 100});
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  out.push_back({"all -inf: 0", std::vector<float>(3000, -inf), 0});
  std::vector<float> nans(77, -1.0f);
  nans[0] = nans[3] = nans[76] = nan;
  nans[40] = -0.5f;
  out.push_back({"NaN never wins (77 values)", nans, 40, true});
  std::vector<float> one_nan = big;
  one_nan[151900] = nan;  // in the last block's slice only
  out.push_back({"one NaN among 151936", one_nan, 98765, true});
  out.push_back({"one value", {-3.0f}, 0});
  std::vector<float> odd(1025, 0.0f);
  odd[1024] = 1.0f;
  out.push_back({"1025 values, the maximum in the last slice", odd, 1024});
  std::vector<float> edges(151936, 0.5f);  // equal everywhere but the first of each slice's ties
  out.push_back({"151936 equal values: the first", edges, 0});
  std::vector<float> late(151936, -2.0f);
  late[151935] = -1.0f;
  out.push_back({"the maximum last", late, 151935});
  return out;
}

void check_sampler(Device& device) {
  const int steps = 3;
  for (const Row& r : rows()) {
    SCOPED_TRACE(r.what);
    const int64_t vocab = static_cast<int64_t>(r.logits.size());
    const DevPtr logits = device.alloc(vocab * 4, "logits"), ids = device.alloc(4, "ids"), out = device.alloc(12, "out"),
                 table = device.alloc(steps * kScalarSlot * 8, "table"), scalars = device.alloc(16, "scalars"),
                 ws = device.alloc(kGreedyWorkspaceBytes, "workspace");
    device.upload(logits, r.logits.data(), vocab * 4);
    const int64_t slots[steps * kScalarSlot] = {1, 40, 1, 40, 1, 40};
    device.upload(table, slots, sizeof slots);
    const int64_t s[2] = {vocab, steps};
    device.upload(scalars, s, sizeof s);
    const int32_t minus[3] = {-1, -1, -1};
    device.upload(ids, minus, 4);
    device.upload(out, minus, 12);
    device.zero(ws, kGreedyWorkspaceBytes);
    const int32_t one = 1;  // one token picked before: the next go to out[1], out[2]
    device.upload(ws, &one, 4);
    void* params[] = {const_cast<DevPtr*>(&logits), const_cast<DevPtr*>(&ids), const_cast<DevPtr*>(&out),
                      const_cast<DevPtr*>(&table), const_cast<DevPtr*>(&scalars), const_cast<DevPtr*>(&ws), nullptr};
    LaunchShape shape;
    shape.grid[0] = kGreedyBlocks;
    shape.block[0] = kGreedyThreads;
    for (int call = 0; call < 2; ++call) device.launch(device.kernel(kGreedyKernel), shape, params, "greedy sampler");
    int32_t got_id = -2, got_out[3] = {-2, -2, -2}, got_count = -2;
    int64_t after[steps * kScalarSlot];
    device.download(&got_id, ids, 4);
    device.download(got_out, out, 12);
    device.download(&got_count, ws, 4);
    int32_t arrived = -2, nan[2] = {-2, -2};  // nan_blocks, first_nan
    device.download(&arrived, ws + 4, 4);
    device.download(nan, ws + kGreedyNanOffset, sizeof nan);
    EXPECT_EQ(arrived, 0) << "blocks done not reset";
    EXPECT_EQ(nan[0], 0) << "NaN blocks not reset";
    EXPECT_EQ(nan[1], r.nan ? 2 : 0) << "the first token picked from a NaN row (out[1]) not recorded";
    device.download(after, table, sizeof after);
    EXPECT_EQ(got_count, 3);
    EXPECT_EQ(got_id, r.want);
    EXPECT_EQ(got_out[1], r.want);
    EXPECT_EQ(got_out[2], r.want) << "the second call (the blocks' count of the first reset)";
    EXPECT_EQ(got_out[0], -1) << "wrote outside its slot";
    for (int i = 0; i < steps; ++i) {
      EXPECT_EQ(after[i * kScalarSlot], 1) << "step " << i << "'s T changed";
      EXPECT_EQ(after[i * kScalarSlot + 1], 42) << "step " << i << "'s position did not move on once a call";
    }
    for (DevPtr p : {logits, ids, out, table, scalars, ws}) device.free(p);
  }
}

TEST(CudaSampler, PicksTheFirstMaximumOnTheEmulator) {
  if (const char* s = std::getenv("APRC_SKIP_EMU"); s && *s == '1') GTEST_SKIP() << "APRC_SKIP_EMU=1";
  test::EmuDevice device;
  ModuleImage image;
  image.source = emit_module({});  // a module of no plan kernels still has the sampler
  device.load_module(image);
  check_sampler(device);
}

TEST(CudaSampler, PicksTheFirstMaximumOnTheGpu) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "no GPU here: " << why;
  auto device = open_cuda_device();
  test::load_builtin_module(*device);
  check_sampler(*device);
}

}  // namespace
}  // namespace aprc::cuda
