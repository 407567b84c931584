// aprc's tokenizers: a plan's, a tokenizer.json (or a Hugging Face folder's), or any model file's.
#include <filesystem>

#include "aprc/error.h"
#include "aprc/model.h"
#include "aprc/plan.h"
#include "aprc/tokenizer_json.h"
#include "tokenizer_source.h"

namespace aprc {

Tokenizer load_command_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  TokenizerData data;
  if (is_plan_file(path)) {
    data = Plan::open(path)->manifest().tokenizer;
  } else {
    std::string json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0 ? path : "";
    if (json.empty() && fs::is_directory(path, ec) && fs::exists(fs::path(path) / "tokenizer.json", ec))
      json = (fs::path(path) / "tokenizer.json").string();
    data = !json.empty() ? load_tokenizer_json(json) : load_model(path).tokenizer;
  }
  if (data.empty()) throw_bad_input(path + ": the model carries no tokenizer");
  return Tokenizer(data, path);
}

}  // namespace aprc
