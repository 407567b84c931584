// The CPU executor and Session, end to end on a small Qwen2-shaped model: a plan whose schedule
// calls the test-only kernels of tests/kernels (standing in for generated code), checked against a
// plain double-precision forward pass (runtime_test_model.h), for prefill in chunks, prefill of the last
// position, decode with the KV cache, any thread count, and a full context.
#include <gtest/gtest.h>

#include <algorithm>

#include "aprc/cpu_target.h"
#include "aprc/error.h"
#include "aprc/runtime.h"
#include "runtime_test_model.h"

namespace aprc {
namespace {

using namespace aprc::test;

std::unique_ptr<Session> open_session(const std::string& path, int threads = 2, int64_t context = 0) {
  auto plan = Plan::open(path);
  EngineOptions options;
  options.threads = threads;
  options.context = context;
  return std::make_unique<Session>(plan, open_cpu_engine(plan, options, test_kernels()));
}

const std::vector<int32_t> kPrompt = {3, 17, 0, 36, 5, 5, 21, 9, 30, 1, 12};

TEST(CpuEngine, PrefillOfEveryPositionInChunksMatchesTheReference) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("t.plan"), 4, 32);  // 11 tokens: chunks of 4, 4, 3
  const std::vector<double> ref = reference_logits(p, kPrompt);
  for (int threads : {1, 2, 3}) {
    auto session = open_session(p.path, threads);
    std::vector<float> all = session->prefill_all(kPrompt);
    ASSERT_EQ(all.size(), kPrompt.size() * V);
    for (size_t t = 0; t < kPrompt.size(); ++t)
      EXPECT_LT(row_error(std::span<const float>(all).subspan(t * V, V), ref, t), 1e-5)
          << "position " << t << ", " << threads << " threads";
    EXPECT_EQ(session->position(), static_cast<int64_t>(kPrompt.size()));
  }
}

TEST(CpuEngine, PrefillLastThenDecodeMatchesTheReferenceOfTheWholeSequence) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("t.plan"), 4, 32);
  std::vector<int32_t> sequence(kPrompt.begin(), kPrompt.begin() + 7);
  auto session = open_session(p.path);
  std::span<const float> logits = session->prefill(sequence);
  EXPECT_LT(row_error(logits, reference_logits(p, sequence), 6), 1e-5);
  for (int32_t next : {4, 33, 0, 19, 19}) {
    sequence.push_back(next);
    logits = session->decode(next);
    EXPECT_LT(row_error(logits, reference_logits(p, sequence), sequence.size() - 1), 1e-5)
        << "decode at position " << sequence.size() - 1;
  }
  // After a reset the same prompt gives the same logits, bit for bit.
  std::vector<float> before(logits.begin(), logits.end());
  session->reset();
  session->prefill(std::span<const int32_t>(sequence).first(sequence.size() - 1));
  logits = session->decode(sequence.back());
  EXPECT_TRUE(std::equal(logits.begin(), logits.end(), before.begin()));
}

void expect_bad_input(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no error; expected: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

// A plan with only the all-rows prefill: the last row of its chunks stands in for prefill_last,
// and a one-token prefill for decode.
TEST(CpuEngine, PrefillAloneStandsInForTheOtherFunctions) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("t.plan"), 4, 32, {"cpu"}, {}, "x86_64-unknown-linux-gnu", true);
  auto session = open_session(p.path);
  std::vector<int32_t> sequence = kPrompt;  // 11 tokens: chunks of 4, 4, 3
  EXPECT_LT(row_error(session->prefill(sequence), reference_logits(p, sequence), sequence.size() - 1), 1e-5);
  sequence.push_back(42);
  EXPECT_LT(row_error(session->decode(42), reference_logits(p, sequence), sequence.size() - 1), 1e-5);
  EXPECT_EQ(session->decode_function().name, "prefill");
}

TEST(CpuEngine, FullContextIsAClearError) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("t.plan"), 4, 32);
  auto session = open_session(p.path, 2, 9);
  EXPECT_EQ(session->context(), 9);
  session->prefill(std::span<const int32_t>(kPrompt).first(7));
  session->decode(1);
  session->decode(2);
  expect_bad_input([&] { session->decode(3); }, "the context is full: 9 tokens so far and 1 more do not fit in 9 positions");
  session->reset();
  expect_bad_input([&] { session->prefill(kPrompt); }, "the context is full");
  expect_bad_input([&] { open_session(p.path, 2, 33); }, "more than the 32 the plan was compiled for");
}

TEST(CpuEngine, RefusesTokensOutsideTheVocabulary) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("t.plan"), 4, 32);
  auto session = open_session(p.path);
  expect_bad_input([&] { session->prefill(std::vector<int32_t>{1, V}); }, "token id 300 is not in the vocabulary");
  expect_bad_input([&] { session->decode(-1); }, "token id -1");
  EXPECT_EQ(session->position(), 0);
}

TEST(CpuEngine, RefusesPlansWithoutCpuCodeOrKernels) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("cuda.plan"), 4, 32, {"cuda"});
  auto plan = Plan::open(p.path);
  expect_bad_input([&] { open_cpu_engine(plan, {}, test_kernels()); },
                   "no kernels for the cpu engine (it was compiled for: cuda");
  TestPlan q = write_test_plan(dir.file("cpu.plan"), 4, 32);
  CpuKernelResolver resolve = test_kernels();
  expect_bad_input([&] {
    open_cpu_engine(Plan::open(q.path), {}, [&](const std::string& name) {
      return name == "test_swiglu" ? nullptr : resolve(name);
    });
  }, "the CPU code has no kernel 'test_swiglu'");
}

// open_engine loads the plan's own CPU code (the shared object in its cpu.so section) and checks
// the machine against what the code was compiled for.
TEST(CpuEngine, OpensWithThePlansOwnCodeAndChecksTheMachine) {
  test::TempDir dir;
  TestPlan p = write_test_plan(dir.file("t.plan"), 4, 32, {"cpu"}, host_cpu_features());
  auto plan = Plan::open(p.path);
  EXPECT_EQ(default_engine(*plan), "cpu");
  Session session(plan, open_engine(plan, "cpu", {}));
  const std::vector<double> ref = reference_logits(p, kPrompt);
  std::vector<float> all = session.prefill_all(kPrompt);
  for (size_t t = 0; t < kPrompt.size(); ++t)
    EXPECT_LT(row_error(std::span<const float>(all).subspan(t * V, V), ref, t), 1e-5) << "position " << t;
  expect_bad_input([&] { open_engine(plan, "cuda", {}); }, "no kernels for the cuda engine");
  expect_bad_input([&] { open_engine(plan, "tpu", {}); }, "unknown engine 'tpu'");

  std::string lacking;
  for (const char* f : known_cpu_features()) {
    const auto have = host_cpu_features();
    if (std::find(have.begin(), have.end(), f) == have.end()) {
      lacking = f;
      break;
    }
  }
  if (!lacking.empty()) {
    TestPlan q = write_test_plan(dir.file("f.plan"), 4, 32, {"cpu"}, {"avx", lacking});
    expect_bad_input([&] { open_engine(Plan::open(q.path), "cpu", {}); }, "needs " + lacking + ", which this CPU lacks");
  }
  TestPlan r = write_test_plan(dir.file("arm.plan"), 4, 32, {"cpu"}, {}, "aarch64-unknown-linux-gnu");
  expect_bad_input([&] { open_engine(Plan::open(r.path), "cpu", {}); }, "is for aarch64-unknown-linux-gnu");
}

}  // namespace
}  // namespace aprc
