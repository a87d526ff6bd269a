#include "services/lmtp/protocol/reply.h"

namespace tern::lmtp::protocol {
namespace {

// RFC 3463 2: status-code = class "." subject "." detail, class "2" / "4" / "5" and the same
// as the reply code's first digit (RFC 2034 4), subject and detail 1*3digit.
bool EnhancedMatches(std::string_view enhanced, int code) {
  if (enhanced.size() < 5 || enhanced[0] != static_cast<char>('0' + code / 100) ||
      (enhanced[0] != '2' && enhanced[0] != '4' && enhanced[0] != '5') || enhanced[1] != '.') {
    return false;
  }
  size_t digits = 0;
  size_t dots = 0;
  for (const char c : enhanced.substr(2)) {
    if (c >= '0' && c <= '9' && digits < 3) {
      ++digits;
    } else if (c == '.' && digits > 0 && dots == 0) {
      digits = 0;
      ++dots;
    } else {
      return false;
    }
  }
  return dots == 1 && digits > 0;
}

}  // namespace

Reply MakeReply(int code, std::string_view enhanced, std::string_view text) {
  return Reply{.code = code, .enhanced = std::string(enhanced), .lines = {std::string(text)}};
}

void AppendReply(std::string& out, const Reply& reply) {
  const int code = reply.code >= 200 && reply.code <= 599 ? reply.code : 451;
  // A malformed or mismatched enhanced code is left out rather than sent wrong.
  const std::string_view enhanced =
      EnhancedMatches(reply.enhanced, code) ? std::string_view(reply.enhanced) : "";
  const std::vector<std::string> fallback = {""};
  const std::vector<std::string>& lines = reply.lines.empty() ? fallback : reply.lines;
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t start = out.size();
    out += std::to_string(code);
    out += i + 1 == lines.size() ? ' ' : '-';
    if (!enhanced.empty()) {
      out += enhanced;
      if (!lines[i].empty()) out += ' ';
    }
    for (const char c : lines[i]) {
      if (out.size() - start + 2 >= kMaxReplyLine) break;
      const auto u = static_cast<unsigned char>(c);
      out += u < 0x20 || u == 0x7f ? ' ' : c;
    }
    out += "\r\n";
  }
}

std::string Encode(const Reply& reply) {
  std::string out;
  AppendReply(out, reply);
  return out;
}

}  // namespace tern::lmtp::protocol
