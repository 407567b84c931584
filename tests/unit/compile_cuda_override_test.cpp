// aprc compile --target cuda: what the plan's kernel table records (ptxas's spill bytes per cubin,
// next to the registers and shared memory the cubin holds), and --override-kernel NAME=FILE.cu: a
// hand-written kernel in place of a generated one, run on the emulator and checked by aprc verify
// like any other (a correct rewrite passes, a wrong one is named), and refused with a message
// naming the file when it cannot stand in for the kernel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "aprc/codegen/compile.h"
#include "aprc/cuda/abi.h"
#include "aprc/cuda/plan_engine.h"
#include "aprc/error.h"
#include "aprc/gguf_writer.h"
#include "aprc/model.h"
#include "aprc/plan_format.h"
#include "aprc/verify/cubin_info.h"
#include "aprc/verify/kernel_source.h"
#include "aprc/verify/plan_verify.h"
#include "aprc/verify/report.h"
#include "compile_test_util.h"
#include "cuda_emu_device.h"
#include "ir_test_model.h"
#include "passes_test_util.h"

namespace aprc {
namespace {

namespace fs = std::filesystem;
using testing::TempPlan;

// A cuda plan of the test model (max 5 tokens a prefill call), with `overrides` (NAME=FILE) and
// `inject_fault` (aprc compile --inject-fault).
void compile_cuda(const Model& model, const fs::path& path, const std::map<std::string, std::string>& overrides = {},
                  const std::string& inject_fault = "") {
  codegen::CompileOptions options;
  options.targets = codegen::parse_targets("cuda");
  options.max_tokens = 5;
  options.kernel_overrides = overrides;
  options.inject_fault = inject_fault;
  codegen::compile_plan(model, path.string(), options);
}

// The BadInput message of compiling with `overrides`, or "(no error)".
std::string refusal(const Model& model, const std::map<std::string, std::string>& overrides) {
  TempPlan plan("cuda-override-refused");
  try {
    compile_cuda(model, plan.path, overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "(no error)";
}

std::string section_text(const Plan& plan, std::string_view name) {
  const auto s = plan.section(name);
  return s ? std::string(s->begin(), s->end()) : std::string();
}

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path path = fs::path(::testing::TempDir()) / (std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

// Replaces the one occurrence of `from` in `text`.
std::string rewrite(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' is not in:\n" << text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' is there twice";
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

// verify_plan on the cuda target through the emulator: prompt of 7 tokens (prefill calls of 5 and 2),
// then 2 decode steps.
verify::Verification verify_on_emulator(const fs::path& path, const fs::path& gguf, int64_t vocab) {
  verify::PlanVerifyOptions o;
  o.model_path = gguf.string();
  o.verify.decode_steps = 2;
  o.engines = {"cuda"};
  o.engine.context = 16;
  o.open = [](std::shared_ptr<const Plan> plan, std::string_view, const EngineOptions& eo) {
    return cuda::open_cuda_engine(std::move(plan), eo, std::make_unique<cuda::test::EmuDevice>());
  };
  return verify::verify_plan(path.string(), testing::random_token_ids(7, vocab, 11), o);
}

// The test model as a GGUF file (verify's reference reads the weights from it: the cuda layouts are
// not rearranged back from a plan) and its cuda plan.
struct CudaPlanFixture : ::testing::Test {
  static void SetUpTestSuite() {
    testing::TestModelSpec spec;
    spec.vocab = 151;
    gguf = new fs::path(fs::path(::testing::TempDir()) / ("cuda-override-" + std::to_string(::getpid()) + ".gguf"));
    write_gguf(testing::make_test_model(spec)->model, gguf->string());
    model = new Model(load_model(gguf->string()));
    plan = new TempPlan("cuda-kernel-table");
    compile_cuda(*model, plan->path);
  }
  static void TearDownTestSuite() {
    delete plan;
    delete model;
    fs::remove(*gguf);
    delete gguf;
  }
  static fs::path* gguf;
  static Model* model;
  static TempPlan* plan;
};
fs::path* CudaPlanFixture::gguf = nullptr;
Model* CudaPlanFixture::model = nullptr;
TempPlan* CudaPlanFixture::plan = nullptr;

// Every kernel of the table has ptxas's spill bytes for the cubin; spilled registers live in the
// stack frame the cubin declares, so a kernel without one spills nothing (most of them), and one
// that spills has a frame at least that large. The registers and shared memory come from the cubin:
// rms_norm reduces through `__shared__ float scratch[32]`, the tensor-core tiles stage in shared memory.
TEST_F(CudaPlanFixture, KernelTableHasSpillsOfEveryCubinKernel) {
  const auto p = Plan::open(plan->path.string());
  const PlanTarget* t = p->target("cuda");
  ASSERT_NE(t, nullptr);
  const auto cubin = p->section(std::string(plan_section::kCudaCubinPrefix) + "sm_90");
  ASSERT_TRUE(cubin.has_value());
  const auto elf = verify::cubin_resources(*cubin, "sm_90 cubin");
  ASSERT_FALSE(t->kernels.empty());
  size_t without_frame = 0, norms = 0, tiles = 0;
  for (const PlanKernel& k : t->kernels) {
    SCOPED_TRACE(k.name);
    ASSERT_TRUE(k.info.contains("sm_90")) << k.info.dump();
    const int64_t stores = k.info["sm_90"].value("spill_store_bytes", int64_t{-1});
    const int64_t loads = k.info["sm_90"].value("spill_load_bytes", int64_t{-1});
    EXPECT_FALSE(k.info.contains("override"));
    ASSERT_TRUE(elf.count(k.name));
    const verify::KernelResources& r = elf.at(k.name);
    EXPECT_GT(r.registers, 0);
    EXPECT_GE(stores, 0);
    EXPECT_GE(loads, 0);
    if (r.frame_bytes == 0) {
      ++without_frame;
      EXPECT_EQ(stores, 0);
      EXPECT_EQ(loads, 0);
    }
    EXPECT_GE(r.frame_bytes, stores);
    if (k.spec.kind == KernelKind::RmsNorm) {
      ++norms;
      EXPECT_EQ(r.shared_bytes, 32 * 4);
    }
    if (cuda::variant_of(k.name) == cuda::Variant::Mma) {
      ++tiles;
      EXPECT_GE(r.shared_bytes, 16 * 1024);
    }
  }
  EXPECT_GE(without_frame, t->kernels.size() / 2);
  EXPECT_GT(norms, 0u);
  EXPECT_GT(tiles, 0u);
}

// The cuda plan's decode function rotates q and k and appends k and v inside each layer's attention
// (fuse_decode_steps, which refuses where the attention's output would share bytes with k or v:
// aprc-plan-memory keeps them apart): no KvAppend step is left in decode, each attention step carries
// the rope and the ops of both; prefill keeps its rope_qk_kv_append kernel.
TEST_F(CudaPlanFixture, DecodeRotatesAndAppendsInsideTheAttention) {
  const auto p = Plan::open(plan->path.string());
  const PlanTarget* t = p->target("cuda");
  ASSERT_NE(t->function("decode"), nullptr);
  int64_t attentions = 0;
  for (const Step& s : t->function("decode")->steps) {
    EXPECT_NE(s.spec.kind, KernelKind::KvAppend) << s.kernel;
    if (s.spec.kind != KernelKind::Attention) continue;
    ++attentions;
    EXPECT_TRUE(s.spec.rope) << s.kernel;
    EXPECT_EQ(s.kernel.rfind("rope_attention_", 0), 0u) << s.kernel;
    for (const std::string op : {".attn.q_rope", ".attn.k_rope", ".attn.kv_append", ".attn.attention"})
      EXPECT_TRUE(std::any_of(s.ops.begin(), s.ops.end(), [&](const std::string& o) { return o.ends_with(op); }))
          << s.kernel << " lacks " << op;
  }
  EXPECT_EQ(attentions, model->config.num_layers);
  bool prefill_appends = false;
  for (const Step& s : t->function("prefill")->steps) prefill_appends |= s.spec.kind == KernelKind::KvAppend && s.spec.heads > 0;
  EXPECT_TRUE(prefill_appends);
}

// The rope kernel of the test model's layers (the one KvAppend kernel: it rotates q and k and appends
// k and v, aprc.rope_qk_kv_append) and its generated source.
struct RopeKernel {
  std::string name, source;
  std::vector<std::string> ops;  // the ops of the steps that call it
};
RopeKernel rope_kernel(const Plan& p) {
  RopeKernel r;
  const PlanTarget* t = p.target("cuda");
  for (const PlanKernel& k : t->kernels)
    if (k.spec.kind == KernelKind::KvAppend) {
      EXPECT_TRUE(r.name.empty()) << "two kv append kernels";
      EXPECT_TRUE(k.spec.rope && k.spec.heads > 0) << k.name << " does not rotate q";
      r.name = k.name;
    }
  for (const Function& f : t->functions)
    for (const Step& s : f.steps)
      if (s.kernel == r.name) r.ops.insert(r.ops.end(), s.ops.begin(), s.ops.end());
  const std::string source = section_text(p, plan_section::kCudaSource);
  const verify::SourceSpan span = verify::kernel_definition(source, r.name, verify::KernelLanguage::Cuda);
  EXPECT_TRUE(span.found()) << r.name;
  r.source = source.substr(span.begin, span.end - span.begin);
  return r;
}

// A copy of the generated kernel with a harmless rewrite passes verify, and so does the example of
// examples/override (another way to the same values); one that rotates every token
// by the angle of the next position is named: the first op over tolerance is one the kernel computes,
// in the hand-written kernel. The plan records the file, and its source section holds the file's text.
TEST_F(CudaPlanFixture, HandWrittenKernelsAreCheckedByVerify) {
  const RopeKernel rope = rope_kernel(*Plan::open(plan->path.string()));
  ASSERT_FALSE(rope.name.empty()) << "the test model's cuda plan has no rope kernel";
  ASSERT_FALSE(rope.ops.empty());
  const std::string same = write_file("rope-same.cu", rewrite(rope.source, "const int t = blockIdx.x;",
                                                              "const int t = (int)blockIdx.x;  // hand-written"));
  // the angles of the next position (the cache row stays the token's own)
  const std::string shifted = write_file("rope-shifted.cu", rewrite(rope.source, "(p, " + rope.name + "_inv_freq,",
                                                                    "(p + 1, " + rope.name + "_inv_freq,"));
  // The example of examples/override, under this model's kernel's name (its own is the fixture's).
  const std::string example_name = "rope_qk_kv_append_4_2x64_56565fa7";
  std::ifstream example_file(std::string(APRC_EXAMPLES_DIR) + "/override/rope_qk_kv_append_angle_per_thread.cu");
  std::string example((std::istreambuf_iterator<char>(example_file)), std::istreambuf_iterator<char>());
  ASSERT_NE(example.find(example_name), std::string::npos);
  for (size_t at = example.find(example_name); at != std::string::npos; at = example.find(example_name, at + rope.name.size()))
    example.replace(at, example_name.size(), rope.name);
  const std::string shared_angles = write_file("rope-angle-per-thread.cu", example);
  const char* skip = std::getenv("APRC_SKIP_EMU");
  for (const std::string& file : {same, shared_angles, shifted}) {
    SCOPED_TRACE(file);
    TempPlan overridden("cuda-override");
    compile_cuda(*model, overridden.path, {{rope.name, file}});
    const auto p = Plan::open(overridden.path.string());
    const PlanKernel* k = p->target("cuda")->kernel(rope.name);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->info.value("override", ""), file);
    std::ifstream in(file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(rope_kernel(*p).source, text);  // what aprc kernels shows
    if (skip && *skip == '1') continue;
    const verify::Verification v = verify_on_emulator(overridden.path, *gguf, model->config.vocab_size);
    ASSERT_EQ(v.engines.size(), 1u);
    const verify::EngineCheck& e = v.engines[0];
    ASSERT_TRUE(e.skipped.empty()) << e.skipped;
    std::printf("%s: %s\n", fs::path(file).filename().c_str(), verify::verdict(v).c_str());
    if (file != shifted) {
      EXPECT_TRUE(e.passed()) << verify::describe_failure(e, v.tolerance);
      continue;
    }
    ASSERT_TRUE(e.failure) << "verify passed a rope kernel that rotates by the next position";
    const verify::OpCheck* bad = e.failed_op();
    EXPECT_EQ(bad->kernel, rope.name);
    EXPECT_NE(std::find(rope.ops.begin(), rope.ops.end(), bad->op), rope.ops.end()) << bad->op;
    EXPECT_EQ(e.failure->call, 0u);
    const std::string line = verify::verdict(v);
    EXPECT_NE(line.find("FAIL: cuda: first op over tolerance: " + bad->op), std::string::npos) << line;
    EXPECT_NE(line.find("kernel " + rope.name), std::string::npos) << line;
  }
}

// A fault on the q or the k rope of layer 1 keeps that rope apart from the append (the fault sits
// between them), while layers 0, 2, .. rotate q in their kv append kernel; verify on the emulator
// passes layer 0's fused kernel and names the perturbed rope, in the first call.
TEST_F(CudaPlanFixture, FaultOnARopeIsNamedByVerify) {
  if (const char* skip = std::getenv("APRC_SKIP_EMU"); skip && *skip == '1') GTEST_SKIP() << "APRC_SKIP_EMU=1";
  for (const std::string fault : {"layers.1.attn.q_rope", "layers.1.attn.k_rope"}) {
    SCOPED_TRACE(fault);
    TempPlan faulty("cuda-fault");
    compile_cuda(*model, faulty.path, {}, fault);
    const auto p = Plan::open(faulty.path.string());
    bool layer0_fused = false, layer1_fused = false;
    for (const Step& st : p->target("cuda")->functions[0].steps) {
      const bool q_rope_in_append = st.spec.kind == KernelKind::KvAppend && st.spec.heads > 0;
      for (const std::string& op : st.ops) {
        if (op == "layers.0.attn.q_rope") layer0_fused = q_rope_in_append;
        if (op == "layers.1.attn.q_rope.unperturbed" || op == "layers.1.attn.q_rope") layer1_fused |= q_rope_in_append;
      }
    }
    EXPECT_TRUE(layer0_fused);
    EXPECT_FALSE(layer1_fused);
    const verify::Verification v = verify_on_emulator(faulty.path, *gguf, model->config.vocab_size);
    ASSERT_EQ(v.engines.size(), 1u);
    const verify::EngineCheck& e = v.engines[0];
    ASSERT_TRUE(e.failure) << "verify passed a plan with a fault on " << fault;
    EXPECT_EQ(e.failed_op()->op, fault);
    EXPECT_EQ(e.failure->call, 0u);
    EXPECT_NE(verify::verdict(v).find("FAIL: cuda: first op over tolerance: " + fault), std::string::npos) << verify::verdict(v);
  }
}

// Refused, naming the file: a name no kernel has, a file that does not compile (its line), one that
// defines no kernel of the name, one whose kernel takes other parameters; and a cuda file for a plan
// without a cuda target.
TEST_F(CudaPlanFixture, HandWrittenKernelsThatCannotStandInAreRefused) {
  const RopeKernel rope = rope_kernel(*Plan::open(plan->path.string()));
  ASSERT_FALSE(rope.name.empty());
  const std::string good = write_file("rope-good.cu", rope.source);
  EXPECT_EQ(refusal(*model, {{"no_such_kernel", good}}),
            good + ": overrides kernel 'no_such_kernel', which the cuda target does not have (aprc kernels PLAN lists them)");

  const std::string broken = write_file("rope-broken.cu", rewrite(rope.source, "const int t = blockIdx.x;", "\nconst int t = blockIdx.x +;"));
  const std::string m = refusal(*model, {{rope.name, broken}});
  EXPECT_EQ(m.rfind(broken + ": the hand-written kernel " + rope.name + " does not compile (nvrtc -arch=sm_90): ", 0), 0u) << m;
  // The error's line is the file's own (the rewrite put it on the line after the signature's brace).
  const size_t line = static_cast<size_t>(std::count(rope.source.begin(), rope.source.begin() + rope.source.find("const int t"), '\n')) + 2;
  EXPECT_NE(m.find("(" + std::to_string(line) + "): error"), std::string::npos) << m;

  const std::string renamed = write_file("rope-renamed.cu", rewrite(rope.source, " " + rope.name + "(", " my_rope("));
  EXPECT_EQ(refusal(*model, {{rope.name, renamed}}).rfind(renamed + ": defines no kernel " + rope.name + " ", 0), 0u);

  const std::string other = write_file("rope-other.cu", rewrite(rope.source, "float* __restrict__ q,", "double* __restrict__ q,"));
  const std::string m2 = refusal(*model, {{rope.name, other}});
  EXPECT_EQ(m2.rfind(other + ": the hand-written kernel " + rope.name + " does not compile", 0), 0u) << m2;

  TempPlan cpu_only("cpu-only");
  codegen::CompileOptions options;
  options.kernel_overrides = {{rope.name, good}};
  try {
    codegen::compile_plan(*model, cpu_only.path.string(), options);
    ADD_FAILURE() << "a .cu override compiled into a plan without a cuda target";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), good + ": a cuda kernel, but the plan has no cuda target");
  }
}

}  // namespace
}  // namespace aprc
