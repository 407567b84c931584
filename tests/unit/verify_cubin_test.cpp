// Kernel resources read from a cubin's ELF (registers, static shared memory, stack frame) against
// what ptxas itself reports with -v for the same compilation (NVRTC, no GPU needed), on kernels
// made to use shared memory and local memory; and damaged cubins refused with a clear error.
#include <gtest/gtest.h>
#include <nvrtc.h>

#include <string>
#include <vector>

#include "aprc/error.h"
#include "aprc/verify/cubin_info.h"

namespace aprc::verify {
namespace {

const char* kSource = R"(
extern "C" __global__ void plain_add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}
extern "C" __global__ void tile_sum(const float* a, float* out) {
  __shared__ float tile[1000];
  __shared__ double extra[3];
  tile[threadIdx.x] = a[threadIdx.x];
  if (threadIdx.x < 3) extra[threadIdx.x] = a[threadIdx.x];
  __syncthreads();
  float s = 0;
  for (int i = 0; i < 1000; i += 7) s += tile[(threadIdx.x + i) % 1000];
  out[threadIdx.x] = s + static_cast<float>(extra[threadIdx.x % 3]);
}
extern "C" __global__ void local_array(const int* idx, float* out) {
  float scratch[97];
  for (int i = 0; i < 97; ++i) scratch[i] = i * out[i];
  out[threadIdx.x] = scratch[idx[threadIdx.x] % 97];
}
)";

struct Compiled {
  std::vector<uint8_t> cubin;
  std::string log;
};

Compiled compile(const char* arch) {
  nvrtcProgram prog;
  EXPECT_EQ(nvrtcCreateProgram(&prog, kSource, "k.cu", 0, nullptr, nullptr), NVRTC_SUCCESS);
  const std::string arch_opt = std::string("-arch=") + arch;
  const char* opts[] = {arch_opt.c_str(), "-Xptxas=-v"};
  const nvrtcResult r = nvrtcCompileProgram(prog, 2, opts);
  Compiled c;
  size_t n = 0;
  nvrtcGetProgramLogSize(prog, &n);
  c.log.resize(n);
  nvrtcGetProgramLog(prog, c.log.data());
  EXPECT_EQ(r, NVRTC_SUCCESS) << c.log;
  nvrtcGetCUBINSize(prog, &n);
  c.cubin.resize(n);
  nvrtcGetCUBIN(prog, reinterpret_cast<char*>(c.cubin.data()));
  nvrtcDestroyProgram(&prog);
  return c;
}

TEST(VerifyCubin, ResourcesFromTheElfAgreeWithPtxas) {
  for (const char* arch : {"sm_90", "sm_80"}) {
    SCOPED_TRACE(arch);
    const Compiled c = compile(arch);
    const auto elf = cubin_resources(c.cubin, "k.cubin");
    const auto ptxas = ptxas_resources(c.log, arch);
    ASSERT_EQ(elf.size(), 3u);
    ASSERT_EQ(ptxas.size(), 3u) << c.log;
    for (const auto& [name, want] : ptxas) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(elf.count(name));
      const KernelResources& got = elf.at(name);
      EXPECT_GT(want.registers, 0);
      EXPECT_EQ(got.registers, want.registers);
      EXPECT_EQ(got.frame_bytes, want.frame_bytes);
      EXPECT_GE(want.spill_store_bytes, 0);
      EXPECT_GE(want.spill_load_bytes, 0);
      // ptxas prints smem only where there is some.
      EXPECT_EQ(got.shared_bytes, want.shared_bytes < 0 ? 0 : want.shared_bytes);
    }
    EXPECT_EQ(elf.at("tile_sum").shared_bytes, 1000 * 4 + 3 * 8);
    EXPECT_EQ(elf.at("plain_add").shared_bytes, 0);
    EXPECT_GE(elf.at("local_array").frame_bytes, 97 * 4);
    EXPECT_EQ(elf.at("plain_add").frame_bytes, 0);
  }
}

TEST(VerifyCubin, DamagedCubinsAreRefused) {
  const Compiled c = compile("sm_90");
  auto message = [](std::vector<uint8_t> bytes) -> std::string {
    try {
      cubin_resources(bytes, "k.cubin");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(message({1, 2, 3}), "k.cubin: not an ELF file");
  std::vector<uint8_t> cut(c.cubin.begin(), c.cubin.begin() + static_cast<long>(c.cubin.size() / 2));
  EXPECT_NE(message(cut).find("runs past the end"), std::string::npos) << message(cut);
  std::vector<uint8_t> other = c.cubin;
  other[18] = 62;  // x86-64
  EXPECT_EQ(message(other), "k.cubin: not NVIDIA machine code (ELF machine 62, expected 190)");
}

TEST(VerifyCubin, PtxasLogOfSeveralArchitectures) {
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'k1' for 'sm_90'\n"
      "ptxas info    : Function properties for k1\n"
      "    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
      "ptxas info    : Used 40 registers, used 0 barriers, 16 bytes cumulative stack size, 512 bytes smem\n"
      "ptxas info    : Compiling entry function 'k1' for 'sm_80'\n"
      "ptxas info    : Function properties for k1\n"
      "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 38 registers, 380 bytes cmem[0]\n";
  const auto sm90 = ptxas_resources(log, "sm_90");
  ASSERT_EQ(sm90.size(), 1u);
  EXPECT_EQ(sm90.at("k1"), (KernelResources{40, 512, 16, -1, 8, 4}));
  EXPECT_EQ(ptxas_resources(log, "sm_80").at("k1"), (KernelResources{38, -1, 0, -1, 0, 0}));
}

}  // namespace
}  // namespace aprc::verify
