// libFuzzer target: the APR v2 reader. Each input is read twice: as it is (the CRCs reject almost
// every mutation) and with both CRCs recomputed, so that mutations reach the header, index and
// metadata checks behind them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../frontend/readers.h"
#include "aprc/crc32.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aprc::fuzz::expect_bad_input_only([&] { aprc::apr_from_bytes({data, size}, nullptr, "fuzz.apr"); });
  if (size >= 68) {
    std::vector<uint8_t> f(data, data + size);
    const uint32_t header = aprc::crc32_update(aprc::crc32(f.data(), 40), f.data() + 44, 20);
    std::memcpy(f.data() + 40, &header, 4);
    const uint32_t footer = aprc::crc32(f.data(), f.size() - 4);
    std::memcpy(f.data() + f.size() - 4, &footer, 4);
    aprc::fuzz::expect_bad_input_only([&] { aprc::apr_from_bytes(f, nullptr, "fuzz.apr"); });
  }
  return 0;
}
