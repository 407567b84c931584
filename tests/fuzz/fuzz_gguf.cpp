// libFuzzer target: the GGUF parser and the GGUF -> Model conversion (config, names, shapes,
// tokenizer, the model checks).
#include <cstddef>
#include <cstdint>

#include "../../frontend/readers.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aprc::fuzz::expect_bad_input_only([&] {
    aprc::GgufFile g = aprc::parse_gguf({data, size}, "fuzz.gguf");
    aprc::gguf_to_model({std::move(g)}, {nullptr}, "fuzz.gguf");
  });
  return 0;
}
