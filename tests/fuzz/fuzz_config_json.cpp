// libFuzzer target: config.json / APR metadata -> ModelConfig (both spellings of every key) and its
// checks; the same JSON is also read as a tokenizer.json, whose reader shares the JSON plumbing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aprc/config_json.h"
#include "aprc/model.h"
#include "aprc/tokenizer_json.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  aprc::fuzz::expect_bad_input_only([&] {
    const nlohmann::json j = aprc::parse_json_text(text, "config.json");
    aprc::fuzz::expect_bad_input_only([&] {
      const aprc::ConfigFromJson c = aprc::config_from_json(j, "config.json");
      aprc::check_config(c.config, "config.json");
    });
    aprc::fuzz::expect_bad_input_only([&] { aprc::tokenizer_from_json(j, "tokenizer.json", &j, "tokenizer_config.json"); });
  });
  return 0;
}
