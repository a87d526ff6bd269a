#pragma once

// The input side of an SMTP/LMTP connection, without I/O: the caller hands it the bytes it
// has, it says how many it consumed and what they were. Three modes:
//  - command lines (RFC 5321 4.1.1), ended by CRLF (a bare LF is tolerated there);
//  - DATA content (RFC 5321 4.1.1.4, 4.5.2), entered by StartData() after the 354 reply:
//    dot-unstuffed and ended by CRLF "." CRLF only. A "." line ended by a bare LF, or a bare
//    LF followed by ".", does not end it (the "SMTP smuggling" ambiguity is never resolved in
//    the attacker's favour);
//  - BDAT chunks (RFC 3030 2), entered by the BDAT command itself: exactly chunk-size octets
//    follow, whether or not the command is accepted, so the reader takes them in any case.
//    When the line does not parse but still names a chunk size ("BDAT 10 junk"), the
//    ErrorEvent is followed by those octets being discarded without an event: they are
//    message data, never commands (RFC 3030 2: "MUST accept and discard").
//
// Content of both kinds goes through one Content, which applies the limits (message size,
// line length, header size) and the policy for bare CR and LF, and keeps the message in
// bounded memory: past max_message nothing more is stored. Every byte is consumed, so a
// message over a limit is read to its end and answered then, never left half-read.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "services/lmtp/protocol/command.h"
#include "services/lmtp/protocol/reply.h"

namespace tern::lmtp::protocol {

enum class BareLineEnds {
  kNormalize,  // a bare CR or LF is stored as CRLF (RFC 5322 2.3: CR and LF only as CRLF)
  kReject,     // the message is refused (RFC 5321 2.3.8: bare CR/LF "MUST NOT" be sent)
};

struct Limits {
  // A command line, its CRLF included. RFC 5321 4.5.3.1.4 sets 512 and lets extensions
  // raise it (SIZE, BODY and SMTPUTF8 parameters, long paths).
  size_t max_command_line = 2048;
  // A line of content, its CRLF included (RFC 5321 4.5.3.1.6: 1000 octets).
  size_t max_text_line = 1000;
  // The message, as stored (after unstuffing); advertised as SIZE (RFC 1870).
  uint64_t max_message = 50ull << 20;
  // The header section, up to and including the empty line that ends it.
  size_t max_header = 1 << 20;
  BareLineEnds bare_line_ends = BareLineEnds::kNormalize;
};

// What was wrong with a message; the first problem found wins.
enum class ContentProblem { kNone, kTooBig, kLineTooLong, kHeaderTooLarge, kBareLineEnd };

// The reply for a refused message (RFC 1870 6.2 / RFC 3463 X.3.4 for size, RFC 5321
// 4.5.3.1.9 for line length).
Reply ProblemReply(ContentProblem problem);

// Collects one message's content.
class Content {
 public:
  explicit Content(const Limits& limits) : limits_(limits) {}
  // Appends content bytes (already unstuffed).
  void Append(std::string_view bytes);
  // The end of the content: a CR still pending is a bare CR.
  void Finish();
  void Clear();

  ContentProblem problem() const { return problem_; }
  // The message as stored: every line ending CRLF with kNormalize.
  std::string& message() { return message_; }
  // Octets received for this message, stored or not.
  uint64_t received() const { return received_; }
  // Bytes held (tests check that the limits bound it).
  size_t MemoryForTest() const { return message_.capacity(); }

 private:
  void Fail(ContentProblem p) {
    if (problem_ == ContentProblem::kNone) problem_ = p;
  }
  void Emit(char c);
  void LineBreak(bool bare);
  // Appends bytes already cut to the room left under max_message, without letting the
  // string's geometric growth reserve more than max_message.
  void Store(std::string_view bytes);

  // A copy: a reference would dangle for Content{Limits{...}} or a copied Reader.
  const Limits limits_;
  std::string message_;
  uint64_t received_ = 0;
  ContentProblem problem_ = ContentProblem::kNone;
  bool pending_cr_ = false;
  size_t line_length_ = 0;  // octets of the current line so far
  bool in_header_ = true;
  size_t header_length_ = 0;
};

// A command line that parsed; for BDAT the chunk's octets follow (see Reader).
struct CommandEvent {
  Command command;
};
// A line that did not parse: answer with `reply` and read on.
struct ErrorEvent {
  Reply reply;
};
// The end of DATA content (CRLF.CRLF) or of a BDAT chunk: content() holds the message so
// far; problems are in content().problem().
struct DataEnd {};
struct ChunkEnd {
  bool last = false;
};

using Event = std::variant<CommandEvent, ErrorEvent, DataEnd, ChunkEnd>;

class Reader {
 public:
  explicit Reader(Limits limits);

  // Reads from `input` (the bytes the caller holds, unconsumed). Sets `consumed` to the
  // number of leading bytes the caller must now drop, and returns the event they completed,
  // or nullopt when more input is needed (everything usable was consumed). One event per
  // call, so the caller can change modes between events.
  std::optional<Event> Next(std::string_view input, size_t& consumed);

  // After "354": what follows is DATA content.
  void StartData();
  // Back to command lines, dropping a partial line (after STARTTLS, RFC 3207 4.2: nothing
  // received before TLS counts).
  void Reset();

  Content& content() { return content_; }
  const Limits& limits() const { return limits_; }
  bool in_data() const { return mode_ != Mode::kCommand; }

 private:
  // kDiscard: the octets of a BDAT chunk whose command line was refused (RFC 3030 2).
  enum class Mode { kCommand, kData, kChunk, kDiscard };
  // DATA decoding state: where in a line the next byte lands.
  enum class DataState { kLineStart, kBody, kCr, kDot, kDotCr };

  std::optional<Event> NextCommand(std::string_view input, size_t& consumed);
  // Feeds DATA bytes; true when the terminating "." line was seen (`used` bytes taken).
  bool FeedData(std::string_view input, size_t& used);

  const Limits limits_;
  Content content_;
  Mode mode_ = Mode::kCommand;
  DataState data_ = DataState::kLineStart;
  uint64_t chunk_left_ = 0;
  bool chunk_last_ = false;
  bool skipping_ = false;  // discarding the rest of an over-long command line
};

}  // namespace tern::lmtp::protocol
