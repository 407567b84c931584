// `aprc bench`: prefill and decode speed of a plan on an engine, against the memory bandwidth
// measured in the same run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "aprc/runtime.h"

namespace aprc {

struct BenchOptions {
  int64_t prompt_len = 512;  // tokens prefilled at once (in the plan's chunks)
  int64_t gen = 128;         // tokens decoded one at a time after them
};

struct BenchResult {
  std::string engine, device;
  int64_t prompt_len = 0, gen = 0;
  double prefill_tok_s = 0, decode_tok_s = 0;
  uint64_t weight_bytes_per_token = 0;  // weight bytes one decode step reads
  MemoryBandwidth bandwidth;
  double decode_bandwidth_fraction = 0;  // weight_bytes_per_token * decode_tok_s / roofline
  double peak_rss_mb = 0;                // of the process while prefilling and decoding (Linux: from
                                         // the end of loading; elsewhere since the process began)
};

// The weight bytes one call of `fn` with one token reads: every weight its steps bind, once; an
// embedding table only for the row it looks up.
uint64_t weight_bytes_per_token(const Plan& plan, const Function& fn);

// Measures the memory bandwidth, warms the weights up, prefills prompt_len pseudo-random tokens,
// decodes gen greedy ones, and measures the bandwidth again (the better measurement is the
// roofline). `progress` hears what is being done ("decoding 128 tokens").
BenchResult run_bench(Session& session, const BenchOptions& options,
                      const std::function<void(std::string_view)>& progress = {});

}  // namespace aprc
