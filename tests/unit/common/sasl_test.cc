#include "services/common/sasl.h"

#include <gtest/gtest.h>

namespace tern::common {
namespace {

TEST(DecodeStrictBase64Test, AcceptsPaddedBase64) {
  std::string out;
  ASSERT_TRUE(DecodeStrictBase64("AHVzZXIAcGFzcw==", out));
  EXPECT_EQ(out, std::string("\0user\0pass", 10));
  ASSERT_TRUE(DecodeStrictBase64("", out));
  EXPECT_EQ(out, "");
}

// RFC 4648 3.3: characters outside the alphabet are rejected, not skipped; a SASL response
// with them is malformed (RFC 4422 3.3).
TEST(DecodeStrictBase64Test, RejectsAnythingElse) {
  std::string out;
  EXPECT_FALSE(DecodeStrictBase64("AHVzZXIAcGFzcw", out));      // padding missing
  EXPECT_FALSE(DecodeStrictBase64("AHVz ZXIA", out));           // space
  EXPECT_FALSE(DecodeStrictBase64("AHVzZXIAcGFzcw==\r", out));  // line ending
  EXPECT_FALSE(DecodeStrictBase64("AH-zZXIA", out));            // base64url alphabet
  EXPECT_FALSE(DecodeStrictBase64("*", out));
}

}  // namespace
}  // namespace tern::common
