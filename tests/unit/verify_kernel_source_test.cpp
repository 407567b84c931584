// kernel_definition: a kernel's text in the CPU MLIR and in the CUDA C++ of a plan, as the code
// generators write them (aprc kernels prints it; hand-written kernels replace it).
#include <gtest/gtest.h>

#include "aprc/verify/kernel_source.h"

namespace aprc::verify {
namespace {

std::string text_of(const std::string& source, const std::string& name, KernelLanguage language) {
  const SourceSpan span = kernel_definition(source, name, language);
  return span.found() ? source.substr(span.begin, span.end - span.begin) : "";
}

TEST(KernelSource, MlirFunctionsWithAttributesAndNestedRegions) {
  const std::string add = "  func.func @add_256(%arg0: !llvm.ptr, %arg1: i64) attributes {llvm.emit_c_interface} {\n"
                          "    scf.for %i = %c0 to %c1 step %c1 {\n      %x = arith.addf %a, %b : f32\n    }\n"
                          "    return\n  }\n";
  const std::string add2 = "  func.func @add_2560(%arg0: !llvm.ptr) {\n    return\n  }\n";
  const std::string source = "module {\n" + add2 + add + "}\n";
  EXPECT_EQ(text_of(source, "add_256", KernelLanguage::Mlir), add);
  EXPECT_EQ(text_of(source, "add_2560", KernelLanguage::Mlir), add2);
  EXPECT_EQ(text_of(source, "add_25", KernelLanguage::Mlir), "");
  EXPECT_FALSE(kernel_definition(source, "mul_256", KernelLanguage::Mlir).found());
}

TEST(KernelSource, CudaKernelsWithTheirCommentsNotTheirCallers) {
  const std::string rope = "// rope: 4 heads, head_dim 64\n// (one thread a pair)\n"
                           "APRC_KERNEL void APRC_BOUNDS(256) rope_h4(const float* __restrict__ a, float* out,\n"
                           "    const aprc_i64* __restrict__ s, unsigned char* __restrict__ ws) {\n"
                           "  if (s[0] > 0) { out[0] = a[0]; }\n}\n";
  const std::string plain = "extern \"C\" __global__ void add_8(const float* a, float* out) {\n  out[0] = a[0];\n}\n";
  const std::string source = "#include <x>\n__device__ float rope_h4_helper(float x) { return x; }\n\n" + rope + "\n" +
                             plain + "static void rope_h4__emu(void** p) {\n  rope_h4((const float*)*(void**)p[0]);\n}\n";
  EXPECT_EQ(text_of(source, "rope_h4", KernelLanguage::Cuda), rope);
  EXPECT_EQ(text_of(source, "add_8", KernelLanguage::Cuda), plain);
  EXPECT_EQ(text_of(source, "rope_h4_helper", KernelLanguage::Cuda), "");  // a __device__ function is no kernel
}

// A hand-written kernel (--override-kernel NAME=FILE.cu) is its file's whole text, helpers included,
// not the generated kernel's declaration before it.
TEST(KernelSource, HandWrittenCudaKernelsAreTheirFilesText) {
  const std::string file = "APRC_DEV float twice(float x) { return 2 * x; }\n"
                           "APRC_KERNEL void norm_8(const float* x, float* out, const aprc_i64* s, unsigned char* ws) {\n"
                           "  out[0] = twice(x[0]);\n}\n";
  const std::string source = "APRC_TABLE float t[1] = {0};\n// norm_4\nAPRC_KERNEL void norm_4(const float* x) {\n}\n"
                             "// ---- hand-written kernel norm_8 (my dir/norm.cu) ----\nAPRC_TABLE float u[1] = {0};\n"
                             "// norm_8 takes the generated kernel's parameters:\n"
                             "APRC_KERNEL void norm_8(const float* x, float* out, const aprc_i64* s, unsigned char* ws);\n"
                             "#line 1 \"my dir/norm.cu\"\n" + file + "#line 11 \"aprc_kernels.cu\"\n"
                             "// ---- end of hand-written kernel norm_8 ----\n";
  EXPECT_EQ(text_of(source, "norm_8", KernelLanguage::Cuda), file);
  EXPECT_EQ(text_of(source, "norm_4", KernelLanguage::Cuda), "// norm_4\nAPRC_KERNEL void norm_4(const float* x) {\n}\n");
}

}  // namespace
}  // namespace aprc::verify
