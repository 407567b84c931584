// Where `tokenize` and `detokenize` get a tokenizer. The commands are shared by aprc and aprc-rt;
// each tool defines this for what it reads: aprc any model file, tokenizer.json or plan
// (tools/aprc/tokenizer_source.cpp), aprc-rt plans only (tools/aprc-rt/tokenizer_source.cpp).
#pragma once

#include <string>

#include "aprc/tokenizer.h"

namespace aprc {

Tokenizer load_command_tokenizer(const std::string& path);

}  // namespace aprc
