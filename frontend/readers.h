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
Model load_gguf(const std::string& path);
// parts[i] was parsed from files[i] (null in tests); parts[0] carries the metadata.
Model gguf_to_model(const std::vector<GgufFile>& parts, const std::vector<std::shared_ptr<const MappedFile>>& files,
                    const std::string& path);

}  // namespace aprc
