#pragma once

// SMTP and LMTP command lines (RFC 5321 4.1, RFC 2033 4.1), parsed without I/O: one line in
// (without its line ending), a Command or the error Reply out. The grammar is RFC 5321 4.1.2
// (paths and mailboxes, with RFC 6531's UTF-8 addresses), RFC 1870 (SIZE), RFC 6152
// (8BITMIME), RFC 6531 (SMTPUTF8) and RFC 3030 (BDAT). Which commands are allowed when (the
// transaction state) is the session's business; so is whether a UTF-8 address is allowed
// in this transaction (Command::utf8 says that one was used).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "services/lmtp/protocol/reply.h"

namespace tern::lmtp::protocol {

enum class Verb {
  kLhlo,  // RFC 2033 4.1
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kBdat,  // RFC 3030 2
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,  // RFC 3207 4
};

std::string_view VerbName(Verb verb);

// RFC 5321 4.5.3.1.1 and 4.5.3.1.2.
inline constexpr size_t kMaxLocalPart = 64;
inline constexpr size_t kMaxDomain = 255;
// RFC 5321 4.5.3.1.3: a path, the angle brackets included.
inline constexpr size_t kMaxPath = 256;

// A mailbox (RFC 5321 4.1.2): the local part as it means (the quotes of a Quoted-string and
// its backslashes removed) and the domain (or address literal, brackets kept) as sent.
struct Mailbox {
  std::string local;
  std::string domain;
  friend bool operator==(const Mailbox&, const Mailbox&) = default;
};

// local@domain, the local part quoted when it is not a Dot-string (RFC 5321 4.1.2).
std::string FormatMailbox(const Mailbox& mailbox);

enum class Body { kUnspecified, k7Bit, k8BitMime };

struct Command {
  Verb verb;
  // HELO/EHLO/LHLO: the client's domain or address literal. VRFY/EXPN/HELP/NOOP: the rest
  // of the line.
  std::string argument;
  // MAIL: the reverse-path (null for "<>"); RCPT: the forward-path ("<Postmaster>" without
  // a domain gives local "Postmaster" and an empty domain, RFC 5321 4.1.1.3).
  std::optional<Mailbox> path;
  bool utf8 = false;  // the path holds non-ASCII characters (RFC 6531 3.3)
  // MAIL parameters.
  std::optional<uint64_t> size;  // RFC 1870 SIZE=
  Body body = Body::kUnspecified;
  bool smtputf8 = false;  // RFC 6531 3.4
  // BDAT.
  uint64_t chunk_size = 0;
  bool last = false;
  friend bool operator==(const Command&, const Command&) = default;
};

// Parses one command line, without its CRLF. Errors come as the reply to send: 500 5.5.2
// for an unknown command, 501 5.5.4 for bad arguments, 501 5.1.3 / 5.1.7 for a malformed
// recipient / sender address, 555 5.5.4 for a MAIL or RCPT parameter Tern does not know
// (RFC 5321 4.1.1.11, 4.2.2).
std::variant<Command, Reply> ParseCommand(std::string_view line);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF).
bool ValidUtf8(std::string_view s);

}  // namespace tern::lmtp::protocol
