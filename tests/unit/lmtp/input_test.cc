#include "services/lmtp/protocol/input.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/lmtp/protocol/command.h"
#include "services/lmtp/protocol/reply.h"

namespace tern::lmtp::protocol {
namespace {

using namespace std::string_literals;

// Allocator rounding and the small-string buffer: what Content may hold beyond max_message.
constexpr uint64_t kMemorySlack = 32;

// One event as the session sees it, with the content as it stood when a DATA or BDAT chunk
// ended.
struct Step {
  enum class Kind { kCommand, kError, kDataEnd, kChunkEnd };
  Kind kind = Kind::kCommand;
  Command command{.verb = Verb::kNoop};
  Reply reply;
  bool last = false;
  std::string message;
  ContentProblem problem = ContentProblem::kNone;
  uint64_t received = 0;
  friend bool operator==(const Step&, const Step&) = default;
};

std::string_view ProblemName(ContentProblem p) {
  switch (p) {
    case ContentProblem::kNone:
      return "none";
    case ContentProblem::kTooBig:
      return "too-big";
    case ContentProblem::kLineTooLong:
      return "line-too-long";
    case ContentProblem::kHeaderTooLarge:
      return "header-too-large";
    case ContentProblem::kBareLineEnd:
      return "bare-line-end";
  }
  return "?";
}

void PrintTo(const Step& step, std::ostream* os) {
  switch (step.kind) {
    case Step::Kind::kCommand:
      *os << "Command(" << VerbName(step.command.verb)
          << " arg=" << testing::PrintToString(step.command.argument)
          << " size=" << step.command.chunk_size << (step.command.last ? " LAST" : "") << ")";
      return;
    case Step::Kind::kError:
      *os << "Error(" << step.reply.code << " " << step.reply.enhanced << " "
          << (step.reply.lines.empty() ? "" : step.reply.lines[0]) << ")";
      return;
    case Step::Kind::kDataEnd:
    case Step::Kind::kChunkEnd:
      *os << (step.kind == Step::Kind::kDataEnd ? "DataEnd(" : "ChunkEnd(")
          << (step.last ? "last " : "") << testing::PrintToString(step.message) << " "
          << ProblemName(step.problem) << " received=" << step.received << ")";
      return;
  }
}

using Steps = std::vector<Step>;

// Drives a Reader the way the session does: the caller holds the unconsumed bytes, calls
// Next() until it wants more input, and after a DATA command calls StartData() (as after its
// 354). The content is cleared after the message ends (DataEnd, last ChunkEnd).
class Driver {
 public:
  explicit Driver(Limits limits, bool start_data = true)
      : reader_(limits), start_data_(start_data) {}

  Steps Feed(std::string_view bytes) {
    pending_ += bytes;
    Steps steps;
    for (;;) {
      size_t consumed = 0;
      std::optional<Event> event = reader_.Next(pending_, consumed);
      EXPECT_LE(consumed, pending_.size());
      pending_.erase(0, std::min(consumed, pending_.size()));
      const uint64_t bound = reader_.limits().max_message + kMemorySlack;
      EXPECT_LE(reader_.content().MemoryForTest(), bound) << "content memory past max_message";
      if (!event) {
        // Nothing more can come out of what is held: asking again consumes nothing.
        size_t again = 0;
        EXPECT_FALSE(reader_.Next(pending_, again).has_value());
        EXPECT_EQ(again, 0u);
        break;
      }
      steps.push_back(ToStep(*event));
    }
    return steps;
  }

  void StartData() { reader_.StartData(); }
  void Reset() {
    reader_.Reset();
    pending_.clear();  // the caller drops what it held, too
  }
  Reader& reader() { return reader_; }
  const std::string& pending() const { return pending_; }

 private:
  Step ToStep(Event& event) {
    Step step;
    if (auto* command = std::get_if<CommandEvent>(&event)) {
      step.kind = Step::Kind::kCommand;
      step.command = command->command;
      if (start_data_ && command->command.verb == Verb::kData) reader_.StartData();
    } else if (auto* error = std::get_if<ErrorEvent>(&event)) {
      step.kind = Step::Kind::kError;
      step.reply = error->reply;
    } else {
      const auto* chunk = std::get_if<ChunkEnd>(&event);
      step.kind = chunk == nullptr ? Step::Kind::kDataEnd : Step::Kind::kChunkEnd;
      step.last = chunk != nullptr && chunk->last;
      Content& content = reader_.content();
      step.message = content.message();
      step.problem = content.problem();
      step.received = content.received();
      if (chunk == nullptr || chunk->last) content.Clear();
    }
    return step;
  }

  Reader reader_;
  bool start_data_;
  std::string pending_;
};

// Every input test runs whole, byte by byte, and in a few other chunk sizes: all must produce
// the same steps (events and contents) and leave the same bytes unconsumed.
Steps RunAll(std::string_view input, Limits limits = Limits{}) {
  Driver whole_driver{limits};
  const Steps whole = whole_driver.Feed(input);
  for (const size_t chunk : {1, 2, 3, 7, 64}) {
    Driver driver{limits};
    Steps steps;
    for (size_t i = 0; i < input.size(); i += chunk) {
      const Steps more = driver.Feed(input.substr(i, chunk));
      steps.insert(steps.end(), more.begin(), more.end());
    }
    EXPECT_EQ(whole, steps) << "whole and " << chunk << "-byte feeds differ";
    EXPECT_EQ(whole_driver.pending(), driver.pending());
    EXPECT_EQ(whole_driver.reader().in_data(), driver.reader().in_data());
  }
  return whole;
}

// For tests that act between feeds: one driver fed whole, one byte by byte, compared after
// every step.
class DualDriver {
 public:
  explicit DualDriver(Limits limits = Limits{}) : whole_{limits}, bytewise_{limits} {}

  Steps Feed(std::string_view input) {
    const Steps whole = whole_.Feed(input);
    Steps bytewise;
    for (const char c : input) {
      const Steps more = bytewise_.Feed(std::string_view(&c, 1));
      bytewise.insert(bytewise.end(), more.begin(), more.end());
    }
    EXPECT_EQ(whole, bytewise) << "whole and byte-by-byte feeds differ";
    EXPECT_EQ(whole_.reader().in_data(), bytewise_.reader().in_data());
    return whole;
  }
  void StartData() {
    whole_.StartData();
    bytewise_.StartData();
  }
  void Reset() {
    whole_.Reset();
    bytewise_.Reset();
  }
  Reader& reader() { return whole_.reader(); }

 private:
  Driver whole_;
  Driver bytewise_;
};

Step Cmd(Verb verb) {
  Step s;
  s.kind = Step::Kind::kCommand;
  s.command.verb = verb;
  return s;
}

Step Cmd(std::string_view line) {
  Step s;
  s.kind = Step::Kind::kCommand;
  s.command = std::get<Command>(ParseCommand(line));
  return s;
}

Step Err(int code, std::string_view enhanced) {
  Step s;
  s.kind = Step::Kind::kError;
  s.reply.code = code;
  s.reply.enhanced = std::string(enhanced);
  return s;
}

Step End(std::string message, ContentProblem problem = ContentProblem::kNone,
         std::optional<uint64_t> received = std::nullopt) {
  Step s;
  s.kind = Step::Kind::kDataEnd;
  s.received = received.value_or(message.size());
  s.message = std::move(message);
  s.problem = problem;
  return s;
}

Step Chunk(std::string message, bool last, ContentProblem problem = ContentProblem::kNone,
           std::optional<uint64_t> received = std::nullopt) {
  Step s = End(std::move(message), problem, received);
  s.kind = Step::Kind::kChunkEnd;
  s.last = last;
  return s;
}

// Error steps compare code and enhanced code only (the text is not pinned down).
Steps WithoutErrorText(Steps steps) {
  for (Step& s : steps) {
    if (s.kind == Step::Kind::kError) s.reply.lines.clear();
  }
  return steps;
}

// The message of the one DataEnd in a DATA session carrying `content`.
Step DataOf(std::string_view content, Limits limits = Limits{}) {
  const Steps steps = RunAll("DATA\r\n"s + std::string(content), limits);
  if (steps.size() != 2 || steps[1].kind != Step::Kind::kDataEnd) {
    ADD_FAILURE() << "expected DATA and DataEnd, got " << testing::PrintToString(steps);
    return Step{};
  }
  return steps[1];
}

Limits Reject() { return Limits{.bare_line_ends = BareLineEnds::kReject}; }

// ---- Command lines ----

TEST(LmtpReaderTest, CommandLinesWithCrlfAndBareLf) {
  const Steps steps = RunAll(
      "LHLO client.example\r\n"
      "MAIL FROM:<a@b.example>\n"
      "RCPT TO:<c@d.example>\r\n"
      "NOOP\r\n"
      "QUIT\n");
  EXPECT_EQ(steps, (Steps{Cmd("LHLO client.example"), Cmd("MAIL FROM:<a@b.example>"),
                          Cmd("RCPT TO:<c@d.example>"), Cmd(Verb::kNoop), Cmd(Verb::kQuit)}));
}

TEST(LmtpReaderTest, PartialLineWaits) {
  DualDriver driver;
  EXPECT_TRUE(driver.Feed("NOO").empty());
  EXPECT_TRUE(driver.Feed("P\r").empty());
  EXPECT_EQ(driver.Feed("\nRS"), (Steps{Cmd(Verb::kNoop)}));
  EXPECT_EQ(driver.Feed("ET\r\n"), (Steps{Cmd(Verb::kRset)}));
  EXPECT_FALSE(driver.reader().in_data());
}

TEST(LmtpReaderTest, ErrorsAreEventsAndReadingGoesOn) {
  const Steps steps =
      WithoutErrorText(RunAll("FOO\r\n"
                              "\r\n"
                              "MAIL FROM:<bad\r\n"
                              "RCPT TO:<a@b.example> NOTIFY=NEVER\r\n"
                              "NOOP\r\n"));
  EXPECT_EQ(steps, (Steps{Err(500, "5.5.2"), Err(500, "5.5.2"), Err(501, "5.1.7"),
                          Err(555, "5.5.4"), Cmd(Verb::kNoop)}));
}

TEST(LmtpReaderTest, CommandLineLengthLimit) {
  const Limits limits{.max_command_line = 16};
  // 14 octets and the CRLF fill the limit exactly.
  const std::string at_limit = "NOOP 123456789";
  ASSERT_EQ(at_limit.size() + 2, limits.max_command_line);
  EXPECT_EQ(RunAll(at_limit + "\r\n", limits).size(), 1u);
  EXPECT_EQ(RunAll(at_limit + "\n", limits).size(), 1u);
  const Steps over = WithoutErrorText(RunAll(at_limit + "0\r\nRSET\r\n", limits));
  EXPECT_EQ(over, (Steps{Err(500, "5.5.2"), Cmd(Verb::kRset)}));
  // A bare LF counts as if it were CRLF.
  EXPECT_EQ(WithoutErrorText(RunAll(at_limit + "0\nRSET\n", limits)),
            (Steps{Err(500, "5.5.2"), Cmd(Verb::kRset)}));
}

// RFC 5321 4.5.3.1.9: "500 Line too long", once, then the next line is a command again.
TEST(LmtpReaderTest, OverlongCommandLineGivesOneError) {
  for (const size_t n : {3000, 2047, 2048, 100000}) {
    SCOPED_TRACE(n);
    const std::string line = "NOOP " + std::string(n, 'x');
    const Steps steps = RunAll(line + "\r\nQUIT\r\n");
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_EQ(steps[0].kind, Step::Kind::kError);
    EXPECT_EQ(steps[0].reply.code, 500);
    EXPECT_EQ(steps[0].reply.enhanced, "5.5.2");
    EXPECT_EQ(steps[0].reply.lines, std::vector<std::string>{"Line too long"});
    EXPECT_EQ(steps[1], Cmd(Verb::kQuit));
  }
}

TEST(LmtpReaderTest, OverlongLineArrivingInPieces) {
  DualDriver driver{Limits{.max_command_line = 16}};
  EXPECT_TRUE(driver.Feed("NOOP 0123456789").empty());
  EXPECT_TRUE(driver.Feed("ABCDEFGHIJKLMNOPQRSTUVWXYZ").empty());
  EXPECT_TRUE(driver.Feed("more and more").empty());
  EXPECT_EQ(WithoutErrorText(driver.Feed("\r\nNOOP\r\n")),
            (Steps{Err(500, "5.5.2"), Cmd(Verb::kNoop)}));
}

TEST(LmtpReaderTest, NulOrCrInACommandLine) {
  EXPECT_EQ(WithoutErrorText(RunAll("NOOP a\0b\r\nRSET\r\n"s)),
            (Steps{Err(500, "5.5.2"), Cmd(Verb::kRset)}));
  EXPECT_EQ(WithoutErrorText(RunAll("\0\r\n"s)), (Steps{Err(500, "5.5.2")}));
  EXPECT_EQ(WithoutErrorText(RunAll("NO\rOP\r\nRSET\r\n")),
            (Steps{Err(500, "5.5.2"), Cmd(Verb::kRset)}));
  EXPECT_EQ(WithoutErrorText(RunAll("NOOP\r\r\n")), (Steps{Err(500, "5.5.2")}));
}

// ---- DATA (RFC 5321 4.1.1.4, 4.5.2) ----

TEST(LmtpReaderTest, DataSession) {
  const Steps steps = RunAll(
      "LHLO client.example\r\n"
      "MAIL FROM:<a@b.example>\r\n"
      "RCPT TO:<c@d.example>\r\n"
      "DATA\r\n"
      "Subject: hi\r\n"
      "\r\n"
      "Hello.\r\n"
      ".\r\n"
      "QUIT\r\n");
  EXPECT_EQ(steps, (Steps{Cmd("LHLO client.example"), Cmd("MAIL FROM:<a@b.example>"),
                          Cmd("RCPT TO:<c@d.example>"), Cmd(Verb::kData),
                          End("Subject: hi\r\n\r\nHello.\r\n"), Cmd(Verb::kQuit)}));
}

TEST(LmtpReaderTest, DataDotUnstuffing) {
  EXPECT_EQ(DataOf("..x\r\n.\r\n").message, ".x\r\n");
  EXPECT_EQ(DataOf(". \r\n.\r\n").message, " \r\n");
  EXPECT_EQ(DataOf("..\r\n.\r\n").message, ".\r\n");
  EXPECT_EQ(DataOf("...\r\n.\r\n").message, "..\r\n");
  EXPECT_EQ(DataOf("a\r\n..\r\n.b\r\n.\r\n").message, "a\r\n.\r\nb\r\n");
  // Only a dot at the start of a line is stuffing.
  EXPECT_EQ(DataOf("a.b\r\nc..\r\n.\r\n").message, "a.b\r\nc..\r\n");
  EXPECT_EQ(DataOf("..\r\n..\r\n.\r\n").received, 6u);
}

TEST(LmtpReaderTest, EmptyMessage) {
  EXPECT_EQ(RunAll("DATA\r\n.\r\nQUIT\r\n"), (Steps{Cmd(Verb::kData), End(""), Cmd(Verb::kQuit)}));
}

TEST(LmtpReaderTest, PipelinedCommandAfterData) {
  EXPECT_EQ(
      RunAll("DATA\r\nx\r\n.\r\nRSET\r\nDATA\r\ny\r\n.\r\n"),
      (Steps{Cmd(Verb::kData), End("x\r\n"), Cmd(Verb::kRset), Cmd(Verb::kData), End("y\r\n")}));
}

// The end is CRLF "." CRLF only: a dot line ended by a bare LF, or a dot line after a bare LF,
// does not end the content ("SMTP smuggling").
TEST(LmtpReaderTest, OnlyCrlfDotCrlfEndsData) {
  // "." LF: the dot is dropped as stuffing and the LF is a (normalized) line end.
  EXPECT_EQ(
      RunAll("DATA\r\na\r\n.\nMAIL FROM:<x@y>\r\n.\r\n"),
      (Steps{Cmd(Verb::kData), End("a\r\n\r\nMAIL FROM:<x@y>\r\n", ContentProblem::kNone, 21)}));
  // LF "." CRLF: the dot is content.
  EXPECT_EQ(RunAll("DATA\r\na\n.\r\nRSET\r\n.\r\n"),
            (Steps{Cmd(Verb::kData), End("a\r\n.\r\nRSET\r\n", ContentProblem::kNone, 11)}));
  // LF "." LF.
  EXPECT_EQ(DataOf("a\n.\nb\r\n.\r\n").message, "a\r\n.\r\nb\r\n");
  // CR "." CR LF: a bare CR is no line start either.
  EXPECT_EQ(DataOf("a\r.\r\nb\r\n.\r\n").message, "a\r\n.\r\nb\r\n");
  // With kReject all of them are refused.
  for (const std::string_view content :
       {"a\r\n.\nb\r\n.\r\n", "a\n.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n.\r\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(content)));
    EXPECT_EQ(DataOf(content, Reject()).problem, ContentProblem::kBareLineEnd);
  }
}

TEST(LmtpReaderTest, DotCrNotFollowedByLf) {
  // "." CR x: the dot was stuffing, the CR is a bare CR.
  EXPECT_EQ(DataOf(".\rx\r\n.\r\n").message, "\r\nx\r\n");
  EXPECT_EQ(DataOf(".\rx\r\n.\r\n", Reject()).problem, ContentProblem::kBareLineEnd);
  // "." CR CR LF: a bare CR, then a CRLF.
  EXPECT_EQ(DataOf(".\r\r\n.\r\n").message, "\r\n\r\n");
  // "." CR "." CR LF: not the end.
  EXPECT_EQ(DataOf(".\r.\r\n.\r\n").message, "\r\n.\r\n");
}

TEST(LmtpReaderTest, WellFormedContentEndsInCrlf) {
  for (const std::string_view content :
       {"a\r\n.\r\n", "\r\n.\r\n", "a\r\n\r\n.\r\n", "..\r\n.\r\n", "x y z\r\n\r\nbody\r\n.\r\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(content)));
    const std::string message = DataOf(content).message;
    ASSERT_GE(message.size(), 2u);
    EXPECT_EQ(message.substr(message.size() - 2), "\r\n");
  }
}

TEST(LmtpReaderTest, BareLineEndsNormalized) {
  EXPECT_EQ(DataOf("a\nb\r\n.\r\n").message, "a\r\nb\r\n");
  EXPECT_EQ(DataOf("a\rb\r\n.\r\n").message, "a\r\nb\r\n");
  EXPECT_EQ(DataOf("a\r\r\nb\r\n.\r\n").message, "a\r\n\r\nb\r\n");
  EXPECT_EQ(DataOf("\n\n\r\n.\r\n").message, "\r\n\r\n\r\n");
  EXPECT_EQ(DataOf("a\n\rb\r\n.\r\n").message, "a\r\n\r\nb\r\n");
  EXPECT_EQ(DataOf("a\nb\r\n.\r\n").problem, ContentProblem::kNone);
  EXPECT_EQ(DataOf("a\r\nb\r\n.\r\n", Reject()).problem, ContentProblem::kNone);
}

TEST(LmtpReaderTest, BareLineEndsRejected) {
  for (const std::string_view content :
       {"a\nb\r\n.\r\n", "a\rb\r\n.\r\n", "a\r\r\n.\r\n", "\n\r\n.\r\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(content)));
    const Step end = DataOf(content, Reject());
    EXPECT_EQ(end.problem, ContentProblem::kBareLineEnd);
    // The content is still read to its end (and stored normalized).
    ASSERT_GE(end.message.size(), 2u);
    EXPECT_EQ(end.message.substr(end.message.size() - 2), "\r\n");
  }
}

// RFC 5321 4.5.3.1.6: 1000 octets including the CRLF, not counting a stuffed dot.
TEST(LmtpReaderTest, TextLineLimit) {
  const std::string x998(998, 'x');
  EXPECT_EQ(DataOf(x998 + "\r\n.\r\n").problem, ContentProblem::kNone);
  EXPECT_EQ(DataOf(x998 + "x\r\n.\r\n").problem, ContentProblem::kLineTooLong);
  EXPECT_EQ(DataOf("." + x998 + "\r\n.\r\n").problem, ContentProblem::kNone);
  EXPECT_EQ(DataOf("." + x998 + "\r\n.\r\n").message, x998 + "\r\n");
  EXPECT_EQ(DataOf(".." + x998 + "\r\n.\r\n").problem, ContentProblem::kLineTooLong);
  // A bare LF ends a line for counting too.
  EXPECT_EQ(DataOf(x998 + "\n" + x998 + "\r\n.\r\n").problem, ContentProblem::kNone);
  // The over-long line is stored whole (only max_message cuts) and read to its end.
  const Steps steps = RunAll("DATA\r\n" + x998 + "xx\r\n.\r\nQUIT\r\n");
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1].message, x998 + "xx\r\n");
  EXPECT_EQ(steps[2], Cmd(Verb::kQuit));
  // A smaller configured limit.
  const Limits small{.max_text_line = 10};
  EXPECT_EQ(DataOf("12345678\r\n.\r\n", small).problem, ContentProblem::kNone);
  EXPECT_EQ(DataOf("123456789\r\n.\r\n", small).problem, ContentProblem::kLineTooLong);
}

TEST(LmtpReaderTest, HeaderLimit) {
  const Limits limits{.max_header = 20};
  // "Subject: 0123456\r\n" (18) + "\r\n" (2) is 20: at the limit.
  EXPECT_EQ(DataOf("Subject: 0123456\r\n\r\nbody\r\n.\r\n", limits).problem, ContentProblem::kNone);
  EXPECT_EQ(DataOf("Subject: 01234567\r\n\r\nbody\r\n.\r\n", limits).problem,
            ContentProblem::kHeaderTooLarge);
  // The body does not count.
  EXPECT_EQ(DataOf("A: b\r\n\r\n" + std::string(500, 'b') + "\r\n.\r\n", limits).problem,
            ContentProblem::kNone);
  // Without an empty line, everything is header.
  EXPECT_EQ(DataOf("A: b\r\n C: ddddddddddddddddd\r\n.\r\n", limits).problem,
            ContentProblem::kHeaderTooLarge);
}

TEST(LmtpReaderTest, MessageSizeLimit) {
  const Limits limits{.max_message = 10};
  // 12 octets fit a 12-octet limit exactly.
  EXPECT_EQ(DataOf("0123456789\r\n.\r\n", Limits{.max_message = 12}).problem,
            ContentProblem::kNone);
  EXPECT_EQ(DataOf("01234567890\r\n.\r\n", Limits{.max_message = 12}).problem,
            ContentProblem::kTooBig);
  // Past the limit nothing more is stored, but every byte is read and the end still found.
  const std::string big(5000, 'z');
  const Steps steps = RunAll("DATA\r\n" + big + "\r\n" + big + "\r\n.\r\nQUIT\r\n",
                             Limits{.max_text_line = 100000, .max_message = 10});
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1], End("zzzzzzzzzz", ContentProblem::kTooBig, 10004));
  EXPECT_EQ(steps[2], Cmd(Verb::kQuit));
  // Line breaks past the limit are not stored either.
  std::string empty_lines;
  for (int i = 0; i < 100; ++i) empty_lines += "\r\n";
  const Step lines = DataOf(empty_lines + ".\r\n", limits);
  EXPECT_EQ(lines.message, "\r\n\r\n\r\n\r\n\r\n");
  EXPECT_EQ(lines.problem, ContentProblem::kTooBig);
}

// The memory Content holds is bounded by max_message (the Driver checks it after every step).
TEST(LmtpReaderTest, ContentMemoryBounded) {
  for (const uint64_t max : {1ull, 15ull, 16ull, 29ull, 100ull, 1000ull, 4096ull, 100000ull}) {
    SCOPED_TRACE(max);
    const Limits limits{.max_text_line = 1 << 20, .max_message = max, .max_header = 1 << 20};
    Driver driver{limits};
    driver.Feed("DATA\r\n");
    for (int i = 0; i < 300; ++i) {
      driver.Feed(std::string(1000, 'm') + "\r\n");
      ASSERT_LE(driver.reader().content().MemoryForTest(), max + kMemorySlack);
    }
    const Steps end = driver.Feed(".\r\n");
    ASSERT_EQ(end.size(), 1u);
    EXPECT_EQ(end[0].message.size(), max);
    EXPECT_EQ(end[0].problem, ContentProblem::kTooBig);
    EXPECT_EQ(end[0].received, 300u * 1002u);
  }
}

// The problem reported does not depend on how the bytes arrived: here the size limit is
// crossed at the 11th octet and the line limit at the 14th.
TEST(LmtpReaderTest, FirstProblemIndependentOfChunking) {
  const Limits limits{.max_command_line = 64, .max_text_line = 15, .max_message = 10};
  const Steps steps = RunAll("BDAT 20 LAST\r\n" + std::string(20, 'x'), limits);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[1].problem, ContentProblem::kTooBig);
  // And the other way round: line at the 4th, size at the 6th.
  const Steps line_first = RunAll("BDAT 20 LAST\r\n" + std::string(20, 'x'),
                                  Limits{.max_text_line = 5, .max_message = 5});
  ASSERT_EQ(line_first.size(), 2u);
  EXPECT_EQ(line_first[1].problem, ContentProblem::kLineTooLong);
  // Header before size.
  const Steps header_first =
      RunAll("BDAT 20 LAST\r\n" + std::string(20, 'h'),
             Limits{.max_text_line = 100, .max_message = 10, .max_header = 4});
  ASSERT_EQ(header_first.size(), 2u);
  EXPECT_EQ(header_first[1].problem, ContentProblem::kHeaderTooLarge);
  // A tie goes to the line limit.
  const Steps tie = RunAll("BDAT 20 LAST\r\n" + std::string(20, 't'),
                           Limits{.max_text_line = 12, .max_message = 10});
  ASSERT_EQ(tie.size(), 2u);
  EXPECT_EQ(tie[1].problem, ContentProblem::kLineTooLong);
}

// ---- BDAT (RFC 3030 2) ----

TEST(LmtpReaderTest, BdatChunksAreRaw) {
  // Dots are not unstuffed and "\r\n.\r\n" inside a chunk is content.
  const std::string chunk = "..x\r\n.\r\nQUIT\r\n";
  const Steps steps =
      RunAll("BDAT " + std::to_string(chunk.size()) + "\r\n" + chunk + "BDAT 0 LAST\r\nQUIT\r\n");
  EXPECT_EQ(steps, (Steps{Cmd("BDAT " + std::to_string(chunk.size())), Chunk(chunk, false),
                          Cmd("BDAT 0 LAST"), Chunk(chunk, true), Cmd(Verb::kQuit)}));
}

TEST(LmtpReaderTest, BdatZeroLastEndsAtOnce) {
  EXPECT_EQ(RunAll("BDAT 0 LAST\r\n"), (Steps{Cmd("BDAT 0 LAST"), Chunk("", true)}));
  EXPECT_EQ(RunAll("BDAT 0\r\nNOOP\r\n"),
            (Steps{Cmd("BDAT 0"), Chunk("", false), Cmd(Verb::kNoop)}));
}

TEST(LmtpReaderTest, BdatChunksAccumulate) {
  const Steps steps = RunAll(
      "BDAT 9\r\nSubject: "
      "BDAT 6\r\nx\r\n\r\nb"
      "BDAT 3 LAST\r\nody"
      "QUIT\r\n");
  EXPECT_EQ(steps, (Steps{Cmd("BDAT 9"), Chunk("Subject: ", false), Cmd("BDAT 6"),
                          Chunk("Subject: x\r\n\r\nb", false), Cmd("BDAT 3 LAST"),
                          Chunk("Subject: x\r\n\r\nbody", true), Cmd(Verb::kQuit)}));
}

TEST(LmtpReaderTest, BdatChunkSplitAcrossManyCalls) {
  DualDriver driver;
  EXPECT_EQ(driver.Feed("BDAT 10 LAST\r\nabc"), (Steps{Cmd("BDAT 10 LAST")}));
  EXPECT_TRUE(driver.reader().in_data());
  EXPECT_TRUE(driver.Feed("").empty());
  EXPECT_TRUE(driver.Feed("def").empty());
  EXPECT_TRUE(driver.Feed("\r\n\r").empty());
  EXPECT_EQ(driver.Feed("\nRSET\r\n"), (Steps{Chunk("abcdef\r\n\r\n", true), Cmd(Verb::kRset)}));
  EXPECT_FALSE(driver.reader().in_data());
}

TEST(LmtpReaderTest, BdatCrlfSplitAcrossChunks) {
  // The CR ends one chunk and the LF starts the next: one CRLF, not two bare line ends.
  const Steps steps = RunAll("BDAT 2\r\na\rBDAT 2 LAST\r\n\nb", Reject());
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[3], Chunk("a\r\nb", true, ContentProblem::kNone, 4));
  // A CR at the very end of the last chunk is bare.
  const Steps bare = RunAll("BDAT 2 LAST\r\na\r", Reject());
  ASSERT_EQ(bare.size(), 2u);
  EXPECT_EQ(bare[1], Chunk("a\r\n", true, ContentProblem::kBareLineEnd, 2));
}

// The last line of a BDAT message may lack its line ending; it still counts.
TEST(LmtpReaderTest, BdatLastLineWithoutLineEnding) {
  const std::string x998(998, 'x');
  EXPECT_EQ(RunAll("BDAT 998 LAST\r\n" + x998)[1].problem, ContentProblem::kNone);
  EXPECT_EQ(RunAll("BDAT 999 LAST\r\n" + x998 + "x")[1].problem, ContentProblem::kLineTooLong);
  EXPECT_EQ(RunAll("BDAT 1001 LAST\r\n" + x998 + "\r\nx")[1].problem, ContentProblem::kNone);
}

TEST(LmtpReaderTest, BdatLimits) {
  const Steps steps =
      RunAll("BDAT 20 LAST\r\n0123456789\r\n01234567NOOP\r\n", Limits{.max_message = 12});
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1], Chunk("0123456789\r\n", true, ContentProblem::kTooBig, 20));
  EXPECT_EQ(steps[2], Cmd(Verb::kNoop));
}

// RFC 3030 2: the octets of a refused BDAT follow anyway; they are discarded, never read as
// commands.
TEST(LmtpReaderTest, RefusedBdatChunkDiscarded) {
  EXPECT_EQ(WithoutErrorText(RunAll("BDAT 6 junk\r\nQUIT\r\nNOOP\r\n")),
            (Steps{Err(501, "5.5.4"), Cmd(Verb::kNoop)}));
  EXPECT_EQ(WithoutErrorText(RunAll("bdat 6 LAST LAST\r\nQUIT\r\nNOOP\r\n")),
            (Steps{Err(501, "5.5.4"), Cmd(Verb::kNoop)}));
  // The discarded octets are not content.
  DualDriver driver;
  EXPECT_EQ(WithoutErrorText(driver.Feed("BDAT 8 FIRST\r\nRSET")), (Steps{Err(501, "5.5.4")}));
  EXPECT_TRUE(driver.reader().in_data());
  EXPECT_EQ(driver.Feed("\r\nab"), Steps{});
  EXPECT_FALSE(driver.reader().in_data());
  EXPECT_EQ(driver.reader().content().received(), 0u);
  EXPECT_EQ(driver.Feed("NOOP\r\n"), (Steps{Cmd(Verb::kNoop)}));
  // No size, nothing to discard: the next line is a command.
  EXPECT_EQ(WithoutErrorText(RunAll("BDAT x\r\nNOOP\r\n")),
            (Steps{Err(501, "5.5.4"), Cmd(Verb::kNoop)}));
  EXPECT_EQ(WithoutErrorText(RunAll("BDAT 0 junk\r\nNOOP\r\n")),
            (Steps{Err(501, "5.5.4"), Cmd(Verb::kNoop)}));
  EXPECT_EQ(WithoutErrorText(RunAll("BDAT\r\nNOOP\r\n")),
            (Steps{Err(501, "5.5.4"), Cmd(Verb::kNoop)}));
}

// ---- Reset, StartData ----

TEST(LmtpReaderTest, ResetReturnsToCommandMode) {
  DualDriver driver;
  EXPECT_EQ(driver.Feed("DATA\r\npartial"), (Steps{Cmd(Verb::kData)}));
  EXPECT_TRUE(driver.reader().in_data());
  driver.Reset();
  EXPECT_FALSE(driver.reader().in_data());
  EXPECT_EQ(driver.reader().content().message(), "");
  EXPECT_EQ(driver.Feed("NOOP\r\n"), (Steps{Cmd(Verb::kNoop)}));

  EXPECT_EQ(driver.Feed("BDAT 100\r\nabc"), (Steps{Cmd("BDAT 100")}));
  driver.Reset();
  EXPECT_EQ(driver.Feed("NOOP\r\n"), (Steps{Cmd(Verb::kNoop)}));
}

// After STARTTLS (RFC 3207 4.2) nothing received before counts: not even the "Line too long"
// an over-long partial line would have earned.
TEST(LmtpReaderTest, ResetDropsAnOverlongPartialLine) {
  DualDriver driver{Limits{.max_command_line = 16}};
  EXPECT_TRUE(driver.Feed("STARTTLS and a lot more").empty());
  driver.Reset();
  EXPECT_EQ(driver.Feed("NOOP\r\n"), (Steps{Cmd(Verb::kNoop)}));
}

TEST(LmtpReaderTest, StartDataClearsTheContent) {
  Driver driver{Limits{}, /*start_data=*/false};
  EXPECT_EQ(driver.Feed("BDAT 3\r\nabc"), (Steps{Cmd("BDAT 3"), Chunk("abc", false)}));
  EXPECT_EQ(driver.Feed("DATA\r\n"), (Steps{Cmd(Verb::kData)}));
  EXPECT_FALSE(driver.reader().in_data());  // only StartData() switches
  driver.StartData();
  EXPECT_TRUE(driver.reader().in_data());
  EXPECT_EQ(driver.Feed("x\r\n.\r\n"), (Steps{End("x\r\n")}));
}

// ---- Content on its own ----

TEST(LmtpContentTest, AppendAndFinish) {
  Content content{Limits{.max_message = 100}};  // a temporary Limits: Content keeps a copy
  content.Append("a\r");
  content.Append("\nb");
  EXPECT_EQ(content.message(), "a\r\nb");
  content.Finish();
  EXPECT_EQ(content.message(), "a\r\nb");
  EXPECT_EQ(content.problem(), ContentProblem::kNone);
  EXPECT_EQ(content.received(), 4u);
  content.Clear();
  EXPECT_EQ(content.message(), "");
  EXPECT_EQ(content.received(), 0u);
  content.Append("x\r");
  content.Finish();
  EXPECT_EQ(content.message(), "x\r\n");
}

TEST(LmtpContentTest, ClearResetsProblemAndHeaderState) {
  Content content{Limits{.max_header = 4, .bare_line_ends = BareLineEnds::kReject}};
  content.Append("long header\r\n\n");
  EXPECT_EQ(content.problem(), ContentProblem::kHeaderTooLarge);
  content.Clear();
  EXPECT_EQ(content.problem(), ContentProblem::kNone);
  content.Append("\r\nbody body body\r\n");
  EXPECT_EQ(content.problem(), ContentProblem::kNone);
}

TEST(LmtpContentTest, ReaderCopiesStayValid) {
  std::optional<Reader> original(Reader{Limits{.max_message = 4}});
  Reader copy = *original;
  original.reset();
  size_t consumed = 0;
  ASSERT_TRUE(copy.Next("BDAT 6 LAST\r\n", consumed).has_value());
  const std::optional<Event> end = copy.Next("abcdef", consumed);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(copy.content().message(), "abcd");
  EXPECT_EQ(copy.content().problem(), ContentProblem::kTooBig);
}

// ---- ProblemReply ----

TEST(LmtpContentTest, ProblemReplies) {
  EXPECT_EQ(ProblemReply(ContentProblem::kTooBig).code, 552);
  EXPECT_EQ(ProblemReply(ContentProblem::kTooBig).enhanced, "5.3.4");
  EXPECT_EQ(ProblemReply(ContentProblem::kHeaderTooLarge).code, 552);
  EXPECT_EQ(ProblemReply(ContentProblem::kHeaderTooLarge).enhanced, "5.3.4");
  EXPECT_EQ(ProblemReply(ContentProblem::kLineTooLong).code, 500);
  EXPECT_EQ(ProblemReply(ContentProblem::kLineTooLong).enhanced, "5.5.2");
  EXPECT_EQ(ProblemReply(ContentProblem::kBareLineEnd).code, 550);
  EXPECT_EQ(ProblemReply(ContentProblem::kBareLineEnd).enhanced, "5.6.0");
  EXPECT_TRUE(ProblemReply(ContentProblem::kNone).positive());
  for (const ContentProblem p : {ContentProblem::kTooBig, ContentProblem::kLineTooLong,
                                 ContentProblem::kHeaderTooLarge, ContentProblem::kBareLineEnd}) {
    EXPECT_TRUE(ProblemReply(p).permanent());
    EXPECT_EQ(Encode(ProblemReply(p)).substr(0, 10),
              std::to_string(ProblemReply(p).code) + " " + ProblemReply(p).enhanced + " ");
  }
}

}  // namespace
}  // namespace tern::lmtp::protocol
