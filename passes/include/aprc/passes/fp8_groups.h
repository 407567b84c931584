// The weight groups that aprc-cast-fp8's `ops=` option selects (Passes.td), named once for the pass
// and for the command line (`--fp8-ops`). MLIR-free.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace aprc::passes {

// A group as bits: a matrix weight is cast when its group's bit is selected. `layers` (the default)
// is every product inside the decoder layers; the output projection is left out unless asked for.
enum Fp8Group : unsigned {
  kFp8AttnQkv = 1,
  kFp8AttnProj = 2,
  kFp8Mlp = 4,
  kFp8Logits = 8,
  kFp8Other = 16,  // a matrix of no group: only `all` casts it
  kFp8Layers = kFp8AttnQkv | kFp8AttnProj | kFp8Mlp,
  kFp8All = 31
};

struct Fp8GroupName {
  std::string_view name;
  unsigned groups;
};

inline constexpr std::array<Fp8GroupName, 6> kFp8GroupNames = {{{"attn_qkv", kFp8AttnQkv},
                                                                 {"attn_proj", kFp8AttnProj},
                                                                 {"mlp", kFp8Mlp},
                                                                 {"logits", kFp8Logits},
                                                                 {"layers", kFp8Layers},
                                                                 {"all", kFp8All}}};

// The bits of the group called `name`; 0 when there is none.
inline unsigned fp8_group(std::string_view name) {
  for (const Fp8GroupName& g : kFp8GroupNames)
    if (g.name == name) return g.groups;
  return 0;
}

// "attn_qkv, attn_proj, mlp, logits, layers, all", for messages.
inline std::string fp8_group_list() {
  std::string out;
  for (const Fp8GroupName& g : kFp8GroupNames) out += (out.empty() ? "" : ", ") + std::string(g.name);
  return out;
}

}  // namespace aprc::passes
