// Assertions shared by the frontend tests: a call fails with BadInput whose one-line message holds
// the given pieces; two models are the same.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "aprc/error.h"
#include "aprc/model.h"

namespace aprc::testing {

inline ::testing::AssertionResult fails_with(const std::function<void()>& f, const std::vector<std::string>& pieces) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (e.kind() != ErrorKind::BadInput) return ::testing::AssertionFailure() << "internal error: " << msg;
    if (msg.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "multi-line message: " << msg;
    for (const std::string& p : pieces)
      if (msg.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << p << "': " << msg;
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "not an aprc::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no error";
}

// Same config, tensor names, dtypes, shapes and bytes, and the same tokenizer.
inline void expect_same_model(const Model& a, const Model& b) {
  EXPECT_EQ(a.config, b.config);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    SCOPED_TRACE(name);
    const TensorRef* o = b.find(name);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->dtype, t.dtype);
    EXPECT_EQ(o->shape, t.shape);
    ASSERT_EQ(o->bytes.size(), t.bytes.size());
    EXPECT_EQ(std::memcmp(o->bytes.data(), t.bytes.data(), t.bytes.size()), 0);
  }
  const TokenizerData &x = a.tokenizer, &y = b.tokenizer;
  EXPECT_EQ(x.tokens, y.tokens);
  EXPECT_EQ(x.token_types, y.token_types);
  EXPECT_EQ(x.merges, y.merges);
  EXPECT_EQ(x.bos_id, y.bos_id);
  EXPECT_EQ(x.eos_id, y.eos_id);
  EXPECT_EQ(x.pad_id, y.pad_id);
  EXPECT_EQ(x.add_bos, y.add_bos);
  EXPECT_EQ(x.model, y.model);
  EXPECT_EQ(x.pre, y.pre);
  EXPECT_EQ(x.pre_regex, y.pre_regex);
  EXPECT_EQ(x.chat_template, y.chat_template);
}

}  // namespace aprc::testing
