#pragma once

// The only place that writes POP3 protocol bytes (RFC 1939 3, RFC 2449 3 and 8, RFC 5034 4).
// Every function appends to `out`; none of them can produce an invalid response for any
// input: response text loses CR, LF and NUL, single lines stay within 512 octets, multi-line
// bodies are dot-stuffed with every line ending in exactly one CRLF.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::pop3::protocol {

// Extended response codes (RFC 2449 8, RFC 3206 4-5), as they appear between the brackets.
// CAPA announces them: RESP-CODES (RFC 2449 6.4) for IN-USE and LOGIN-DELAY, AUTH-RESP-CODE
// (RFC 3206 6) for SYS/... and AUTH; clients that do not know them just read the text.
namespace code {
inline constexpr std::string_view kInUse = "IN-USE";            // RFC 2449 8.1.2
inline constexpr std::string_view kLoginDelay = "LOGIN-DELAY";  // RFC 2449 8.1.1
inline constexpr std::string_view kSysTemp = "SYS/TEMP";        // RFC 3206 4
inline constexpr std::string_view kSysPerm = "SYS/PERM";        // RFC 3206 4
inline constexpr std::string_view kAuth = "AUTH";               // RFC 3206 5
}  // namespace code

// RFC 2449 4: "The maximum length of the first line of a command response (including the
// initial greeting) is unchanged at 512 octets (including the terminating CRLF)."
inline constexpr size_t kMaxResponseLine = 512;

// Response text: CR, LF and NUL become spaces. Text must not start with "[" when no code is
// given (RFC 2449 3 schar excludes it: a client would read a response code); the session's
// texts are constants, so this is not rewritten.
void AppendText(std::string& out, std::string_view text);

// "+OK text\r\n", or "+OK\r\n" for empty text. Text is cut (at a UTF-8 character boundary)
// to keep the line within kMaxResponseLine.
void AppendOk(std::string& out, std::string_view text);
// "-ERR [CODE] text\r\n"; without brackets when `code` is empty. Bytes a response code may
// not hold (RFC 2449 3 rchar, "/" separators: printable US-ASCII except "]") are dropped, and
// so is a code longer than 64 bytes.
void AppendErr(std::string& out, std::string_view text, std::string_view code = {});
// The greeting, "+OK text <timestamp>\r\n" (RFC 1939 4; the timestamp, a msg-id such as
// "<1896.697170952@dbc.mtview.ca.us>", is what APOP digests, RFC 1939 7). No timestamp when
// `timestamp` is empty.
void AppendGreeting(std::string& out, std::string_view text, std::string_view timestamp);
// A SASL challenge, "+ base64\r\n" (RFC 5034 4); an empty challenge is "+ \r\n".
void AppendContinuation(std::string& out, std::string_view base64);

// One line of a multi-line response (RFC 1939 3): CR, LF and NUL become spaces, a leading
// "." is doubled, CRLF is appended.
void AppendMultiLineLine(std::string& out, std::string_view line);
// The end of a multi-line response: ".\r\n".
void AppendTerminator(std::string& out);

// The whole CAPA response (RFC 2449 5): "+OK Capability list follows", one line per entry
// ("SASL PLAIN SCRAM-SHA-256", "RESP-CODES", ...; empty entries are skipped), ".".
void AppendCapabilities(std::string& out, const std::vector<std::string>& capabilities);

// "+OK <count> <octets>\r\n" (RFC 1939 5 STAT drop listing).
void AppendStat(std::string& out, uint64_t count, uint64_t octets);
// "<number> <octets>\r\n", a scan listing line of a multi-line LIST (RFC 1939 5). For
// "LIST n" the same text follows "+OK ": AppendOk(out, "2 200").
void AppendScanLine(std::string& out, uint32_t number, uint64_t octets);
// "<number> <unique-id>\r\n", a line of a multi-line UIDL (RFC 1939 7). The unique-id is
// 1-70 bytes of 0x21-0x7E; ids Tern generates are, and any other byte is dropped here.
void AppendUidLine(std::string& out, uint32_t number, std::string_view unique_id);

// Writes a message as the body of a multi-line response (RFC 1939 3), fed in chunks of any
// size as they arrive from the blob store:
//  - a line that starts with "." gets another "." ("byte-stuffing");
//  - every line ends in CRLF: a bare LF and a bare CR each become CRLF, so a stored message
//    with Unix line endings goes out CRLF-correct; a CR at the end of one chunk followed by LF
//    at the start of the next is one CRLF;
//  - Finish() ends a last line that has no line ending with CRLF and appends ".\r\n".
// The output for a message is the same however it is split into chunks. NUL and 8-bit bytes
// pass unchanged (RFC 1939 leaves the message content alone).
class DotStuffer {
 public:
  void Append(std::string_view chunk, std::string& out);
  // Ends the body and appends the terminator; the stuffer is then ready for a new message.
  void Finish(std::string& out);

 private:
  bool at_line_start_ = true;
  bool pending_cr_ = false;  // a CR was seen last; whether LF follows is not known yet
};

// Selects what TOP sends (RFC 1939 7 "TOP msg n"): the header, the blank line that separates
// it from the body, and the first `body_lines` lines of the body; the whole message when it
// has fewer lines (or no blank line at all). Lines end at CRLF, LF or a bare CR, as for
// DotStuffer. Take() returns the prefix of each chunk to send (pass it to DotStuffer::Append);
// done() tells the caller it can stop reading the message.
class TopFilter {
 public:
  explicit TopFilter(uint64_t body_lines) : remaining_(body_lines) {}

  std::string_view Take(std::string_view chunk);
  bool done() const { return done_; }

 private:
  // Counts a line ending; true when it was the last line to send.
  bool EndLine();

  uint64_t remaining_;
  bool in_header_ = true;
  bool at_line_start_ = true;
  bool pending_cr_ = false;     // the last byte taken was a CR
  bool stop_after_cr_ = false;  // ... and it ended the last line: only an LF may follow
  bool done_ = false;
};

// The octets a client receives for `message` sent by DotStuffer, stuffing and terminator not
// counted: every line ending counted as CRLF, and a last line without one counted with the
// CRLF Finish() gives it. RFC 1939 11: a server that stores single-character line endings
// "simply counts each occurrence of this character in a message as two octets", and
// byte-stuffed dots "must not be counted twice". This is the size STAT, LIST and "+OK <n>
// octets" report (RFC 1939 5: "the exact size of the message"); for a message stored with
// CRLF line endings and a final CRLF it is its stored size.
uint64_t NormalizedSize(std::string_view message);

// One-shot forms: the whole message (RETR) or its TOP selection, dot-stuffed, terminator
// included.
void AppendDotStuffed(std::string& out, std::string_view message);
void AppendTop(std::string& out, std::string_view message, uint64_t body_lines);

}  // namespace tern::pop3::protocol
