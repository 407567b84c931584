#include <gtest/gtest.h>

#include "aprc/crc32.h"
#include "aprc/error.h"
#include "aprc/formats/formats.h"

namespace aprc {
namespace {

TEST(Crc32, MatchesTheStandardCheckValue) {
  // The CRC-32/ISO-HDLC check value of "123456789".
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
}

// Bad-input messages quote names from the files: whatever those hold, the message is one line of
// readable length.
TEST(Error, BadInputMessagesStayOneReadableLine) {
  try {
    throw_bad_input("f.gguf: key 'a\nb\x01\x7f' is odd");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_STREQ(e.what(), "f.gguf: key 'a\\x0ab\\x01\\x7f' is odd");
  }
  try {
    throw_bad_input("start" + std::string(5000, 'x') + "end");
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_LE(m.size(), 1005u);
    EXPECT_EQ(m.substr(0, 5), "start");
    EXPECT_EQ(m.substr(m.size() - 3), "end");
    EXPECT_NE(m.find(" ... "), std::string::npos);
  }
}

TEST(Formats, BlockSizesMatchGgml) {
  EXPECT_EQ(format_info(DType::Q4_K).block_bytes, 144);
  EXPECT_EQ(format_info(DType::Q6_K).block_bytes, 210);
  EXPECT_EQ(*row_bytes(DType::Q8_0, 64), 68u);
  EXPECT_FALSE(row_bytes(DType::Q4_K, 100).has_value());
}

TEST(Formats, F16DecodesSubnormalsAndSpecials) {
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-08f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
}

}  // namespace
}  // namespace aprc
