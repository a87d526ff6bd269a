#include "services/common/log.h"

#include <gtest/gtest.h>

namespace tern::common {
namespace {

TEST(LogTest, EscapesJsonAndReplacesInvalidUtf8) {
  std::string out;
  AppendJsonEscaped(out, "a\"b\\c\nd\x01 \xc3\xa9 \xff");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\u0001 \xc3\xa9 \\ufffd");
}

TEST(LogTest, LineHasTheStandardFieldsAndTypedValues) {
  InitLogging("tern-test", "node-1", LogLevel::kDebug, stderr);
  const std::string line = FormatLogLineForTest(LogLevel::kWarn, "hello \"world\"",
                                                {{"count", 3}, {"name", "x"}, {"ok", true}});
  EXPECT_EQ(line.back(), '\n');
  EXPECT_NE(line.find("\"level\":\"warn\""), std::string::npos);
  EXPECT_NE(line.find("\"service\":\"tern-test\""), std::string::npos);
  EXPECT_NE(line.find("\"instance\":\"node-1\""), std::string::npos);
  EXPECT_NE(line.find("\"msg\":\"hello \\\"world\\\"\""), std::string::npos);
  EXPECT_NE(line.find("\"count\":3"), std::string::npos);
  EXPECT_NE(line.find("\"name\":\"x\""), std::string::npos);
  EXPECT_NE(line.find("\"ok\":true"), std::string::npos);
  EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u);
}

TEST(LogTest, ScopedContextAddsRequestIdUntilItEnds) {
  {
    ScopedLogContext ctx("request_id", "abc123");
    EXPECT_NE(FormatLogLineForTest(LogLevel::kInfo, "m", {}).find("\"request_id\":\"abc123\""),
              std::string::npos);
  }
  EXPECT_EQ(FormatLogLineForTest(LogLevel::kInfo, "m", {}).find("request_id"), std::string::npos);
}

TEST(LogTest, ParsesLevelsAndRejectsOthers) {
  LogLevel level;
  EXPECT_TRUE(ParseLogLevel("debug", level).ok());
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("error", level).ok());
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("loud", level).ok());
}

TEST(LogTest, LevelFiltersLines) {
  InitLogging("tern-test", "", LogLevel::kWarn, stderr);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  InitLogging("tern-test", "", LogLevel::kInfo, stderr);
}

}  // namespace
}  // namespace tern::common
