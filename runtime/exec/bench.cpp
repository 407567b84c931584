#include "aprc/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "aprc/argmax.h"
#include "aprc/error.h"

namespace aprc {
namespace {

double seconds_of(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Linux keeps the process's peak resident size in /proc/self/status (VmHWM); writing 5 to
// /proc/self/clear_refs starts it again from the current size. Returns false where that is not
// possible (then the peak is the whole process's).
bool restart_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

double peak_rss_mb() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    std::fclose(f);
    if (kb >= 0) return static_cast<double>(kb) / 1024.0;
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

uint64_t weight_bytes_per_token(const Plan& plan, const Function& fn) {
  const auto& weights = plan.manifest().weights;
  std::map<int64_t, uint64_t> read;  // weight index -> bytes read of it
  for (const Step& st : fn.steps)
    for (size_t i = 0; i < st.args.size(); ++i) {
      const Arg& a = st.args[i];
      if (a.kind != ArgKind::Weight) continue;
      const PlanWeight& w = weights[a.index];
      // An embedding lookup reads one row of its table (args: ids, table, out).
      const bool lookup = st.spec.kind == KernelKind::Embedding && i == 1;
      const uint64_t bytes = lookup ? w.bytes / static_cast<uint64_t>(w.rows()) : w.bytes;
      read[a.index] = std::max(read[a.index], bytes);
    }
  uint64_t total = 0;
  for (const auto& [index, bytes] : read) total += bytes;
  return total;
}

BenchResult run_bench(Session& session, const BenchOptions& options,
                      const std::function<void(std::string_view)>& progress) {
  auto say = [&](const std::string& what) {
    if (progress) progress(what);
  };
  if (options.prompt_len < 1 || options.gen < 1) throw_bad_input("bench: --prompt-len and --gen must be at least 1");
  const int64_t needed = options.prompt_len + options.gen;
  if (needed > session.context())
    throw_bad_input(session.plan().path() + ": bench needs " + std::to_string(needed) + " positions (--prompt-len " +
                    std::to_string(options.prompt_len) + " + --gen " + std::to_string(options.gen) + "); the context holds " +
                    std::to_string(session.context()));
  BenchResult r;
  r.engine = std::string(session.engine().kind());
  r.device = session.engine().device();
  r.prompt_len = options.prompt_len;
  r.gen = options.gen;
  r.weight_bytes_per_token = weight_bytes_per_token(session.plan(), session.decode_function());

  // Pseudo-random prompt ids, the same every run.
  std::vector<int32_t> prompt(static_cast<size_t>(options.prompt_len));
  uint64_t state = 0x2545F4914F6CDD1Dull;
  for (int32_t& id : prompt) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((state >> 33) % static_cast<uint64_t>(session.vocab_size()));
  }

  // The bandwidth is measured before and after the run, and the better of the two is the roofline:
  // on a machine that other work shares, one measurement may catch a busy moment.
  say("measuring memory bandwidth");
  const MemoryBandwidth before = session.engine().measure_memory_bandwidth();
  // The peak from here on: the model running (weights, KV cache, arenas, logits), not what loading
  // it took (a synthetic plan's generation buffers) or the bandwidth buffers.
  restart_peak_rss();
  say("warming up (every weight read once)");
  session.reset();
  session.prefill(std::span<const int32_t>(prompt).first(1));
  session.reset();

  say("prefilling " + std::to_string(options.prompt_len) + " tokens");
  std::span<const float> logits;
  const double prefill_s = seconds_of([&] { logits = session.prefill(prompt); });
  r.prefill_tok_s = static_cast<double>(options.prompt_len) / prefill_s;

  say("decoding " + std::to_string(options.gen) + " tokens");
  // greedy, with the tokens picked where the engine keeps the logits (Session::decode_greedy)
  std::vector<int32_t> generated(static_cast<size_t>(options.gen));
  const double decode_s = seconds_of([&] { session.decode_greedy(first_argmax(logits), generated); });
  r.decode_tok_s = static_cast<double>(options.gen) / decode_s;
  r.peak_rss_mb = peak_rss_mb();  // before the bandwidth measurement's buffers

  say("measuring memory bandwidth again");
  r.bandwidth = session.engine().measure_memory_bandwidth();
  if (before.roofline_gbs > r.bandwidth.roofline_gbs) r.bandwidth = before;
  if (r.bandwidth.roofline_gbs > 0)
    r.decode_bandwidth_fraction =
        static_cast<double>(r.weight_bytes_per_token) * r.decode_tok_s / 1e9 / r.bandwidth.roofline_gbs;
  session.reset();
  return r;
}

}  // namespace aprc
