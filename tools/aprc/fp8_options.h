// The fp8 options of the command line, shared by `aprc compile --weights fp8` and `aprc verify
// --report`: --fp8-ops=mlp,attn_proj (groups of aprc-cast-fp8; layers by default), --fp8-scales
// per-channel|per-tensor, --fp8-activations per-token. MLIR-free: they become a textual pipeline.
#pragma once

#include <string>
#include <vector>

#include "../cli/args.h"
#include "aprc/formats/formats.h"

namespace aprc {

struct Fp8Options {
  ScaleGranularity granularity = ScaleGranularity::PerChannel;
  std::vector<std::string> ops{"layers"};  // attn_qkv, attn_proj, mlp, logits, layers, all
  bool per_token_activations = false;

  // The flags' values; a value they do not take is a usage error (BadInput) naming the flag.
  static Fp8Options from_args(const cli::Args& args);

  // aprc-cast-fp8 with these options, as a textual pipeline.
  std::string pipeline() const;
  // "fp8e4m3 per_channel (layers)", plus ", per-token fp8 activations".
  std::string description() const;
};

// The flags Fp8Options::from_args reads (each takes a value), for a command's Args.
inline const char* const kFp8Flags[] = {"fp8-ops", "fp8-scales", "fp8-activations"};

}  // namespace aprc
