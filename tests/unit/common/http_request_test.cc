#include "services/common/http_request.h"

#include <gtest/gtest.h>

namespace tern::common {
namespace {

// Feeds the request whole and growing byte by byte; both must agree.
HttpParseResult ParseBothWays(std::string_view request, size_t max_head = 8192) {
  std::string buffer;
  HttpParseResult last = HttpNeedMore{};
  for (char c : request) {
    buffer.push_back(c);
    last = ParseHttpRequestHead(buffer, max_head);
    if (!std::holds_alternative<HttpNeedMore>(last)) break;
  }
  const HttpParseResult whole = ParseHttpRequestHead(request, max_head);
  EXPECT_EQ(last.index(), whole.index());
  return whole;
}

TEST(HttpRequestTest, ParsesGetWithQuery) {
  auto r = ParseBothWays("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(std::holds_alternative<HttpRequestHead>(r));
  const auto& head = std::get<HttpRequestHead>(r);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.path, "/metrics");
  EXPECT_EQ(head.version, "HTTP/1.1");
}

TEST(HttpRequestTest, NeedsMoreUntilTheBlankLine) {
  EXPECT_TRUE(std::holds_alternative<HttpNeedMore>(
      ParseHttpRequestHead("GET / HTTP/1.1\r\nHost: a\r\n", 8192)));
}

TEST(HttpRequestTest, RejectsMalformedRequests) {
  auto bad = ParseBothWays("GARBAGE\r\n\r\n");
  ASSERT_TRUE(std::holds_alternative<HttpParseError>(bad));
  EXPECT_EQ(std::get<HttpParseError>(bad).status, 400);
  auto version = ParseBothWays("GET / HTTP/2.0\r\n\r\n");
  ASSERT_TRUE(std::holds_alternative<HttpParseError>(version));
  EXPECT_EQ(std::get<HttpParseError>(version).status, 505);
  auto target = ParseBothWays("GET metrics HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(std::holds_alternative<HttpParseError>(target));
  EXPECT_EQ(std::get<HttpParseError>(target).status, 400);
}

TEST(HttpRequestTest, OversizedHeadIs431AndBounded) {
  const std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(10000, 'a') + "\r\n\r\n";
  auto r = ParseHttpRequestHead(huge, 1024);
  ASSERT_TRUE(std::holds_alternative<HttpParseError>(r));
  EXPECT_EQ(std::get<HttpParseError>(r).status, 431);
}

}  // namespace
}  // namespace tern::common
