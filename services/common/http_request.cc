#include "services/common/http_request.h"

namespace tern::common {
namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '!' || c == '#' || c == '$' || c == '%' || c == '&' ||
         c == '\'' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~';
}

}  // namespace

HttpParseResult ParseHttpRequestHead(std::string_view buffer, size_t max_head) {
  const std::string_view window = buffer.substr(0, max_head);
  size_t end = window.find("\r\n\r\n");
  size_t terminator = 4;
  if (end == std::string_view::npos) {
    // Tolerate bare-LF clients.
    end = window.find("\n\n");
    terminator = 2;
  }
  if (end == std::string_view::npos) {
    if (buffer.size() >= max_head) return HttpParseError{431, "request head too large"};
    return HttpNeedMore{};
  }
  const std::string_view head = window.substr(0, end);
  const size_t line_end = head.find('\n');
  std::string_view line = head.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return HttpParseError{400, "bad request line"};
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return HttpParseError{400, "bad request line"};
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!IsTokenChar(c)) return HttpParseError{400, "bad method"};
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return HttpParseError{505, "HTTP version not supported"};
  }
  if (target.empty() || target.front() != '/') return HttpParseError{400, "bad target"};
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
      return HttpParseError{400, "bad target"};
    }
  }
  HttpRequestHead out;
  out.method = std::string(method);
  out.path = std::string(target.substr(0, target.find('?')));
  out.version = std::string(version);
  out.head_size = end + terminator;
  return out;
}

}  // namespace tern::common
