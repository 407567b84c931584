// The importers behind load_model, one per format. Each produces a Model that check_model accepts.
// The *_from_bytes / *_to_model forms take bytes already in memory (the fuzzers and the tests use
// them); `file` may then be null, and tensors point into `bytes`.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "aprc/gguf.h"
#include "aprc/mapped_file.h"
#include "aprc/model.h"

namespace aprc {

// GGUF: one file, or a split set NAME-0000i-of-0000N.gguf loaded from any one of its names.
Model load_gguf(const std::string& path, const LoadOptions& options);
// parts[i] was parsed from files[i] (null in tests); parts[0] carries the metadata.
Model gguf_to_model(const std::vector<GgufFile>& parts, const std::vector<std::shared_ptr<const MappedFile>>& files,
                    const std::string& path, const LoadOptions& options = {});

// APR v2.
Model load_apr(const std::string& path, const LoadOptions& options = {});
Model apr_from_bytes(std::span<const uint8_t> bytes, std::shared_ptr<const MappedFile> file, const std::string& path,
                     const LoadOptions& options = {});

// One safetensors file: the header checked against the file, tensors as views into `bytes`.
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};
std::vector<SafetensorsTensor> parse_safetensors(std::span<const uint8_t> bytes, const std::string& path);

// A Hugging Face folder: config.json, model.safetensors or model.safetensors.index.json, and
// tokenizer.json (with tokenizer_config.json) when present.
Model load_hf_folder(const std::string& dir, const LoadOptions& options = {});

// Records the tokenizer's counts in the model and, without LoadOptions::vocabulary, drops its
// strings. Every reader calls it once the tokenizer is complete.
void settle_tokenizer(Model& model, const LoadOptions& options);

}  // namespace aprc
