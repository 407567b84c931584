// load_model: picks the importer by what the path is (a folder, or a file's magic bytes).
#include <cstring>
#include <filesystem>

#include "aprc/error.h"
#include "aprc/model.h"
#include "readers.h"

namespace aprc {

Model load_model(const std::string& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw_bad_input(path + ": no such file or folder");
  if (fs::is_directory(status)) return load_hf_folder(path, options);
  // A file inside a Hugging Face folder (config.json, a .safetensors shard, the index) names the folder.
  const fs::path p(path);
  const std::string name = p.filename().string();
  if (name == "config.json" || p.extension() == ".safetensors" || name == "model.safetensors.index.json")
    return load_hf_folder(p.parent_path().empty() ? std::string(".") : p.parent_path().string(), options);

  auto file = MappedFile::open(path);
  const auto bytes = file->bytes();
  auto starts_with = [&](const char* magic, size_t n) { return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0; };
  if (starts_with("GGUF", 4)) return load_gguf(path, options);
  if (starts_with("APR", 3)) return apr_from_bytes(bytes, file, path, options);
  throw_bad_input(path + ": not a model file aprc reads (expected a GGUF file, an APR v2 file, or a Hugging Face "
                         "folder)");
}

void settle_tokenizer(Model& m, const LoadOptions& options) {
  m.tokenizer_tokens = static_cast<int64_t>(m.tokenizer.tokens.size());
  m.tokenizer_merges = static_cast<int64_t>(m.tokenizer.merges.size());
  if (!options.vocabulary) {
    m.tokenizer.tokens = {};
    m.tokenizer.merges = {};
  }
}

}  // namespace aprc
