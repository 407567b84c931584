// libFuzzer target: the safetensors header (length, JSON, dtypes, shapes, offsets, overlaps).
#include <cstddef>
#include <cstdint>

#include "../../frontend/readers.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aprc::fuzz::expect_bad_input_only([&] { aprc::parse_safetensors({data, size}, "fuzz.safetensors"); });
  return 0;
}
