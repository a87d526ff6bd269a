// libFuzzer target for the LMTP/SMTP protocol library. The input is fed to a Reader the way
// the session feeds it (the caller keeps the unconsumed bytes and calls Next() until it asks
// for more; StartData() after DATA; BDAT switches by itself; Reset() after STARTTLS; the
// content cleared after each message and on MAIL/RSET), whole and in chunks (the first byte
// picks the chunk size), with the default limits and with tiny ones. Both feeds must produce
// the same events, contents and final state. Each finished message is checked against what
// the limits say about its stored bytes, the content's memory against max_message, every
// reply against the encoder's rules. Every line of the input also goes through ParseCommand
// on its own, and its result through the invariants of the Command (paths, the utf8 flag,
// per-verb fields, FormatMailbox round trip) or of the error reply (codes). Invariants are
// checked with a trap, so a divergence is a crash, not just a sanitizer report.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "services/lmtp/protocol/command.h"
#include "services/lmtp/protocol/input.h"
#include "services/lmtp/protocol/reply.h"
#include "services/lmtp/protocol/trace.h"

namespace {

namespace protocol = tern::lmtp::protocol;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Allocator rounding and the small-string buffer: what Content may hold beyond max_message.
constexpr uint64_t kMemorySlack = 32;

bool HasHigh(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// An encoded reply: CRLF-terminated lines of at most 512 octets, "code-" then "code ".
void CheckEncoded(const protocol::Reply& reply) {
  const std::string wire = protocol::Encode(reply);
  const std::string code = wire.substr(0, 3);
  Check(code[0] >= '2' && code[0] <= '5');
  size_t start = 0;
  while (start < wire.size()) {
    const size_t crlf = wire.find("\r\n", start);
    Check(crlf != std::string::npos);
    const std::string_view line = std::string_view(wire).substr(start, crlf + 2 - start);
    Check(line.size() <= protocol::kMaxReplyLine);
    Check(line.size() >= 6 && line.substr(0, 3) == code);
    Check(line.find_first_of("\r\n") == line.size() - 2);
    start = crlf + 2;
    Check(line[3] == (start == wire.size() ? ' ' : '-'));
  }
}

// The error replies ParseCommand and the Reader give.
void CheckErrorReply(const protocol::Reply& reply) {
  const std::string codes = std::to_string(reply.code) + " " + reply.enhanced;
  Check(codes == "500 5.5.2" || codes == "501 5.5.4" || codes == "501 5.1.3" ||
        codes == "501 5.1.7" || codes == "555 5.5.4");
  Check(reply.lines.size() == 1 && !reply.lines[0].empty());
  Check(reply.permanent());
  CheckEncoded(reply);
}

void CheckMailbox(const protocol::Mailbox& m, bool rcpt) {
  Check(m.local.size() <= protocol::kMaxLocalPart);
  Check(m.domain.size() <= protocol::kMaxDomain);
  if (m.domain.empty()) {
    // Only "<Postmaster>" has no domain (RFC 5321 4.1.1.3).
    Check(rcpt && EqualsIgnoreCase(m.local, "postmaster"));
  }
  Check(m.local.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  // (An address literal may hold "<", ">" and "@": dcontent, RFC 5321 4.1.3.)
  Check(m.domain.find_first_of(std::string_view("\r\n\0 ", 4)) == std::string::npos);
  // FormatMailbox gives a form that parses back to the same mailbox.
  const std::string text = protocol::FormatMailbox(m);
  if (text.size() + 2 <= protocol::kMaxPath) {
    const auto again = protocol::ParseCommand("RCPT TO:<" + text + ">");
    const auto* command = std::get_if<protocol::Command>(&again);
    Check(command != nullptr && command->path == m);
  }
}

// `from_reader`: the line came through the Reader, which refuses NUL and CR in a command line
// (ParseCommand alone passes them on in free-form arguments such as NOOP's).
void CheckCommand(const protocol::Command& c, bool from_reader) {
  Check(protocol::VerbName(c.verb) != "?");
  const bool mail = c.verb == protocol::Verb::kMail;
  const bool rcpt = c.verb == protocol::Verb::kRcpt;
  if (!mail && !rcpt) Check(!c.path && !c.utf8);
  if (rcpt) Check(c.path.has_value());
  if (c.path) {
    CheckMailbox(*c.path, rcpt);
    // The utf8 flag says exactly whether the address has non-ASCII octets, which are then
    // valid UTF-8 in each part.
    Check(c.utf8 == (HasHigh(c.path->local) || HasHigh(c.path->domain)));
    if (c.utf8) Check(protocol::ValidUtf8(c.path->local) && protocol::ValidUtf8(c.path->domain));
  } else {
    Check(!c.utf8);
  }
  if (!mail) Check(!c.size && c.body == protocol::Body::kUnspecified && !c.smtputf8);
  if (c.verb != protocol::Verb::kBdat) Check(c.chunk_size == 0 && !c.last);
  if (from_reader) {
    Check(c.argument.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  }
  switch (c.verb) {
    case protocol::Verb::kLhlo:
    case protocol::Verb::kEhlo:
    case protocol::Verb::kHelo:
      Check(!c.argument.empty() && c.argument.find(' ') == std::string::npos);
      break;
    case protocol::Verb::kVrfy:
    case protocol::Verb::kExpn:
      Check(!c.argument.empty());
      break;
    case protocol::Verb::kNoop:
    case protocol::Verb::kHelp:
      break;
    default:
      Check(c.argument.empty());
  }
}

// One line on its own: invariants, and the same answer with trailing white space added or the
// verb's case changed.
void CheckLine(std::string_view line) {
  const auto parsed = protocol::ParseCommand(line);
  if (const auto* reply = std::get_if<protocol::Reply>(&parsed)) {
    CheckErrorReply(*reply);
  } else {
    const auto& command = std::get<protocol::Command>(parsed);
    CheckCommand(command, /*from_reader=*/false);
    std::string_view verb = line.substr(0, line.find(' '));
    while (!verb.empty() && (verb.back() == ' ' || verb.back() == '\t')) verb.remove_suffix(1);
    Check(EqualsIgnoreCase(verb, protocol::VerbName(command.verb)));
  }
  Check(protocol::ParseCommand(std::string(line) + " \t") == parsed);
  std::string lower(line);
  for (size_t i = 0; i < lower.size() && lower[i] != ' '; ++i) {
    lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[i])));
  }
  Check(protocol::ParseCommand(lower) == parsed);
}

// A finished message (DataEnd, last ChunkEnd) against what the limits say about its stored
// bytes.
void CheckMessage(const std::string& message, protocol::ContentProblem problem,
                  const protocol::Limits& limits, bool data) {
  Check(message.size() <= limits.max_message);
  if (problem == protocol::ContentProblem::kTooBig) Check(message.size() == limits.max_message);
  // Content past max_message is dropped whatever problem was found first; without a problem
  // nothing was.
  const bool cut =
      problem != protocol::ContentProblem::kNone && message.size() == limits.max_message;
  // CR and LF only as CRLF (a cut may leave a last lone CR).
  const std::string_view whole = cut && !message.empty() && message.back() == '\r'
                                     ? std::string_view(message).substr(0, message.size() - 1)
                                     : std::string_view(message);
  for (size_t i = 0; i < whole.size(); ++i) {
    if (whole[i] == '\r') Check(i + 1 < whole.size() && whole[i + 1] == '\n');
    if (whole[i] == '\n') Check(i > 0 && whole[i - 1] == '\r');
  }
  if (cut) return;
  // DATA content ends with its CRLF (the one before the ".").
  if (data) Check(message.empty() || message.ends_with("\r\n"));
  bool lines_ok = true;
  bool in_header = true;
  uint64_t header = 0;
  size_t start = 0;
  for (;;) {
    const size_t crlf = message.find("\r\n", start);
    const size_t length = (crlf == std::string::npos ? message.size() : crlf) - start;
    if (crlf == std::string::npos) {
      // The last line, without its line ending (always empty for DATA).
      lines_ok = lines_ok && length + 2 <= limits.max_text_line;
      if (in_header) header += length;
      break;
    }
    lines_ok = lines_ok && length + 2 <= limits.max_text_line;
    if (in_header) {
      header += length + 2;
      in_header = length != 0;
    }
    start = crlf + 2;
  }
  const bool header_ok = header <= limits.max_header;
  if (problem == protocol::ContentProblem::kNone) Check(lines_ok && header_ok);
  if (problem == protocol::ContentProblem::kLineTooLong) Check(!lines_ok);
  if (problem == protocol::ContentProblem::kHeaderTooLarge) Check(!header_ok);
  if (problem == protocol::ContentProblem::kBareLineEnd) {
    Check(limits.bare_line_ends == protocol::BareLineEnds::kReject);
  }
  if (limits.bare_line_ends == protocol::BareLineEnds::kNormalize &&
      message.size() < limits.max_message && lines_ok && header_ok) {
    Check(problem == protocol::ContentProblem::kNone);
  }
}

// The trace fields for a client-chosen HELO and sender keep the header's shape; the Received
// field is ASCII unless the transaction is SMTPUTF8 (RFC 6531 3.7.3).
void CheckTrace(const protocol::Command& helo, const std::optional<protocol::Mailbox>& from) {
  const bool utf8 = HasHigh(helo.argument);
  protocol::TraceInfo info{
      .reverse_path = from ? protocol::FormatMailbox(*from) : "",
      .helo = helo.argument,
      .peer_ip = utf8 ? "2001:db8::1" : "192.0.2.1",
      .by = "mx.tern.example",
      .with = protocol::WithProtocol(helo.verb == protocol::Verb::kLhlo,
                                     helo.verb != protocol::Verb::kHelo, utf8, utf8),
      .id = "fuzz.1",
      .recipient = "rcpt@example.org",
      .time = absl::UnixEpoch(),
  };
  const std::string block = protocol::TraceHeaders(info);
  Check(block.starts_with("Return-Path: <") && block.ends_with("\r\n"));
  size_t start = 0;
  size_t n = 0;
  while (start < block.size()) {
    const size_t crlf = block.find("\r\n", start);
    Check(crlf != std::string::npos);
    const std::string_view line = std::string_view(block).substr(start, crlf - start);
    Check(line.size() <= 998 && line.find_first_of("\r\n") == std::string_view::npos);
    if (n == 1) Check(line.starts_with("Received: "));
    if (n >= 2) Check(line.starts_with("\t"));
    if (!utf8 && n >= 1) Check(!HasHigh(line));
    start = crlf + 2;
    ++n;
  }
  Check(n >= 2);
}

// One event as the session sees it.
struct Record {
  int kind = 0;  // 0 command, 1 error, 2 DataEnd, 3 ChunkEnd
  protocol::Command command{.verb = protocol::Verb::kNoop};
  protocol::Reply reply;
  bool last = false;
  std::string message;
  protocol::ContentProblem problem = protocol::ContentProblem::kNone;
  uint64_t received = 0;
  friend bool operator==(const Record&, const Record&) = default;
};

struct Outcome {
  std::vector<Record> records;
  size_t pending = 0;
  bool in_data = false;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

Outcome Run(std::string_view input, const protocol::Limits& limits, size_t chunk) {
  protocol::Reader reader{limits};
  Outcome out;
  std::string pending;
  std::optional<protocol::Mailbox> from;
  for (size_t i = 0; i < input.size(); i += chunk) {
    pending.append(input.substr(i, chunk));
    for (;;) {
      size_t consumed = 0;
      std::optional<protocol::Event> event = reader.Next(pending, consumed);
      Check(consumed <= pending.size());
      pending.erase(0, consumed);
      protocol::Content& content = reader.content();
      Check(content.MemoryForTest() <= limits.max_message + kMemorySlack);
      if (!event) {
        // Nothing more comes out of what is held.
        size_t again = 0;
        Check(!reader.Next(pending, again) && again == 0);
        // A partial command line is left to the caller, within the line limit.
        if (!reader.in_data()) {
          Check(pending.find('\n') == std::string::npos);
          Check(pending.size() < limits.max_command_line);
        }
        break;
      }
      Record record;
      if (auto* command = std::get_if<protocol::CommandEvent>(&*event)) {
        record.kind = 0;
        record.command = command->command;
        CheckCommand(record.command, /*from_reader=*/true);
        switch (record.command.verb) {
          case protocol::Verb::kData:
            reader.StartData();
            break;
          case protocol::Verb::kStartTls:
            reader.Reset();
            break;
          case protocol::Verb::kMail:
            from = record.command.path;
            content.Clear();
            break;
          case protocol::Verb::kRset:
            content.Clear();
            break;
          case protocol::Verb::kLhlo:
          case protocol::Verb::kEhlo:
          case protocol::Verb::kHelo:
            CheckTrace(record.command, from);
            break;
          default:
            break;
        }
        Check(reader.in_data() == (record.command.verb == protocol::Verb::kData ||
                                   record.command.verb == protocol::Verb::kBdat));
      } else if (auto* error = std::get_if<protocol::ErrorEvent>(&*event)) {
        record.kind = 1;
        record.reply = error->reply;
        CheckErrorReply(record.reply);
      } else {
        const auto* chunk_end = std::get_if<protocol::ChunkEnd>(&*event);
        record.kind = chunk_end == nullptr ? 2 : 3;
        record.last = chunk_end != nullptr && chunk_end->last;
        record.message = content.message();
        record.problem = content.problem();
        record.received = content.received();
        Check(!reader.in_data());
        if (chunk_end == nullptr || chunk_end->last) {
          CheckMessage(record.message, record.problem, limits, chunk_end == nullptr);
          if (record.problem != protocol::ContentProblem::kNone) {
            CheckEncoded(protocol::ProblemReply(record.problem));
            Check(protocol::ProblemReply(record.problem).permanent());
          }
          content.Clear();
        }
      }
      out.records.push_back(std::move(record));
    }
  }
  out.pending = pending.size();
  out.in_data = reader.in_data();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks the chunk size of the second feed.
  const size_t chunk = 1 + data[0] % 17;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};

  const protocol::Limits defaults;
  const protocol::Limits tiny{.max_command_line = 40,
                              .max_text_line = 12,
                              .max_message = 48,
                              .max_header = 24,
                              .bare_line_ends = protocol::BareLineEnds::kNormalize};
  protocol::Limits tiny_reject = tiny;
  tiny_reject.bare_line_ends = protocol::BareLineEnds::kReject;
  for (const protocol::Limits& limits : {defaults, tiny, tiny_reject}) {
    const Outcome whole = Run(input, limits, input.size() + 1);
    Check(whole == Run(input, limits, chunk));
  }

  // Every line on its own, and the bytes as reply text.
  size_t start = 0;
  for (int lines = 0; start < input.size() && lines < 64; ++lines) {
    const size_t lf = input.find('\n', start);
    const size_t end = lf == std::string_view::npos ? input.size() : lf;
    std::string_view line = input.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    CheckLine(line);
    start = end + 1;
  }
  const int code = 200 + data[0] % 400;
  CheckEncoded(protocol::MakeReply(code, input.substr(0, 12), input));
  CheckEncoded(
      protocol::Reply{.code = code, .enhanced = "5.0.0", .lines = {"a", std::string(input)}});
  return 0;
}
