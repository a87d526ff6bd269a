#pragma once

// SMTP/LMTP replies (RFC 5321 4.2) with enhanced status codes (RFC 2034, RFC 3463). One
// builder for every reply tern-lmtpd sends, so a reply is always well-formed: a three-digit
// code, the enhanced code whose class matches the code's first digit, CRLF after each line,
// "code-" on every line but the last and "code " on the last (RFC 5321 4.2.1).

#include <string>
#include <string_view>
#include <vector>

namespace tern::lmtp::protocol {

// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the CRLF.
inline constexpr size_t kMaxReplyLine = 512;

struct Reply {
  int code = 0;                    // 200..599
  std::string enhanced;            // "2.1.5"; empty for 220/221/354 and the greeting-like ones
  std::vector<std::string> lines;  // at least one; each without CR/LF

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  friend bool operator==(const Reply&, const Reply&) = default;
};

Reply MakeReply(int code, std::string_view enhanced, std::string_view text);

// Appends the reply to `out`. Text is cleaned (CR, LF and other control characters become
// spaces) and cut so that every line stays within kMaxReplyLine. An enhanced code that is
// not class.subject.detail with the code's class (RFC 3463 2) is left out.
void AppendReply(std::string& out, const Reply& reply);
std::string Encode(const Reply& reply);

}  // namespace tern::lmtp::protocol
