// aprc verify MODEL --report (--prompt TEXT | --ids 1,2,3) [--fp8-ops G,...] [--fp8-scales per-channel|
// per-tensor] [--fp8-activations per-token] [--json] [--no-plans] [--threads N]: the accuracy report
// (accuracy_report.h) of the weights as stored and cast to fp8, against the f32-dequantized weights,
// by the interpreter and by CPU plans. The rest of `aprc verify`
// (per-op comparison of plans) calls this for --report.
#include <cstdio>

#include "accuracy_report.h"
#include "aprc/error.h"
#include "commands.h"
#include "prompt_ids.h"

namespace aprc {

int verify_report(const cli::Args& args) {
  args.expect_positionals(1, 1);
  const Fp8Options fp8 = Fp8Options::from_args(args);
  const Model model = load_model(args.positional(0, "MODEL"));
  const std::vector<int32_t> ids = prompt_ids(args, model, "verify");
  if (static_cast<int64_t>(ids.size()) > model.config.max_position_embeddings)
    throw_bad_input("aprc verify: " + std::to_string(ids.size()) + " tokens do not fit the model's context of " +
                    std::to_string(model.config.max_position_embeddings));
  verify::ReportOptions options;
  options.cpu_plans = !args.flag("no-plans");
  options.threads = static_cast<int>(args.int_or("threads", 0));
  const verify::AccuracyReport report = verify::accuracy_report(model, ids, fp8, options);
  if (args.flag("json"))
    std::printf("%s\n", report.to_json().dump().c_str());
  else
    std::fputs(report.to_text().c_str(), stdout);
  return 0;
}

}  // namespace aprc
