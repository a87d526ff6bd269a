#include "services/ctl/mbox.h"

#include <gtest/gtest.h>

#include <sstream>

namespace tern::ctl {
namespace {

std::vector<MboxMessage> ReadAll(const std::string& text, size_t max = 1 << 20,
                                 absl::Status* error = nullptr) {
  std::istringstream in(text);
  MboxReader reader(in, max);
  std::vector<MboxMessage> out;
  for (;;) {
    auto next = reader.Next();
    if (!next.ok()) {
      if (error != nullptr) *error = next.status();
      break;
    }
    if (!next->has_value()) break;
    out.push_back(**next);
  }
  return out;
}

TEST(MboxReaderTest, SplitsUnquotesAndWritesCrlf) {
  const auto msgs = ReadAll(
      "From alice@example.test Mon Jan  1 10:00:00 2024\n"
      "Subject: one\n"
      "\n"
      "body line\n"
      ">From the start of a line\n"
      ">>From twice quoted\n"
      "\n"
      "From bob@example.test Tue Feb  2 11:30:00 2024\n"
      "Subject: two\n"
      "\n"
      "text\n"
      "From at a line start, but not after a blank line\n"
      "\n"
      "\n");
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].bytes,
            "Subject: one\r\n\r\nbody line\r\nFrom the start of a line\r\n>From twice quoted\r\n");
  ASSERT_TRUE(msgs[0].delivered_at.has_value());
  EXPECT_EQ(absl::FormatTime("%Y-%m-%d %H:%M", *msgs[0].delivered_at, absl::UTCTimeZone()),
            "2024-01-01 10:00");
  EXPECT_EQ(msgs[1].bytes,
            "Subject: two\r\n\r\ntext\r\nFrom at a line start, but not after a blank line\r\n\r\n");
}

TEST(MboxReaderTest, EmptyFileHasNoMessages) { EXPECT_TRUE(ReadAll("").empty()); }

TEST(MboxReaderTest, RefusesWhatIsNotMboxAndOversizedMessages) {
  absl::Status error;
  EXPECT_TRUE(ReadAll("Subject: no separator\n\nbody\n", 1 << 20, &error).empty());
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  ReadAll("From a Mon Jan  1 10:00:00 2024\n" + std::string(100, 'x') + "\n", 50, &error);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tern::ctl
