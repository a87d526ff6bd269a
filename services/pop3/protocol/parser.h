#pragma once

// Push-only POP3 command line parser (RFC 1939 3, RFC 2449 3-4, RFC 5034 4). It does no I/O:
// the caller feeds bytes as they arrive and acts on the events. It knows POP3 line syntax
// only; which verbs exist and how many arguments they take is commands.h's business. The one
// exception is PASS, whose single argument is the rest of the line (RFC 1939 7: "a POP3
// server may treat spaces in the argument as part of the password").
//
// Two line modes:
//  - command mode (the default): each line becomes a Command (or a ParseError);
//  - raw mode, entered by ExpectRawLine(): the next line to complete is emitted verbatim as a
//    RawLine, then the parser is back in command mode. This is how the caller reads a SASL
//    client response during AUTH (RFC 5034 4: a line of base64, or "*" to cancel), which is
//    not a command and may be much longer than one (Limits::max_raw_line).
//
// A mode switch takes effect for the next line to complete, so it must happen before that
// line's bytes are fed. Feed() parses every complete line it is given in the mode current at
// that time; a caller that may switch modes between lines (after AUTH, after STLS) feeds at
// most one line per call, up to and including its LF, and handles the events before feeding
// more, as the IMAP session does. RFC 5034 4 forbids the client to send a response before the
// server's challenge, so a well-behaved client never makes this matter; a client that does
// gets its early response parsed as a command.

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::pop3::protocol {

struct Limits {
  // Bytes of one command line, the CRLF included: RFC 2449 4 raised RFC 1939's 47 octets to
  // 255 and requires servers to accept that much, which covers an AUTH initial response
  // (RFC 5034 4 keeps it within the 255). A line of max_line - 2 bytes plus a bare LF is
  // accepted too.
  size_t max_line = 255;
  // Bytes of one raw line (a SASL response), the CRLF included. RFC 5034 4: these "may be of
  // arbitrary length, depending on the authentication mechanism"; 8192 fits PLAIN, SCRAM and
  // OAuth bearer tokens. Raise it for mechanisms with large tokens (GSSAPI).
  size_t max_raw_line = 8192;
};

// One command line. The RFC 1939 limit of 40 characters per argument is not enforced: RFC
// 2449 4 lifts it ("increases the length restrictions on commands and parameters"), and
// user names that are e-mail addresses are often longer. max_line bounds everything.
struct Command {
  std::string verb;               // the keyword, upper-cased (keywords are case-insensitive)
  std::vector<std::string> args;  // as sent (8-bit bytes kept); PASS: at most one, see above

  friend bool operator==(const Command&, const Command&) = default;
};

// A line read in raw mode, without its line ending; may be empty.
struct RawLine {
  std::string text;

  friend bool operator==(const RawLine&, const RawLine&) = default;
};

// A line that is not a valid command, or is over the limit. Always recoverable: answer
// "-ERR <message>" (RFC 1939 3: a syntactically invalid command gets a negative status
// indicator); the parser continues with the next line. An over-long line is reported as soon
// as it passes the limit and the rest of it is skipped in bounded memory. `raw` is true when
// the line was read in raw mode (the expected SASL response was over max_raw_line): the
// caller ends the AUTH exchange with -ERR, and the parser is back in command mode.
struct ParseError {
  std::string message;
  bool raw = false;

  friend bool operator==(const ParseError&, const ParseError&) = default;
};

using Event = std::variant<Command, RawLine, ParseError>;

class Parser {
 public:
  explicit Parser(Limits limits);

  // Consumes every byte of `bytes`, appending zero or more events to `out`. Lines end in CRLF
  // or a bare LF.
  void Feed(std::string_view bytes, std::vector<Event>& out);

  // The next line to complete is emitted as a RawLine (or a ParseError with raw set when it is
  // over max_raw_line); after that line the parser is back in command mode.
  void ExpectRawLine() { raw_ = true; }
  bool expecting_raw_line() const { return raw_; }

  // Drops a partial line and returns to command mode. After STLS, nothing the client sent
  // before the TLS handshake may be taken as protected (the plaintext command injection that
  // RFC 3207 4.2 rules out for SMTP: "The server MUST discard any knowledge obtained from the
  // client ... prior to the TLS negotiation"): the caller drops its buffered input and calls
  // Reset().
  void Reset();

  // True while part of a line has been received (including a line being skipped as over-long).
  bool in_line() const { return !line_.empty() || overlong_; }
  // Bytes held in buffers (tests check that the limits bound it).
  size_t MemoryForTest() const { return line_.capacity(); }

 private:
  // Bytes a line may hold before its LF: its content plus the CR of CRLF.
  size_t MaxBuffered() const;
  void ProcessLine(std::vector<Event>& out);
  void ParseCommand(std::string_view line, std::vector<Event>& out);
  void Error(std::string message, std::vector<Event>& out);

  const Limits limits_;
  bool raw_ = false;       // the line being received is a raw line
  bool overlong_ = false;  // skipping the rest of a line over the limit
  std::string line_;       // the current line, without its LF
};

}  // namespace tern::pop3::protocol
