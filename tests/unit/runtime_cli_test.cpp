// aprc-rt and aprc's plan commands as a user runs them: output, files, JSON, exit codes, Ctrl-C.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fcntl.h>
#include <thread>

#include "aprc/generate.h"
#include "aprc/runtime.h"
#include "runtime_test_model.h"

namespace aprc {
namespace {

using namespace aprc::test;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

// Starts `binary` with `args` (no shell), its stdout and stderr going to files.
pid_t spawn(const std::string& binary, const std::vector<std::string>& args, const std::string& out,
            const std::string& err) {
  pid_t pid = fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Runs `binary` with `args`, capturing stdout and stderr.
Result run(const TempDir& dir, const std::string& binary, const std::vector<std::string>& args) {
  const std::string out = dir.file("stdout"), err = dir.file("stderr");
  int status = 0;
  waitpid(spawn(binary, args, out, err), &status, 0);
  return Result{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out), slurp(err)};
}

// What in-process greedy generation gives: the reference for the commands' output.
std::string generate_in_process(const std::string& plan_path, const std::vector<int32_t>& prompt, int64_t n) {
  auto plan = Plan::open(plan_path);
  Session session(plan, open_engine(plan, "cpu", {}));
  Tokenizer tokenizer(plan->manifest().tokenizer);
  GenerateOptions options;
  options.max_new_tokens = n;
  options.sampler = SamplerConfig::greedy();
  std::string text;
  generate(session, tokenizer, prompt, options, [&](std::string_view piece) { text += piece; });
  return text;
}

class PlanCommands : public ::testing::Test {
 protected:
  void SetUp() override { plan_ = write_test_plan(dir_.file("t.plan"), 4, 64, {"cpu"}); }
  TempDir dir_;
  TestPlan plan_;
  const std::string rt_ = APRC_RT_BINARY, aprc_ = APRC_BINARY;
};

TEST_F(PlanCommands, RunStreamsWhatTheEngineGeneratesFromIdsOrText) {
  const std::string expected = generate_in_process(plan_.path, {72, 105}, 6) + "\n";
  Result r = run(dir_, rt_, {"run", plan_.path, "--ids", "72,105", "-n", "6", "--temperature", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  // "Hi" is bytes 72, 105 to the byte tokenizer; aprc dispatches the plan to the same command.
  Result text = run(dir_, aprc_, {"run", plan_.path, "--prompt", "Hi", "-n", "6", "--temperature", "0", "--stats"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, expected);
  EXPECT_NE(text.err.find("tok/s"), std::string::npos) << text.err;
}

TEST_F(PlanCommands, LogitsWritesEveryPositionAsFloat32) {
  const std::string out = dir_.file("logits.f32");
  Result r = run(dir_, rt_, {"logits", plan_.path, "--ids", "3,250,7,7,99", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("T=5 vocab=300"), std::string::npos) << r.out;
  std::vector<uint8_t> bytes = read_file(out);
  ASSERT_EQ(bytes.size(), 5u * V * 4);
  const std::vector<double> ref = reference_logits(plan_, {3, 250, 7, 7, 99});
  for (size_t t = 0; t < 5; ++t)
    EXPECT_LT(row_error(std::span<const float>(reinterpret_cast<const float*>(bytes.data()) + t * V, V), ref, t), 1e-5);
}

TEST_F(PlanCommands, BenchJsonHasExactlyTheDocumentedKeys) {
  Result r = run(dir_, rt_, {"bench", plan_.path, "--prompt-len", "9", "--gen", "5", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"prefill_tok_s", "decode_tok_s", "weight_bytes_per_token", "mem_bandwidth_gbs",
                                         "decode_bandwidth_fraction", "peak_rss_mb", "device"}));
  EXPECT_GT(j["prefill_tok_s"].get<double>(), 0);
  EXPECT_GT(j["decode_tok_s"].get<double>(), 0);
  EXPECT_GT(j["mem_bandwidth_gbs"].get<double>(), 0);
  EXPECT_GT(j["decode_bandwidth_fraction"].get<double>(), 0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 0);
  // Every weight of the decode schedule once; the logits read the tied embedding whole.
  uint64_t all = 0;
  for (const PlanWeight& w : Plan::open(plan_.path)->manifest().weights) all += w.bytes;
  EXPECT_EQ(j["weight_bytes_per_token"].get<uint64_t>(), all);
  EXPECT_NE(r.err.find("decoding 5 tokens"), std::string::npos) << "progress goes to stderr: " << r.err;
  // Without --json, a table for people.
  Result table = run(dir_, rt_, {"bench", plan_.path, "--prompt-len", "9", "--gen", "5"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("of the measured bandwidth"), std::string::npos) << table.out;
}

TEST_F(PlanCommands, TokenizeUsesThePlansTokenizer) {
  Result r = run(dir_, rt_, {"tokenize", plan_.path, "Hi!"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "72,105,33\n");
  r = run(dir_, rt_, {"detokenize", plan_.path, "72,105,33"});
  EXPECT_EQ(r.out, "Hi!\n");
}

// Exit code 2 and one line on stderr that names the file.
void expect_refused(const Result& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(PlanCommands, BadInputIsOneLineAndExitCode2) {
  std::vector<uint8_t> bytes = read_file(plan_.path);
  write_file(dir_.file("cut.plan"), std::vector<uint8_t>(bytes.begin(), bytes.end() - 100));
  expect_refused(run(dir_, rt_, {"run", dir_.file("cut.plan"), "--ids", "1"}), dir_.file("cut.plan") + ": truncated plan");
  bytes[bytes.size() / 2] ^= 1;
  write_file(dir_.file("flip.plan"), bytes);
  expect_refused(run(dir_, rt_, {"bench", dir_.file("flip.plan")}), "CRC32 mismatch");
  expect_refused(run(dir_, rt_, {"run", plan_.path, "--ids", "1", "--engine", "cuda"}), "no kernels for the cuda engine");
  write_file(dir_.file("model.gguf"), {'G', 'G', 'U', 'F', 3, 0, 0, 0});
  expect_refused(run(dir_, rt_, {"run", dir_.file("model.gguf"), "--ids", "1"}), "not an aprc plan");
  expect_refused(run(dir_, rt_, {"logits", plan_.path, "--ids", "1"}), "missing -o");
  expect_refused(run(dir_, rt_, {"run", plan_.path, "--ids", "1", "--top-p", "-2"}), "top");
  expect_refused(run(dir_, rt_, {"bench", plan_.path, "--prompt-len", "60", "--gen", "10"}), "bench needs 70 positions");
}

TEST_F(PlanCommands, AFullContextStopsWithAClearError) {
  Result r = run(dir_, rt_, {"run", plan_.path, "--ids", "1,2,3", "-n", "20", "--context", "6", "--temperature", "0"});
  expect_refused(r, "the context is full (6 positions) after 4 generated tokens");
  EXPECT_EQ(r.out, generate_in_process(plan_.path, {1, 2, 3}, 4) + "\n");  // what fitted was printed
}

TEST(PlanCommandsInterrupt, CtrlCStopsGenerationCleanly) {
  TempDir dir;
  TestPlan p = write_test_plan(dir.file("long.plan"), 4, 4000, {"cpu"});
  const std::string out = dir.file("out"), err = dir.file("err");
  const pid_t pid = spawn(APRC_RT_BINARY, {"run", p.path, "--ids", "5", "-n", "-1", "--temperature", "0"}, out, err);
  // Once text has appeared, generation is under way.
  for (int i = 0; i < 200 && read_file(out).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by a signal";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_NE(slurp(err).find("interrupted after"), std::string::npos) << slurp(err);
  EXPECT_FALSE(read_file(out).empty());
}

}  // namespace
}  // namespace aprc
