#include "services/lmtp/protocol/trace.h"

#include <algorithm>
#include <vector>

#include "services/lmtp/protocol/command.h"

namespace tern::lmtp::protocol {
namespace {

// Keeps header text on one physical line: control characters would break the field.
std::string Clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? '?' : c;
  }
  return out;
}

// The client's HELO argument as a Domain or address literal; anything else is recorded as a
// comment-safe token. At most a domain's length (RFC 5321 4.5.3.1.2): the argument comes from
// the client, and the header line must stay within 998 octets (RFC 5322 2.1.1). Non-ASCII
// only in an SMTPUTF8 transaction (RFC 6531 3.7.3: otherwise trace fields follow RFC 5321).
std::string HeloToken(std::string_view helo, bool utf8) {
  const bool allow_high = utf8 && ValidUtf8(helo);
  std::string out;
  for (const char c : helo.substr(0, kMaxDomain)) {
    const auto u = static_cast<unsigned char>(c);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '[' || c == ']' || c == ':' ||
                    (u >= 0x80 && allow_high);
    out += ok ? c : '_';
  }
  // A UTF-8 sequence cut at the length limit is not left half there.
  while (allow_high && !ValidUtf8(out)) out.pop_back();
  return out.empty() ? "unknown" : out;
}

// RFC 5322 2.1.1: lines SHOULD be at most 78 characters, without the CRLF.
constexpr size_t kFoldAt = 78;

}  // namespace

std::string WithProtocol(bool lmtp, bool esmtp, bool tls, bool smtputf8) {
  std::string out = smtputf8 ? "UTF8" : "";
  if (lmtp) {
    out += "LMTP";
  } else {
    out += smtputf8 ? "SMTP" : esmtp ? "ESMTP" : "SMTP";
  }
  // RFC 3848 defines "ESMTPS"/"LMTPS"; plain SMTP over TLS has no keyword of its own.
  if (tls && (lmtp || esmtp || smtputf8)) out += 'S';
  return out;
}

std::string Rfc5322Date(absl::Time time) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", time, absl::UTCTimeZone());
}

std::string TraceHeaders(const TraceInfo& info) {
  std::string out = "Return-Path: <" + Clean(info.reverse_path) + ">\r\n";
  // RFC 5321 4.4: Stamp = From-domain By-domain Opt-info [CFWS] ";" FWS date-time, with
  // From-domain = "FROM" FWS Extended-Domain and TCP-info = address-literal.
  const bool v6 = info.peer_ip.find(':') != std::string::npos;
  const std::string literal = "[" + std::string(v6 ? "IPv6:" : "") + Clean(info.peer_ip) + "]";
  const bool utf8 = info.with.starts_with("UTF8");
  std::vector<std::string> parts = {
      "from " + HeloToken(info.helo, utf8) + " (" + literal + ")",
      "by " + HeloToken(info.by, utf8) + " (Tern)",
      "with " + info.with,
      "id " + Clean(info.id),
  };
  if (info.recipient) parts.push_back("for <" + Clean(*info.recipient) + ">");
  parts.back() += ";";
  parts.push_back(Rfc5322Date(info.time));
  // Folded between clauses, and between the words of a clause too long for a line of its
  // own (FWS may stand between any two tokens of a Stamp, RFC 5321 4.4).
  std::string line = "Received:";
  const auto empty = [&] { return line == "Received:" || line == "\t"; };
  const auto place = [&](std::string_view text) {
    if (!empty() && line.size() + 1 + text.size() > kFoldAt) {
      out += line + "\r\n";
      line = "\t";
    }
    if (line != "\t") line += ' ';
    line += text;
  };
  for (const std::string& part : parts) {
    if (line.size() + 1 + part.size() <= kFoldAt || (!empty() && 1 + part.size() <= kFoldAt)) {
      place(part);
      continue;
    }
    for (size_t start = 0; start < part.size();) {
      const size_t end = std::min(part.find(' ', start), part.size());
      place(std::string_view(part).substr(start, end - start));
      start = end + 1;
    }
  }
  out += line + "\r\n";
  return out;
}

}  // namespace tern::lmtp::protocol
