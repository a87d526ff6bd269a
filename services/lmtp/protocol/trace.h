#pragma once

// The trace header fields final delivery adds at the top of a message (RFC 5321 4.4):
// Return-Path with the reverse-path, and a Received field recording where the message came
// from, which server took it, the protocol (RFC 3848, RFC 6531 3.7.3), the transaction id,
// the recipient when there is exactly one, and the time.

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace tern::lmtp::protocol {

struct TraceInfo {
  std::string reverse_path;              // without angle brackets; empty for the null path "<>"
  std::string helo;                      // the client's HELO/EHLO/LHLO argument
  std::string peer_ip;                   // "192.0.2.1" or "2001:db8::1"
  std::string by;                        // this server's host name
  std::string with;                      // "LMTP", "ESMTPS", "UTF8SMTPS", ... (see WithProtocol)
  std::string id;                        // the transaction id
  std::optional<std::string> recipient;  // "for <...>", only when there is one recipient
  absl::Time time;
};

// The registered "with" keyword (RFC 3848 for ESMTP/LMTP and their S/A forms, RFC 6531 3.7.3
// for UTF8SMTP/UTF8LMTP): lmtp, esmtp (EHLO rather than HELO), tls, smtputf8.
std::string WithProtocol(bool lmtp, bool esmtp, bool tls, bool smtputf8);

// "Return-Path: <...>\r\nReceived: ...\r\n", folded so no line exceeds 78 characters where
// it can be helped (RFC 5322 2.1.1).
std::string TraceHeaders(const TraceInfo& info);

// An RFC 5322 3.3 date-time in UTC: "Mon, 23 Nov 2026 16:50:00 +0000".
std::string Rfc5322Date(absl::Time time);

}  // namespace tern::lmtp::protocol
