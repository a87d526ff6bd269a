#include "services/imap/protocol/encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/imap/protocol/datetime.h"
#include "services/imap/protocol/mutf7.h"
#include "services/imap/protocol/parser.h"

namespace tern::imap::protocol {
namespace {

std::string String(std::string_view s) {
  std::string out;
  AppendString(out, s);
  return out;
}

std::string Astring(std::string_view s) {
  std::string out;
  AppendAstring(out, s);
  return out;
}

std::string Mailbox(std::string_view s) {
  std::string out;
  AppendMailbox(out, s);
  return out;
}

std::string Text(std::string_view s) {
  std::string out;
  AppendText(out, s);
  return out;
}

std::string StatusLine(std::string_view tag, Status status, std::string_view code,
                       std::string_view text) {
  std::string out;
  AppendStatus(out, tag, status, code, text);
  return out;
}

std::string DateTimeText(int64_t unix_seconds, int offset_minutes) {
  std::string out;
  AppendDateTime(out, unix_seconds, offset_minutes);
  return out;
}

// The line ends in exactly one CRLF, and no other CR or LF is in it.
void ExpectSingleLine(const std::string& line) {
  ASSERT_GE(line.size(), 2u);
  EXPECT_EQ(line.substr(line.size() - 2), "\r\n") << line;
  EXPECT_EQ(line.find_first_of(std::string_view("\r\n\0", 3)), line.size() - 2) << line;
}

// Parses `input` whole and byte by byte; both must give the same events. Continuation
// requests are dropped (the test plays a client that does not wait for them).
std::vector<Event> ParseEvents(std::string_view input) {
  std::vector<Event> whole;
  Parser whole_parser{Limits{}};
  whole_parser.Feed(input, whole);
  std::vector<Event> bytewise;
  Parser bytewise_parser{Limits{}};
  for (const char c : input) {
    bytewise_parser.Feed(std::string_view{&c, 1}, bytewise);
  }
  EXPECT_EQ(whole, bytewise);
  std::vector<Event> out;
  for (Event& e : whole) {
    if (!std::holds_alternative<NeedContinuation>(e)) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

// Wraps an encoded value as the first argument of a command ("t1 X <value> X\r\n") and
// returns that argument as the parser reads it back.
std::optional<Value> RoundTrip(const std::string& encoded) {
  const std::vector<Event> events = ParseEvents("t1 X " + encoded + " X\r\n");
  if (events.size() != 1) {
    ADD_FAILURE() << "expected one event for " << encoded;
    return std::nullopt;
  }
  const auto* command = std::get_if<Command>(&events[0]);
  if (command == nullptr) {
    ADD_FAILURE() << "parse error: " << std::get<ParseError>(events[0]).message << " for "
                  << encoded;
    return std::nullopt;
  }
  if (command->args.size() != 2 || command->args[1] != Value::Atom("X")) {
    ADD_FAILURE() << "argument boundaries lost for " << encoded;
    return std::nullopt;
  }
  return command->args[0];
}

TEST(EncoderTest, IsAtomCharFollowsRfc3501Grammar) {
  // RFC 3501 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
  // quoted-specials / resp-specials.
  for (const char c : std::string_view("(){ %*\"\\]")) {
    EXPECT_FALSE(IsAtomChar(c)) << c;
  }
  for (const char c : std::string_view("aZ09.-_+&~[!#$'<>=?@^`|}/:,;")) {
    EXPECT_TRUE(IsAtomChar(c)) << c;
  }
  for (int c = 0; c < 0x20; ++c) {
    EXPECT_FALSE(IsAtomChar(static_cast<char>(c))) << c;
  }
  for (int c = 0x7f; c <= 0xff; ++c) {
    EXPECT_FALSE(IsAtomChar(static_cast<char>(c))) << c;
  }
}

TEST(EncoderTest, StringQuotesPlainAscii) {
  EXPECT_EQ(String("hello world"), "\"hello world\"");
  EXPECT_EQ(String(""), "\"\"");
  EXPECT_EQ(String("NIL"), "\"NIL\"");
  EXPECT_EQ(String("(){}%*]"), "\"(){}%*]\"");
}

TEST(EncoderTest, StringEscapesQuotesAndBackslashes) {
  EXPECT_EQ(String("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(String("\\"), R"("\\")");
  EXPECT_EQ(String("\""), R"("\"")");
}

TEST(EncoderTest, StringUsesLiteralForEightBitAndControlBytes) {
  EXPECT_EQ(String("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
  EXPECT_EQ(String("a\rb"), "{3}\r\na\rb");
  EXPECT_EQ(String("a\nb"), "{3}\r\na\nb");
  EXPECT_EQ(String("line\r\n"), "{6}\r\nline\r\n");
  EXPECT_EQ(String("a\tb"), "{3}\r\na\tb");
  EXPECT_EQ(String("a\x7f"), "{2}\r\na\x7f");
  EXPECT_EQ(String("\xff"), "{1}\r\n\xff");
}

TEST(EncoderTest, StringWithNulBecomesLiteralWithout0x00) {
  // RFC 3501 9: CHAR8 = %x01-ff; NUL may not appear even in a literal.
  EXPECT_EQ(String(std::string("a\0b", 3)),
            "{3}\r\na\x80"
            "b");
}

TEST(EncoderTest, StringLongerThan1024BytesIsLiteral) {
  const std::string at_limit(1024, 'x');
  EXPECT_EQ(String(at_limit), "\"" + at_limit + "\"");
  const std::string over_limit(1025, 'x');
  EXPECT_EQ(String(over_limit), "{1025}\r\n" + over_limit);
  // The limit counts the bytes of the string, not of their escaped form.
  const std::string quotes(1024, '"');
  std::string escaped;
  for (int i = 0; i < 1024; ++i) {
    escaped += "\\\"";
  }
  EXPECT_EQ(String(quotes), "\"" + escaped + "\"");
}

TEST(EncoderTest, AstringPrefersAtoms) {
  EXPECT_EQ(Astring("INBOX"), "INBOX");
  EXPECT_EQ(Astring("foo.bar-baz/qux"), "foo.bar-baz/qux");
  EXPECT_EQ(Astring("#news.comp.mail.misc"), "#news.comp.mail.misc");
  EXPECT_EQ(Astring("NILS"), "NILS");
  EXPECT_EQ(Astring("Tom&-Jerry"), "Tom&-Jerry");
}

TEST(EncoderTest, AstringQuotesNilEmptyAndSpecials) {
  EXPECT_EQ(Astring(""), "\"\"");
  EXPECT_EQ(Astring("NIL"), "\"NIL\"");
  EXPECT_EQ(Astring("nil"), "\"nil\"");
  EXPECT_EQ(Astring("Nil"), "\"Nil\"");
  EXPECT_EQ(Astring("Sent Items"), "\"Sent Items\"");
  EXPECT_EQ(Astring("a(b"), "\"a(b\"");
  EXPECT_EQ(Astring("a{b"), "\"a{b\"");
  EXPECT_EQ(Astring("foo%"), "\"foo%\"");
  EXPECT_EQ(Astring("foo*"), "\"foo*\"");
  EXPECT_EQ(Astring("a]"), "\"a]\"");
  EXPECT_EQ(Astring("[Gmail]"), "\"[Gmail]\"");
  EXPECT_EQ(Astring("\\Seen"), R"("\\Seen")");
  EXPECT_EQ(Astring("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(Astring("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
}

TEST(EncoderTest, NStringIsNilOrString) {
  std::string out;
  AppendNString(out, std::nullopt);
  EXPECT_EQ(out, "NIL");
  out.clear();
  AppendNString(out, std::string_view("NIL"));
  EXPECT_EQ(out, "\"NIL\"");
  out.clear();
  AppendNString(out, std::string_view(""));
  EXPECT_EQ(out, "\"\"");
  out.clear();
  AppendNString(out, std::string_view("a\r\n"));
  EXPECT_EQ(out, "{3}\r\na\r\n");
}

TEST(EncoderTest, LiteralAlwaysLiteralAndNulBecomes0x80) {
  std::string out;
  AppendLiteral(out, "abc");
  EXPECT_EQ(out, "{3}\r\nabc");
  out.clear();
  AppendLiteral(out, "");
  EXPECT_EQ(out, "{0}\r\n");
  out.clear();
  AppendLiteral(out, std::string("\0x\0", 3));
  EXPECT_EQ(out, "{3}\r\n\x80x\x80");
}

TEST(EncoderTest, Literal8KeepsNul) {
  // RFC 3516 4.2: literal8 = "~{" number "}" CRLF *OCTET.
  std::string out;
  AppendLiteral8(out, std::string("a\0b", 3));
  EXPECT_EQ(out, std::string("~{3}\r\na\0b", 9));
  out.clear();
  AppendLiteral8(out, "");
  EXPECT_EQ(out, "~{0}\r\n");
}

TEST(EncoderTest, AppendsToExistingContent) {
  std::string out = "* LIST () \"/\" ";
  AppendMailbox(out, "INBOX");
  AppendString(out, "x");
  AppendLiteral(out, "y");
  EXPECT_EQ(out, "* LIST () \"/\" INBOX\"x\"{1}\r\ny");
}

TEST(EncoderTest, MailboxUsesModifiedUtf7) {
  EXPECT_EQ(Mailbox("INBOX"), "INBOX");
  EXPECT_EQ(Mailbox("INBOX/Archive"), "INBOX/Archive");
  EXPECT_EQ(Mailbox("\xc3\xa9t\xc3\xa9"), "&AOk-t&AOk-");
  EXPECT_EQ(Mailbox("Entw\xc3\xbcrfe"), "Entw&APw-rfe");
  // RFC 3501 5.1.3 example.
  EXPECT_EQ(Mailbox("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  EXPECT_EQ(Mailbox("Tom & Jerry"), "\"Tom &- Jerry\"");
  EXPECT_EQ(Mailbox("Sent Items"), "\"Sent Items\"");
  EXPECT_EQ(Mailbox(""), "\"\"");
  EXPECT_EQ(Mailbox("nil"), "\"nil\"");
  EXPECT_EQ(Mailbox("50%"), "\"50%\"");
}

TEST(EncoderTest, FormatSequenceSetCompactsRuns) {
  EXPECT_EQ(FormatSequenceSet({}), "");
  EXPECT_EQ(FormatSequenceSet({5}), "5");
  EXPECT_EQ(FormatSequenceSet({1, 2, 3, 5, 7, 8}), "1:3,5,7:8");
  EXPECT_EQ(FormatSequenceSet({1, 3, 5}), "1,3,5");
  EXPECT_EQ(FormatSequenceSet({1, 2}), "1:2");
  EXPECT_EQ(FormatSequenceSet({4294967294u, 4294967295u}), "4294967294:4294967295");
  EXPECT_EQ(FormatSequenceSet({4294967295u}), "4294967295");
  // Duplicates are not expected, but must not produce garbage.
  EXPECT_EQ(FormatSequenceSet({1, 1, 2, 4, 4}), "1:2,4");
}

TEST(EncoderTest, FormatSequenceSetParsesBack) {
  const std::vector<uint32_t> numbers = {1, 2, 3, 10, 12, 13, 14, 100, 4294967295u};
  const std::optional<SequenceSet> set = ParseSequenceSet(FormatSequenceSet(numbers));
  ASSERT_TRUE(set.has_value());
  for (uint32_t n = 1; n <= 200; ++n) {
    const bool expected = std::find(numbers.begin(), numbers.end(), n) != numbers.end();
    EXPECT_EQ(set->Contains(n, 4294967295u), expected) << n;
  }
  EXPECT_TRUE(set->Contains(4294967295u, 4294967295u));
}

TEST(EncoderTest, TextSanitizesLineBreaksAndNul) {
  EXPECT_EQ(Text("LOGIN completed"), "LOGIN completed");
  EXPECT_EQ(Text(""), "completed");
  EXPECT_EQ(Text(std::string("a\r\nb\0c", 6)), "a  b c");
  EXPECT_EQ(Text("\n"), " ");
  EXPECT_EQ(Text("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(EncoderTest, StatusNames) {
  EXPECT_EQ(StatusName(Status::kOk), "OK");
  EXPECT_EQ(StatusName(Status::kNo), "NO");
  EXPECT_EQ(StatusName(Status::kBad), "BAD");
  EXPECT_EQ(StatusName(Status::kBye), "BYE");
  EXPECT_EQ(StatusName(Status::kPreauth), "PREAUTH");
}

TEST(EncoderTest, StatusWithoutCode) {
  EXPECT_EQ(StatusLine("a001", Status::kOk, "", "LOGIN completed"), "a001 OK LOGIN completed\r\n");
  EXPECT_EQ(StatusLine("*", Status::kBye, "", "IMAP4rev1 Server logging out"),
            "* BYE IMAP4rev1 Server logging out\r\n");
  EXPECT_EQ(StatusLine("*", Status::kPreauth, "", "hi"), "* PREAUTH hi\r\n");
  EXPECT_EQ(StatusLine("a1", Status::kBad, "", ""), "a1 BAD completed\r\n");
}

TEST(EncoderTest, StatusWithCode) {
  EXPECT_EQ(StatusLine("A142", Status::kOk, code::kReadWrite, "SELECT completed"),
            "A142 OK [READ-WRITE] SELECT completed\r\n");
  EXPECT_EQ(StatusLine("A003", Status::kOk, "APPENDUID 38505 3955", "APPEND completed"),
            "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n");
  EXPECT_EQ(StatusLine("a2", Status::kNo, code::kTryCreate, "no such mailbox"),
            "a2 NO [TRYCREATE] no such mailbox\r\n");
  EXPECT_EQ(StatusLine("*", Status::kOk, "UIDVALIDITY 3857529045", ""),
            "* OK [UIDVALIDITY 3857529045] completed\r\n");
}

TEST(EncoderTest, StatusNeverBreaksTheLine) {
  const std::string line = StatusLine("a1", Status::kNo, std::string("X\r\nY]\0", 6),
                                      std::string("bad\r\n* OK injected\0", 19));
  ExpectSingleLine(line);
  EXPECT_EQ(line, "a1 NO [X  Y  ] bad  * OK injected \r\n");
  ExpectSingleLine(StatusLine("a\r\n", Status::kOk, "", "x"));
  EXPECT_EQ(StatusLine("", Status::kBad, "", "invalid tag"), "* BAD invalid tag\r\n");
}

TEST(EncoderTest, Continuation) {
  std::string out;
  AppendContinuation(out, "Ready for literal data");
  EXPECT_EQ(out, "+ Ready for literal data\r\n");
  out.clear();
  // An empty SASL challenge (RFC 3501 6.2.2) is "+ " CRLF, not a made-up text.
  AppendContinuation(out, "");
  EXPECT_EQ(out, "+ \r\n");
  out.clear();
  AppendContinuation(out, "YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMC");
  EXPECT_EQ(out, "+ YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMC\r\n");
  out.clear();
  AppendContinuation(out, "a\r\nb");
  EXPECT_EQ(out, "+ a  b\r\n");
}

TEST(EncoderTest, DateTimeRfc3501Example) {
  // RFC 3501 8: INTERNALDATE "17-Jul-1996 02:44:25 -0700" is 09:44:25 UTC.
  EXPECT_EQ(DateTimeText(837596665, -420), "\"17-Jul-1996 02:44:25 -0700\"");
  EXPECT_EQ(DateTimeText(837596665, 0), "\"17-Jul-1996 09:44:25 +0000\"");
}

TEST(EncoderTest, DateTimePadsDayWithSpace) {
  // RFC 3501 9: date-day-fixed = (SP DIGIT) / 2DIGIT.
  EXPECT_EQ(DateTimeText(760168345, -480), "\" 1-Feb-1994 21:52:25 -0800\"");
  EXPECT_EQ(DateTimeText(0, 0), "\" 1-Jan-1970 00:00:00 +0000\"");
}

TEST(EncoderTest, DateTimePositiveAndOddOffsets) {
  EXPECT_EQ(DateTimeText(837596665, 330), "\"17-Jul-1996 15:14:25 +0530\"");
  EXPECT_EQ(DateTimeText(837596665, 845), "\"17-Jul-1996 23:49:25 +1405\"");
  EXPECT_EQ(DateTimeText(0, -30), "\"31-Dec-1969 23:30:00 -0030\"");
  EXPECT_EQ(DateTimeText(0, 1439), "\" 1-Jan-1970 23:59:00 +2359\"");
}

TEST(EncoderTest, DateTimeBefore1970AndLeapDay) {
  EXPECT_EQ(DateTimeText(-1, 0), "\"31-Dec-1969 23:59:59 +0000\"");
  EXPECT_EQ(DateTimeText(-2208988800, 0), "\" 1-Jan-1900 00:00:00 +0000\"");
  EXPECT_EQ(DateTimeText(951825600, 60), "\"29-Feb-2000 13:00:00 +0100\"");
  EXPECT_EQ(DateTimeText(951825600 + 86400, 0), "\" 1-Mar-2000 12:00:00 +0000\"");
}

TEST(EncoderTest, DateTimeClampsOutOfRangeInput) {
  // Whatever the input, the output stays date-time syntax: 4-digit year, zone within 2359.
  EXPECT_EQ(DateTimeText(0, 100000), "\" 1-Jan-1970 23:59:00 +2359\"");
  EXPECT_EQ(DateTimeText(0, -100000), "\"31-Dec-1969 00:01:00 -2359\"");
  EXPECT_EQ(DateTimeText(INT64_MAX, 0), "\"31-Dec-9999 23:59:59 +0000\"");
  EXPECT_EQ(DateTimeText(INT64_MIN, 0), "\" 1-Jan-0001 00:00:00 +0000\"");
  EXPECT_EQ(DateTimeText(INT64_MAX, -1439), "\"31-Dec-9999 23:59:59 -2359\"");
  EXPECT_EQ(DateTimeText(INT64_MIN, 1439), "\" 1-Jan-0001 00:00:00 +2359\"");
}

TEST(EncoderTest, DateTimeParsesBack) {
  std::mt19937_64 rng(20240229);
  std::uniform_int_distribution<int64_t> seconds(-62135596800 + 86400, 253402300799 - 86400);
  std::uniform_int_distribution<int> offsets(-1439, 1439);
  for (int i = 0; i < 500; ++i) {
    const int64_t t = seconds(rng);
    const int offset = offsets(rng);
    const std::string text = DateTimeText(t, offset);
    ASSERT_EQ(text.size(), 28u) << text;
    const std::optional<DateTime> parsed = ParseDateTime(text.substr(1, text.size() - 2));
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(*parsed, (DateTime{t, offset})) << text;
  }
}

// Property: for pseudo-random byte strings, the encoder's output is read back by the parser
// as exactly the same bytes, with the argument boundaries intact.
TEST(EncoderTest, StringRoundTripsThroughParser) {
  std::mt19937 rng(3501);
  const std::string specials = "aZ \"\\(){}%*[]~+\r\n\t\x7f\x80\xff";
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int literals = 0;
  int quoted = 0;
  for (int i = 0; i < 400; ++i) {
    std::string s;
    switch (i % 4) {
      case 0:  // printable US-ASCII, quotes and backslashes included
        for (int n = pick(0, 60); n > 0; --n) {
          s.push_back(static_cast<char>(pick(0x20, 0x7e)));
        }
        break;
      case 1:  // any byte but NUL
        for (int n = pick(0, 200); n > 0; --n) {
          s.push_back(static_cast<char>(pick(1, 255)));
        }
        break;
      case 2:  // around the quoted-length limit
        for (int n = pick(1000, 1050); n > 0; --n) {
          s.push_back(static_cast<char>(pick(0x20, 0x7e)));
        }
        break;
      default:  // the interesting bytes, densely
        for (int n = pick(0, 30); n > 0; --n) {
          s.push_back(
              specials[static_cast<size_t>(pick(0, static_cast<int>(specials.size()) - 1))]);
        }
        break;
    }
    for (const bool astring : {false, true}) {
      std::string encoded;
      if (astring) {
        AppendAstring(encoded, s);
      } else {
        AppendString(encoded, s);
      }
      const std::optional<Value> v = RoundTrip(encoded);
      ASSERT_TRUE(v.has_value()) << "input #" << i;
      EXPECT_EQ(v->text, s) << "input #" << i;
      if (astring) {
        EXPECT_TRUE(v->IsAstring());
        EXPECT_FALSE(v->IsNil()) << s;
      } else {
        EXPECT_TRUE(v->IsString());
      }
      if (v->kind == Value::Kind::kLiteral) {
        ++literals;
      } else if (v->kind == Value::Kind::kQuoted) {
        ++quoted;
      }
    }
  }
  // Both paths were exercised.
  EXPECT_GT(literals, 100);
  EXPECT_GT(quoted, 100);
}

TEST(EncoderTest, StringWithNulRoundTripsAs0x80) {
  const std::optional<Value> v = RoundTrip(String(std::string("\0a\0", 3)));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->kind, Value::Kind::kLiteral);
  EXPECT_EQ(v->text,
            "\x80"
            "a\x80");
}

TEST(EncoderTest, MailboxRoundTripsThroughParserAndDecoder) {
  std::mt19937 rng(5113);
  // ASCII (atom-specials included), Latin-1, BMP and astral code points, as UTF-8.
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           " ",
                                           "&",
                                           "\"",
                                           "\\",
                                           "%",
                                           "*",
                                           "/",
                                           "[",
                                           "]",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xe5\x8f\xb0",
                                           "\xf0\x9f\x98\x80",
                                           "-"};
  std::uniform_int_distribution<size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> count(1, 20);
  for (int i = 0; i < 300; ++i) {
    std::string name;
    for (int n = count(rng); n > 0; --n) {
      name += pieces[piece(rng)];
    }
    const std::optional<Value> v = RoundTrip(Mailbox(name));
    ASSERT_TRUE(v.has_value()) << name;
    EXPECT_NE(v->kind, Value::Kind::kLiteral) << name;
    EXPECT_EQ(DecodeMailboxName(v->text), name);
  }
}

TEST(EncoderTest, StatusLinesStaySingleLinesForRandomText) {
  std::mt19937 rng(9051);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 80);
  for (int i = 0; i < 200; ++i) {
    std::string text;
    std::string code;
    for (int n = length(rng); n > 0; --n) {
      text.push_back(static_cast<char>(byte(rng)));
    }
    for (int n = length(rng) / 8; n > 0; --n) {
      code.push_back(static_cast<char>(byte(rng)));
    }
    ExpectSingleLine(StatusLine("a1", Status::kNo, code, text));
    std::string continuation;
    AppendContinuation(continuation, text);
    ExpectSingleLine(continuation);
  }
}

}  // namespace
}  // namespace tern::imap::protocol
