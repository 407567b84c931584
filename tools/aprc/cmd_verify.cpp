// aprc verify: checks what a model or plan computes. --report: the accuracy report of the stored
// and fp8 weights (cmd_verify_report.cpp).
#include <cstdio>
#include <iterator>
#include <set>
#include <string>

#include "../cli/args.h"
#include "aprc/error.h"
#include "commands.h"
#include "fp8_options.h"

namespace aprc {

int cmd_verify(int argc, char** argv) {
  std::set<std::string> values{"ids", "prompt"};
  values.insert(std::begin(kFp8Flags), std::end(kFp8Flags));
  cli::Args args("verify", argc, argv, values, {"report", "json", "help"});
  if (args.flag("help")) {
    std::printf(
        "usage: aprc verify MODEL --report (--prompt TEXT | --ids 1,2,3) [--fp8-ops GROUPS]\n"
        "                   [--fp8-scales per-channel|per-tensor] [--fp8-activations per-token] [--json]\n"
        "--report: the logits of the prompt with the weights as stored and cast to fp8 e4m3, against the\n"
        "f32-dequantized weights (reference interpreter): per position, max |logit - reference| / max\n"
        "|reference logit|, and top-1 agreement.\n"
        "  --fp8-ops GROUPS    which linear weights are cast: attn_qkv, attn_proj, mlp, logits, all (default)\n"
        "  --fp8-scales S      per-channel (one scale per output row, the default) or per-tensor\n"
        "  --fp8-activations per-token  prefill activations quantized per token to e4m3 too\n");
    return 0;
  }
  if (!args.flag("report"))
    throw_bad_input("aprc verify: give --report (the per-op comparison of plans is not part of this build yet)");
  return verify_report(args);
}

}  // namespace aprc
