// load_model: picks the importer by what the path is (a folder, or a file's magic bytes).
#include <cstring>
#include <filesystem>

#include "aprc/error.h"
#include "aprc/model.h"
#include "readers.h"

namespace aprc {

Model load_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw_bad_input(path + ": no such file or folder");
  if (fs::is_directory(status)) throw_bad_input(path + ": Hugging Face folders are not readable yet");

  auto file = MappedFile::open(path);
  const auto bytes = file->bytes();
  auto starts_with = [&](const char* magic, size_t n) { return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0; };
  if (starts_with("GGUF", 4)) return load_gguf(path);
  if (starts_with("APR", 3)) throw_bad_input(path + ": APR files are not readable yet");
  throw_bad_input(path + ": not a model file aprc reads (expected a GGUF file, an APR v2 file, or a Hugging Face "
                         "folder)");
}

}  // namespace aprc
