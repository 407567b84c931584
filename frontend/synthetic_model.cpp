#include "aprc/synthetic_model.h"

#include "aprc/thread_pool.h"

namespace aprc {

Model synthetic_model(std::string_view preset, uint64_t seed, TokenizerData tokenizer, bool generate_weights) {
  Model m;
  m.format = "synthetic";
  m.path = "synthetic:" + std::string(preset);
  m.config = synthetic_config(preset);
  m.tokenizer = std::move(tokenizer);
  const std::vector<SyntheticTensor> tensors = synthetic_tensors(m.config);

  // One block of memory, each tensor 64-byte aligned in it.
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  for (const SyntheticTensor& t : tensors) {
    total = (total + 63) / 64 * 64;
    offsets.push_back(total);
    total += *tensor_bytes(t.dtype, t.shape);
  }
  std::shared_ptr<const MappedFile> memory;
  if (generate_weights) {
    ThreadPool pool;
    memory = MappedFile::anonymous(m.path, total, [&](uint8_t* base) {
      for (size_t i = 0; i < tensors.size(); ++i) {
        const SyntheticTensor& t = tensors[i];
        const uint64_t row = *row_bytes(t.dtype, t.cols());
        pool.parallel_for(t.rows(), 1, [&](int64_t b, int64_t e) {
          generate_synthetic_rows(seed, t, b, e, base + offsets[i] + b * row);
        });
      }
    });
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const SyntheticTensor& t = tensors[i];
    TensorRef r;
    r.name = r.source_name = t.name;
    r.dtype = t.dtype;
    r.shape = t.shape;
    if (memory) {
      r.bytes = memory->bytes().subspan(offsets[i], *tensor_bytes(t.dtype, t.shape));
      r.file = memory;
    }
    m.tensors.emplace(t.name, std::move(r));
  }
  return m;
}

}  // namespace aprc
