// The canonical Model of a synthetic preset (runtime/include/aprc/synthetic.h): what
// `aprc compile --synthetic PRESET` compiles. Its tensors are the ones a synthetic plan generates
// when loaded, byte for byte, so the reference interpreter and a synthetic plan agree.
#pragma once

#include <cstdint>
#include <string_view>

#include "aprc/model.h"
#include "aprc/synthetic.h"

namespace aprc {

// The model of `preset` with weights from `seed` and the given tokenizer (synthetic models carry
// none of their own; the demo uses the real Qwen tokenizer). With generate_weights false the
// tensors have their dtype and shape but no bytes (empty spans), for a compiler that writes a
// synthetic plan and never reads them; otherwise every tensor is generated now (row-major, on
// every core: seconds for a 7B model) into memory the Model keeps alive.
Model synthetic_model(std::string_view preset, uint64_t seed, TokenizerData tokenizer, bool generate_weights = true);

}  // namespace aprc
