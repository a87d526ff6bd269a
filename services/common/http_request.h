#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace tern::common {

// The head of an HTTP/1.x request, enough to route /metrics, /healthz and /readyz.
struct HttpRequestHead {
  std::string method;
  std::string path;  // target without the query string
  std::string version;
  size_t head_size = 0;  // bytes up to and including the blank line
};

struct HttpNeedMore {};
struct HttpParseError {
  int status;  // 400, 414, 431 or 505
  std::string reason;
};

using HttpParseResult = std::variant<HttpNeedMore, HttpRequestHead, HttpParseError>;

// Pure and bounded: looks at the bytes received so far and says whether a complete request
// head is there. Never reads past max_head bytes (a longer head is 431).
HttpParseResult ParseHttpRequestHead(std::string_view buffer, size_t max_head);

}  // namespace tern::common
