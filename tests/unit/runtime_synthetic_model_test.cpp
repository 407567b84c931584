// The compiler's view of a synthetic preset (frontend/synthetic_model.cpp): a Model that passes the
// frontend's checks and holds exactly the bytes a synthetic plan generates.
#include <gtest/gtest.h>

#include "aprc/synthetic_model.h"
#include "aprc/thread_pool.h"
#include "plan_test_util.h"

namespace aprc {
namespace {

TEST(SyntheticModel, IsAValidModelWithThePlansBytes) {
  Model m = synthetic_model("tiny", 5, test::small_tokenizer());
  EXPECT_EQ(m.format, "synthetic");
  EXPECT_EQ(m.path, "synthetic:tiny");
  EXPECT_EQ(m.config, synthetic_config("tiny"));
  EXPECT_NO_THROW(check_model(m));
  const std::vector<SyntheticTensor> tensors = synthetic_tensors(m.config);
  ASSERT_EQ(m.tensors.size(), tensors.size());
  ThreadPool pool(2);
  for (const SyntheticTensor& t : tensors) {
    const TensorRef& r = m.tensor(t.name);
    EXPECT_EQ(r.dtype, t.dtype) << t.name;
    EXPECT_EQ(r.shape, t.shape) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.bytes.data()) % 64, 0u) << t.name;
    if (t.name.find("layers.1.") != std::string::npos || t.name.find("embed") != std::string::npos) {
      const std::vector<uint8_t> expect = generate_synthetic_tensor(5, t, pool);
      EXPECT_TRUE(std::equal(r.bytes.begin(), r.bytes.end(), expect.begin(), expect.end())) << t.name;
    }
  }
  EXPECT_EQ(m.output_weight().name, "model.embed_tokens.weight");  // tied
}

TEST(SyntheticModel, CanSkipTheWeights) {
  Model m = synthetic_model("qwen2.5-7b", 5, test::small_tokenizer(), false);
  EXPECT_EQ(m.tensors.size(), 3u + 28 * 12);
  EXPECT_TRUE(m.tensor("lm_head.weight").bytes.empty());
  EXPECT_EQ(m.tensor("lm_head.weight").dtype, DType::Q6_K);
  EXPECT_NO_THROW(check_config(m.config, m.path));
}

}  // namespace
}  // namespace aprc
