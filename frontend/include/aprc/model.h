// The canonical in-memory model that every importer (GGUF, APR v2, Hugging Face) produces and the
// compiler consumes. Tensor bytes are views into memory-mapped files that the Model keeps alive;
// nothing is copied, and a tied output projection is the embedding itself.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/mapped_file.h"
#include "aprc/model_config.h"
#include "aprc/tokenizer_data.h"

namespace aprc {

// One tensor under its canonical (Hugging Face) name.
struct TensorRef {
  std::string name;           // canonical name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::string source_name;    // the name in the file it came from, e.g. "blk.0.attn_q.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first: [out, in] for matrices
  std::span<const uint8_t> bytes;
  std::shared_ptr<const MappedFile> file;  // keeps `bytes` alive
  std::string file_path() const { return file ? file->path() : std::string(); }

  TensorView view() const { return TensorView{dtype, shape, bytes}; }
};

struct Model {
  std::string format;  // "gguf", "apr", "safetensors"
  std::string path;    // what the user named
  ModelConfig config;
  std::map<std::string, TensorRef> tensors;  // by canonical name
  TokenizerData tokenizer;
  // How many tokens and merges the file holds; equal to tokenizer.tokens/merges sizes unless the
  // model was loaded without its vocabulary (LoadOptions::vocabulary = false).
  int64_t tokenizer_tokens = 0;
  int64_t tokenizer_merges = 0;

  // Throws Error(BadInput) "PATH: missing tensor 'NAME'" when absent.
  const TensorRef& tensor(const std::string& name) const;
  const TensorRef* find(const std::string& name) const;
  // The output projection: lm_head.weight, or the embedding when tied.
  const TensorRef& output_weight() const;
};

// Canonical tensor names, so that no part of aprc spells them by hand.
namespace names {
std::string embed_tokens();                      // model.embed_tokens.weight
std::string lm_head();                           // lm_head.weight
std::string final_norm();                        // model.norm.weight
std::string layer(int64_t i, const char* rest);  // model.layers.I.<rest>
}  // namespace names

struct LoadOptions {
  // false: leave tokenizer.tokens and tokenizer.merges empty (token_types, ids and the template are
  // still read) and keep only their counts. `aprc inspect` uses this so that looking at a file
  // costs a few MB, not the vocabulary's strings.
  bool vocabulary = true;
};

// Loads any supported model: a .gguf file (or any file of a split set), an .apr file, or a Hugging
// Face folder. Checks the tensors against the config (names present, shapes consistent).
Model load_model(const std::string& path, const LoadOptions& options = {});

// The checks load_model makes, for models built in memory. check_config: the numbers are positive,
// in range and consistent (heads divisible by kv heads, ...); `path` names the source in errors.
// check_model: check_config, then every required tensor is present with the shape the config
// implies and a byte size matching its dtype, no layer tensor lies beyond num_layers, and the
// tokenizer fits the vocabulary.
void check_config(const ModelConfig& config, const std::string& path);
void check_model(const Model& model);

}  // namespace aprc
