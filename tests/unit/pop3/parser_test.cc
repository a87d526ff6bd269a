#include "services/pop3/protocol/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::pop3::protocol {
namespace {

using namespace std::string_literals;

using Events = std::vector<Event>;
using Args = std::vector<std::string>;

// Every parser test runs twice: the whole input at once and byte by byte. Both must
// produce the same events.
Events ParseAll(std::string_view input, Limits limits = Limits{}) {
  Events whole;
  {
    Parser parser{limits};
    parser.Feed(input, whole);
  }
  Events bytewise;
  {
    Parser parser{limits};
    for (const char c : input) {
      parser.Feed(std::string_view{&c, 1}, bytewise);
    }
  }
  EXPECT_EQ(whole, bytewise) << "whole-buffer and byte-by-byte parses differ";
  return whole;
}

// For tests that switch modes between steps: two parsers, one fed each step at once and one
// fed byte by byte, must agree after every step.
class DualParser {
 public:
  explicit DualParser(Limits limits = Limits{}) : whole_{limits}, bytewise_{limits} {}

  Events Feed(std::string_view input) {
    Events whole;
    whole_.Feed(input, whole);
    Events bytewise;
    for (const char c : input) {
      bytewise_.Feed(std::string_view{&c, 1}, bytewise);
    }
    EXPECT_EQ(whole, bytewise) << "whole-buffer and byte-by-byte parses differ";
    EXPECT_EQ(whole_.in_line(), bytewise_.in_line());
    EXPECT_EQ(whole_.expecting_raw_line(), bytewise_.expecting_raw_line());
    return whole;
  }
  void ExpectRawLine() {
    whole_.ExpectRawLine();
    bytewise_.ExpectRawLine();
  }
  void Reset() {
    whole_.Reset();
    bytewise_.Reset();
  }
  const Parser& parser() const { return whole_; }

 private:
  Parser whole_;
  Parser bytewise_;
};

Event Cmd(std::string verb, Args args = {}) { return Command{std::move(verb), std::move(args)}; }
Event Raw(std::string text) { return RawLine{std::move(text)}; }
Event Err(std::string message, bool raw = false) { return ParseError{std::move(message), raw}; }

// RFC 1939 sections 4-7: every client line of the examples, in order.
TEST(Pop3ParserTest, Rfc1939ExampleCommands) {
  const Events events = ParseAll(
      "QUIT\r\n"
      "STAT\r\n"
      "LIST\r\n"
      "LIST 2\r\n"
      "LIST 3\r\n"
      "RETR 1\r\n"
      "DELE 1\r\n"
      "DELE 2\r\n"
      "NOOP\r\n"
      "RSET\r\n"
      "QUIT\r\n"
      "TOP 1 10\r\n"
      "TOP 100 3\r\n"
      "UIDL\r\n"
      "UIDL 2\r\n"
      "UIDL 3\r\n"
      "USER frated\r\n"
      "USER mrose\r\n"
      "PASS secret\r\n"
      "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
  const Events expected = {
      Cmd("QUIT"),
      Cmd("STAT"),
      Cmd("LIST"),
      Cmd("LIST", {"2"}),
      Cmd("LIST", {"3"}),
      Cmd("RETR", {"1"}),
      Cmd("DELE", {"1"}),
      Cmd("DELE", {"2"}),
      Cmd("NOOP"),
      Cmd("RSET"),
      Cmd("QUIT"),
      Cmd("TOP", {"1", "10"}),
      Cmd("TOP", {"100", "3"}),
      Cmd("UIDL"),
      Cmd("UIDL", {"2"}),
      Cmd("UIDL", {"3"}),
      Cmd("USER", {"frated"}),
      Cmd("USER", {"mrose"}),
      Cmd("PASS", {"secret"}),
      Cmd("APOP", {"mrose", "c4c9334bac560ecc979e58001b3e22fb"}),
  };
  EXPECT_EQ(events, expected);
}

// RFC 1939 10: the example session's client side.
TEST(Pop3ParserTest, Rfc1939Section10ExampleSession) {
  const Events events = ParseAll(
      "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
      "STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n");
  const Events expected = {
      Cmd("APOP", {"mrose", "c4c9334bac560ecc979e58001b3e22fb"}),
      Cmd("STAT"),
      Cmd("LIST"),
      Cmd("RETR", {"1"}),
      Cmd("DELE", {"1"}),
      Cmd("RETR", {"2"}),
      Cmd("DELE", {"2"}),
      Cmd("QUIT"),
  };
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, KeywordsAreCaseInsensitiveArgumentsAreKept) {
  // RFC 1939 3: "Keywords are case-insensitive."
  const Events events = ParseAll("stat\r\nRetr 1\r\nuSeR MRose\r\ncapa\r\n");
  const Events expected = {Cmd("STAT"), Cmd("RETR", {"1"}), Cmd("USER", {"MRose"}), Cmd("CAPA")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, BareLfEndsALine) {
  const Events events = ParseAll("STAT\nLIST 1\nQUIT\r\n");
  const Events expected = {Cmd("STAT"), Cmd("LIST", {"1"}), Cmd("QUIT")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, RunsOfSpacesAreAccepted) {
  const Events events = ParseAll("TOP  1   10\r\n  STAT\r\nLIST 1  \r\nNOOP \r\n");
  const Events expected = {Cmd("TOP", {"1", "10"}), Cmd("STAT"), Cmd("LIST", {"1"}), Cmd("NOOP")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, PassTakesTheRestOfTheLine) {
  // RFC 1939 7: "a POP3 server may treat spaces in the argument as part of the password".
  const Events events = ParseAll(
      "PASS correct horse battery staple\r\n"
      "pass  leading space\r\n"
      "PASS trailing \r\n"
      "PASS a\tb\r\n"
      "PASS p\xc3\xa4ss\r\n");
  const Events expected = {
      Cmd("PASS", {"correct horse battery staple"}),
      Cmd("PASS", {" leading space"}),
      Cmd("PASS", {"trailing "}),
      Cmd("PASS", {"a\tb"}),
      Cmd("PASS", {"p\xc3\xa4ss"}),
  };
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, PassWithoutPasswordHasNoArgument) {
  // The command table then answers "bad arguments" (PASS takes exactly one).
  const Events events = ParseAll("PASS\r\nPASS \r\n");
  const Events expected = {Cmd("PASS"), Cmd("PASS")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, PassRefusesNulAndCr) {
  const Events events = ParseAll("PASS a\0b\r\nPASS a\rb\r\nSTAT\r\n"s);
  const Events expected = {Err("invalid character in command"), Err("invalid character in command"),
                           Cmd("STAT")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, OnlyPassKeepsSpaces) {
  // USER and APOP split on spaces; the table rejects the extra arguments.
  const Events events = ParseAll("USER john smith\r\nAPOP a b c\r\n");
  const Events expected = {Cmd("USER", {"john", "smith"}), Cmd("APOP", {"a", "b", "c"})};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, ArgumentsLongerThan40CharactersAreAccepted) {
  // RFC 2449 4 lifts RFC 1939's 40-character argument limit; only the line is bounded.
  const std::string user = "firstname.lastname.department@subsidiary.example.com";
  ASSERT_GT(user.size(), 40u);
  const Events events = ParseAll("USER " + user + "\r\n");
  EXPECT_EQ(events, Events{Cmd("USER", {user})});
}

TEST(Pop3ParserTest, EightBitArgumentsAreKept) {
  const Events events = ParseAll("USER j\xc3\xb6rg\r\n");
  EXPECT_EQ(events, Events{Cmd("USER", {"j\xc3\xb6rg"})});
}

TEST(Pop3ParserTest, AuthWithInitialResponse) {
  // RFC 5034 4: AUTH mechanism [initial-response]; "=" is an empty initial response.
  const Events events = ParseAll(
      "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n"
      "AUTH EXTERNAL =\r\n"
      "AUTH SCRAM-SHA-256\r\n");
  const Events expected = {
      Cmd("AUTH", {"PLAIN", "dGVzdAB0ZXN0AHRlc3Q="}),
      Cmd("AUTH", {"EXTERNAL", "="}),
      Cmd("AUTH", {"SCRAM-SHA-256"}),
  };
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, AuthInitialResponseUpToTheCommandLimit) {
  // RFC 5034 4: the initial response counts against RFC 2449's 255 octets, CRLF included.
  const std::string prefix = "AUTH PLAIN ";
  const std::string fits(255 - 2 - prefix.size(), 'A');
  const Events events = ParseAll(prefix + fits + "\r\n" + prefix + fits + "A\r\nSTAT\r\n");
  const Events expected = {Cmd("AUTH", {"PLAIN", fits}), Err("line too long"), Cmd("STAT")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, KeywordMustBeThreeOrFourVisibleCharacters) {
  // RFC 2449 3: keyword = 3*4VCHAR.
  const Events events = ParseAll("ST\r\nSTATS\r\nST\x01T\r\nST\xc3\xa4\r\nTOP 1 2\r\nX-Y\r\n");
  const Events expected = {
      Err("invalid command keyword"), Err("invalid command keyword"),
      Err("invalid command keyword"), Err("invalid command keyword"),
      Cmd("TOP", {"1", "2"}),         Cmd("X-Y"),
  };
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, UnknownKeywordsAreCommands) {
  // Whether a keyword exists is the command table's question.
  const Events events = ParseAll("XTND XMIT\r\nLAST\r\n");
  const Events expected = {Cmd("XTND", {"XMIT"}), Cmd("LAST")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, ControlCharactersInArgumentsAreErrors) {
  const Events events = ParseAll("USER a\tb\r\nRETR 1\x7f\r\nUSER a\rb\r\nNOOP\r\n");
  const Events expected = {Err("invalid character in command"), Err("invalid character in command"),
                           Err("invalid character in command"), Cmd("NOOP")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, EmptyLinesAreErrors) {
  // RFC 1939 3: a syntactically invalid command gets a negative answer; every line needs an
  // answer for a pipelining client to stay in step (RFC 2449 6.6).
  const Events events = ParseAll("\r\n\n   \r\nNOOP\r\n");
  const Events expected = {Err("empty command"), Err("empty command"), Err("empty command"),
                           Cmd("NOOP")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, IncompleteLineIsHeld) {
  DualParser parser;
  EXPECT_TRUE(parser.Feed("RETR 1").empty());
  EXPECT_TRUE(parser.parser().in_line());
  EXPECT_EQ(parser.Feed("2\r"), Events{});
  EXPECT_EQ(parser.Feed("\n"), Events{Cmd("RETR", {"12"})});
  EXPECT_FALSE(parser.parser().in_line());
}

TEST(Pop3ParserTest, LineOfExactlyMaxLineIsAccepted) {
  // max_line counts the CRLF: 10 means 8 bytes of command.
  const Limits limits{.max_line = 10};
  const Events events =
      ParseAll("USER abc\r\nUSER abcd\r\nUSER abc\nUSER abcd\nUSER abcde\r\nNOOP\r\n", limits);
  const Events expected = {
      Cmd("USER", {"abc"}), Err("line too long"), Cmd("USER", {"abc"}),
      Err("line too long"), Err("line too long"), Cmd("NOOP"),
  };
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, DefaultLimitIsRfc2449s255Octets) {
  const std::string fits = "USER " + std::string(248, 'u');  // 253 + CRLF = 255
  const Events events = ParseAll(fits + "\r\n" + fits + "u\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], Cmd("USER", {std::string(248, 'u')}));
  EXPECT_EQ(events[1], Err("line too long"));
}

TEST(Pop3ParserTest, OverlongLineIsSkippedInBoundedMemory) {
  const Limits limits{.max_line = 64};
  const std::string garbage(100000, 'x');
  const Events events = ParseAll("USER " + garbage + "\r\nUSER bob\r\n", limits);
  const Events expected = {Err("line too long"), Cmd("USER", {"bob"})};
  EXPECT_EQ(events, expected);

  // The error comes as soon as the line passes the limit, before its end.
  DualParser parser{limits};
  EXPECT_EQ(parser.Feed(garbage), Events{Err("line too long")});
  EXPECT_TRUE(parser.parser().in_line());
  EXPECT_LE(parser.parser().MemoryForTest(), 1024u);
  EXPECT_EQ(parser.Feed(garbage), Events{});
  EXPECT_LE(parser.parser().MemoryForTest(), 1024u);
  EXPECT_EQ(parser.Feed("\r\nNOOP\r\n"), Events{Cmd("NOOP")});
  EXPECT_FALSE(parser.parser().in_line());
}

TEST(Pop3ParserTest, RawLineForSaslResponse) {
  // RFC 5034 4 example: AUTH without initial response, empty challenge, response line.
  DualParser parser;
  EXPECT_EQ(parser.Feed("AUTH PLAIN\r\n"), Events{Cmd("AUTH", {"PLAIN"})});
  parser.ExpectRawLine();
  EXPECT_TRUE(parser.parser().expecting_raw_line());
  EXPECT_EQ(parser.Feed("dGVzdAB0ZXN0AHRlc3Q=\r\n"), Events{Raw("dGVzdAB0ZXN0AHRlc3Q=")});
  EXPECT_FALSE(parser.parser().expecting_raw_line());
  EXPECT_EQ(parser.Feed("STAT\r\n"), Events{Cmd("STAT")});
}

TEST(Pop3ParserTest, RawLineIsVerbatim) {
  DualParser parser;
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed("*\r\n"), Events{Raw("*")});  // RFC 5034 4: cancel
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed("\r\n"), Events{Raw("")});
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed("  a b\tc  \n"), Events{Raw("  a b\tc  ")});
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed("a\0b\r\n"s), Events{Raw("a\0b"s)});
}

TEST(Pop3ParserTest, RawLineMayBeLongerThanACommand) {
  // RFC 5034 4: responses after the initial one "may be of arbitrary length".
  const Limits limits{.max_line = 255, .max_raw_line = 4096};
  DualParser parser{limits};
  const std::string token(4094, 'Q');  // + CRLF = max_raw_line
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed(token + "\r\n"), Events{Raw(token)});
  // Back in command mode, the same length is over the limit.
  EXPECT_EQ(parser.Feed(token + "\r\n"), Events{Err("line too long")});
}

TEST(Pop3ParserTest, OverlongRawLineIsARawError) {
  const Limits limits{.max_line = 32, .max_raw_line = 64};
  DualParser parser{limits};
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed(std::string(100, 'Q')), Events{Err("line too long", true)});
  EXPECT_FALSE(parser.parser().expecting_raw_line());
  // The rest of the line is skipped; the next line is a command again.
  EXPECT_EQ(parser.Feed(std::string(100, 'Q') + "\r\nQUIT\r\n"), Events{Cmd("QUIT")});
}

TEST(Pop3ParserTest, RawModeAppliesToTheLineInProgress) {
  // The mode is decided when a line completes; bytes fed before the switch belong to it.
  DualParser parser;
  EXPECT_EQ(parser.Feed("dGVz"), Events{});
  parser.ExpectRawLine();
  EXPECT_EQ(parser.Feed("dA==\r\nNOOP\r\n"), (Events{Raw("dGVzdA=="), Cmd("NOOP")}));
}

TEST(Pop3ParserTest, PipelinedLinesAreParsedInTheCurrentMode) {
  // A caller that may switch modes feeds one line at a time; given both lines at once, the
  // parser reads the second as a command (the client sent it before the challenge).
  const Events events = ParseAll("AUTH PLAIN\r\ndGVzdAB0ZXN0AHRlc3Q=\r\n");
  const Events expected = {Cmd("AUTH", {"PLAIN"}), Err("invalid command keyword")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, ResetDropsAPartialLineAndRawMode) {
  // STLS: plaintext sent after the command must not survive the TLS handshake.
  DualParser parser;
  EXPECT_EQ(parser.Feed("STLS\r\nUSER evil"), Events{Cmd("STLS")});
  parser.ExpectRawLine();
  parser.Reset();
  EXPECT_FALSE(parser.parser().in_line());
  EXPECT_FALSE(parser.parser().expecting_raw_line());
  EXPECT_EQ(parser.Feed("USER good\r\n"), Events{Cmd("USER", {"good"})});
}

TEST(Pop3ParserTest, ResetEndsSkippingAnOverlongLine) {
  const Limits limits{.max_line = 16};
  DualParser parser{limits};
  EXPECT_EQ(parser.Feed(std::string(40, 'x')), Events{Err("line too long")});
  parser.Reset();
  EXPECT_EQ(parser.Feed("NOOP\r\n"), Events{Cmd("NOOP")});
}

TEST(Pop3ParserTest, CrAloneDoesNotEndALine) {
  // Only LF ends a line; a CR that is not right before it is part of the line.
  const Events events = ParseAll("NOOP\r\r\nSTAT\r\n");
  const Events expected = {Err("invalid command keyword"), Cmd("STAT")};
  EXPECT_EQ(events, expected);
}

TEST(Pop3ParserTest, TinyLimitsStillTerminate) {
  const Events events = ParseAll("STAT\r\n\r\n", Limits{.max_line = 0, .max_raw_line = 0});
  const Events expected = {Err("line too long"), Err("line too long")};
  EXPECT_EQ(events, expected);
}

}  // namespace
}  // namespace tern::pop3::protocol
