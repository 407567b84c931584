#include "aprc/tokenizer.h"
#include "utf8.h"

namespace aprc {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  if (id < 0 || id >= tokenizer_->size()) return {};
  if (skip_special_ && tokenizer_->is_control(id)) return {};
  pending_ += tokenizer_->token_bytes(id);
  std::string out;
  size_t used = tokenizer_detail::utf8_append_lossy(pending_, out, /*final_chunk=*/false);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  tokenizer_detail::utf8_append_lossy(pending_, out, /*final_chunk=*/true);
  pending_.clear();
  return out;
}

}  // namespace aprc
