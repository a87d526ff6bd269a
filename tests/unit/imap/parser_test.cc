#include "services/imap/protocol/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::imap::protocol {
namespace {

using Events = std::vector<Event>;

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

// For tests that look at the events after each step: two parsers, one fed each step at
// once and one fed byte by byte, must agree after every step.
class DualParser {
 public:
  explicit DualParser(Limits limits) : whole_{limits}, bytewise_{limits} {}

  Events Feed(std::string_view input) {
    Events whole;
    whole_.Feed(input, whole);
    Events bytewise;
    for (const char c : input) {
      bytewise_.Feed(std::string_view{&c, 1}, bytewise);
    }
    EXPECT_EQ(whole, bytewise) << "whole-buffer and byte-by-byte parses differ";
    EXPECT_EQ(whole_.in_command(), bytewise_.in_command());
    EXPECT_EQ(whole_.closed(), bytewise_.closed());
    return whole;
  }
  const Parser& parser() const { return whole_; }

 private:
  Parser whole_;
  Parser bytewise_;
};

const Command& AsCommand(const Event& e) {
  static const Command kEmpty;
  const auto* c = std::get_if<Command>(&e);
  EXPECT_NE(c, nullptr) << "event is not a command";
  return c != nullptr ? *c : kEmpty;
}

const ParseError& AsError(const Event& e) {
  static const ParseError kEmpty;
  const auto* err = std::get_if<ParseError>(&e);
  EXPECT_NE(err, nullptr) << "event is not an error";
  return err != nullptr ? *err : kEmpty;
}

Value A(std::string s) { return Value::Atom(std::move(s)); }
Value Q(std::string s) { return Value::Quoted(std::move(s)); }
Value L(std::vector<Value> v) { return Value::List(std::move(v)); }

TEST(ImapParserTest, Rfc3501SampleTranscript) {
  const Events events = ParseAll(
      "a001 login mrc secret\r\n"
      "a002 select inbox\r\n"
      "a003 fetch 12 full\r\n"
      "a004 fetch 12 body[header]\r\n"
      "a005 store 12 +flags \\deleted\r\n"
      "a006 logout\r\n");
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(AsCommand(events[0]), (Command{"a001", "LOGIN", {A("mrc"), A("secret")}}));
  EXPECT_EQ(AsCommand(events[1]), (Command{"a002", "SELECT", {A("inbox")}}));
  EXPECT_EQ(AsCommand(events[2]), (Command{"a003", "FETCH", {A("12"), A("full")}}));
  EXPECT_EQ(AsCommand(events[3]), (Command{"a004", "FETCH", {A("12"), A("body[header]")}}));
  EXPECT_EQ(AsCommand(events[4]),
            (Command{"a005", "STORE", {A("12"), A("+flags"), A("\\deleted")}}));
  EXPECT_EQ(AsCommand(events[5]), (Command{"a006", "LOGOUT", {}}));
}

TEST(ImapParserTest, LoginWithSyncLiteral) {
  const Events events = ParseAll("a1 LOGIN {5}\r\nalice secret\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], Event{NeedContinuation{5}});
  EXPECT_EQ(AsCommand(events[1]), (Command{"a1", "LOGIN", {Value::Literal("alice"), A("secret")}}));
}

TEST(ImapParserTest, ContinuationIsRequestedBeforeLiteralBytes) {
  DualParser parser{Limits{}};
  Events events = parser.Feed("a1 LOGIN {5}\r\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Event{NeedContinuation{5}});
  EXPECT_TRUE(parser.parser().in_command());
  events = parser.Feed("alice {6}\r\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Event{NeedContinuation{6}});
  events = parser.Feed("secret\r\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(AsCommand(events[0]),
            (Command{"a1", "LOGIN", {Value::Literal("alice"), Value::Literal("secret")}}));
  EXPECT_FALSE(parser.parser().in_command());
}

TEST(ImapParserTest, NonSyncLiteralNeedsNoContinuation) {
  const Events events = ParseAll("a1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\na2 NOOP\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(
      AsCommand(events[0]),
      (Command{"a1", "LOGIN", {Value::Literal("alice", true), Value::Literal("secret", true)}}));
  EXPECT_EQ(AsCommand(events[1]).name, "NOOP");
}

TEST(ImapParserTest, LiteralKeepsCrlfAndNulBytes) {
  const std::string body("From: a\r\n\r\nx\0y\r\n", 16);
  const std::string input = "A003 APPEND saved-messages (\\Seen) {16}\r\n" + body + "\r\n";
  const Events events = ParseAll(input);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], Event{NeedContinuation{16}});
  const Command& c = AsCommand(events[1]);
  EXPECT_EQ(c.name, "APPEND");
  ASSERT_EQ(c.args.size(), 3u);
  EXPECT_EQ(c.args[1], L({A("\\Seen")}));
  EXPECT_EQ(c.args[2], Value::Literal(body));
}

TEST(ImapParserTest, BinaryLiteral) {
  const std::string body("\0\1\2\xff", 4);
  const Events events = ParseAll("a1 APPEND INBOX ~{4+}\r\n" + body + "\r\n");
  ASSERT_EQ(events.size(), 1u);
  const Command& c = AsCommand(events[0]);
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[1], Value::Literal(body, true, true));
}

TEST(ImapParserTest, EmptyLiteralAndLiteralInsideList) {
  const Events events = ParseAll("a1 X ({0}\r\n {3}\r\nabc)\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], Event{NeedContinuation{0}});
  EXPECT_EQ(events[1], Event{NeedContinuation{3}});
  EXPECT_EQ(AsCommand(events[2]).args,
            (std::vector<Value>{L({Value::Literal(""), Value::Literal("abc")})}));
}

TEST(ImapParserTest, QuotedEscapes) {
  const Events events = ParseAll(R"(a1 LOGIN "a\"b\\c" "" "NIL" NIL nil)"
                                 "\r\n");
  ASSERT_EQ(events.size(), 1u);
  const Command& c = AsCommand(events[0]);
  ASSERT_EQ(c.args.size(), 5u);
  EXPECT_EQ(c.args[0], Q("a\"b\\c"));
  EXPECT_EQ(c.args[1], Q(""));
  EXPECT_FALSE(c.args[2].IsNil());
  EXPECT_TRUE(c.args[3].IsNil());
  EXPECT_TRUE(c.args[4].IsNil());
}

TEST(ImapParserTest, BadQuotedStringsAreRecoverable) {
  const Events events = ParseAll(
      "a1 LOGIN \"a\\nb\" x\r\n"
      "a2 LOGIN \"caf\xc3\xa9\" x\r\n"
      "a3 LOGIN \"open x\r\n"
      "a4 LOGIN \"a\rb\" x\r\n"
      "a5 NOOP\r\n");
  ASSERT_EQ(events.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    const ParseError& e = AsError(events[i]);
    EXPECT_EQ(e.tag, "a" + std::to_string(i + 1));
    EXPECT_FALSE(e.fatal);
  }
  EXPECT_EQ(AsCommand(events[4]).tag, "a5");
}

TEST(ImapParserTest, FetchSectionIsOneAtom) {
  const Events events = ParseAll(
      "a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100> "
      "BODY[HEADER.FIELDS.NOT (\"X-A\" Y)] BINARY[1.2]<0.2048>)\r\n");
  ASSERT_EQ(events.size(), 1u);
  const Command& c = AsCommand(events[0]);
  EXPECT_EQ(c.tag, "a1");
  EXPECT_EQ(c.name, "UID FETCH");
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[0], A("1:*"));
  EXPECT_EQ(c.args[1], L({A("FLAGS"), A("BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100>"),
                          A("BODY[HEADER.FIELDS.NOT (\"X-A\" Y)]"), A("BINARY[1.2]<0.2048>")}));
}

TEST(ImapParserTest, UidPrefixIsJoinedAndUpperCased) {
  const Events events = ParseAll("t uid store 1,3 +FLAGS.SILENT (\\Seen \\*)\r\nu UID\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(
      AsCommand(events[0]),
      (Command{"t", "UID STORE", {A("1,3"), A("+FLAGS.SILENT"), L({A("\\Seen"), A("\\*")})}}));
  EXPECT_EQ(AsError(events[1]).tag, "u");
}

TEST(ImapParserTest, NestedLists) {
  const Events events = ParseAll("a1 X (a (b (c \"d\")) () e)\r\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(AsCommand(events[0]).args,
            (std::vector<Value>{L({A("a"), L({A("b"), L({A("c"), Q("d")})}), L({}), A("e")})}));
}

TEST(ImapParserTest, ListWildcardsAndMailboxAtoms) {
  const Events events = ParseAll("a1 LIST \"\" %/*\r\na2 SELECT ~peter/mail/&U,BTFw-\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(AsCommand(events[0]).args, (std::vector<Value>{Q(""), A("%/*")}));
  EXPECT_EQ(AsCommand(events[1]).args, (std::vector<Value>{A("~peter/mail/&U,BTFw-")}));
}

TEST(ImapParserTest, BareLfEndsLine) {
  const Events events = ParseAll("a1 NOOP\na2 CAPABILITY\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(AsCommand(events[0]).name, "NOOP");
  EXPECT_EQ(AsCommand(events[1]).name, "CAPABILITY");
}

TEST(ImapParserTest, EmptyLinesAreIgnored) {
  const Events events = ParseAll("\r\n\n\r\na1 NOOP\r\n\r\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(AsCommand(events[0]).name, "NOOP");
}

TEST(ImapParserTest, IncompleteInputEmitsNothing) {
  const Events events = ParseAll("a1 NOOP");
  EXPECT_TRUE(events.empty());
}

TEST(ImapParserTest, GarbageLinesAreRecoverable) {
  const Events events = ParseAll(
      "garbage\r\n"
      "*** what\r\n"
      "a1 (x)\r\n"
      "a2 NOOP )\r\n"
      "a3 NOOP (x\r\n"
      "a4 NOOP x{5}y\r\n"
      "a5 NOOP \"x\"y\r\n"
      "\x01\x02\x03\r\n"
      "a6 NOOP \\ x\r\n"
      "a7 NOOP [x\r\n"
      "a8 NOOP\r\n");
  ASSERT_EQ(events.size(), 11u);
  const std::vector<std::string> tags = {"garbage", "",   "a1", "a2", "a3",
                                         "a4",      "a5", "",   "a6", "a7"};
  for (size_t i = 0; i < tags.size(); ++i) {
    const ParseError& e = AsError(events[i]);
    EXPECT_EQ(e.tag, tags[i]) << i;
    EXPECT_FALSE(e.fatal) << i;
  }
  EXPECT_EQ(AsCommand(events[10]), (Command{"a8", "NOOP", {}}));
}

TEST(ImapParserTest, ErrorSkipsNonSyncLiteralOfTheBadCommand) {
  // The client keeps sending the {5+} bytes and the rest of the command after a bad token;
  // they must not be taken for new commands.
  const Events events = ParseAll("a1 X \"\x01\" {5+}\r\nb1 X\r {3+}\r\nc1 X\r\na2 NOOP\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(AsError(events[0]).tag, "a1");
  EXPECT_EQ(AsCommand(events[1]).tag, "a2");
}

TEST(ImapParserTest, ErrorAfterSyncLiteralResyncsAtNextLine) {
  const Events events = ParseAll("a1 X (((\r\na2 X \x01 {5}\r\na3 NOOP\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(AsError(events[0]).tag, "a1");
  EXPECT_EQ(AsError(events[1]).tag, "a2");
  EXPECT_EQ(AsCommand(events[2]).tag, "a3");
}

TEST(ImapParserTest, LineTooLongIsBadAndSkipped) {
  const Limits limits{.max_line = 32};
  const std::string input = "a1 X " + std::string(100, 'y') + "\r\na2 NOOP\r\n";
  const Events all = ParseAll(input, limits);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_FALSE(AsError(all[0]).fatal);
  EXPECT_EQ(AsError(all[0]).tag, "a1");
  EXPECT_EQ(AsCommand(all[1]).tag, "a2");
  // Without a line end at all: one error, and the parser waits for the end of the line.
  Parser parser{limits};
  Events unterminated;
  for (int i = 0; i < 1000; ++i) parser.Feed(std::string(1000, 'y'), unterminated);
  ASSERT_EQ(unterminated.size(), 1u);
  EXPECT_FALSE(AsError(unterminated[0]).fatal);
  EXPECT_LT(parser.MemoryForTest(), 1024u);
}

TEST(ImapParserTest, LineTooLongSkipsTheNonSyncLiteralItAnnounces) {
  const Limits limits{.max_line = 32};
  const std::string input =
      "a1 APPEND " + std::string(100, 'y') + " {9+}\r\na2 NOOP\r\n\r\na3 NOOP\r\n";
  const Events all = ParseAll(input, limits);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(AsError(all[0]).tag, "a1");
  EXPECT_EQ(AsCommand(all[1]).tag, "a3");  // "a2 NOOP\r\n" was the literal
}

TEST(ImapParserTest, LineOfExactlyMaxLineIsAccepted) {
  const Limits limits{.max_line = 10};
  const Events events = ParseAll("a1 X 12345\r\na2 X 123456\r\n", limits);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(AsCommand(events[0]).args, (std::vector<Value>{A("12345")}));
  EXPECT_FALSE(AsError(events[1]).fatal);
  EXPECT_EQ(AsError(events[1]).tag, "a2");
}

TEST(ImapParserTest, LiteralLimitCoversTheWholeCommand) {
  const Limits limits{.max_literal = 10};
  const Events events = ParseAll("a1 X {6}\r\nabcdef {5}\r\na2 NOOP\r\n", limits);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<NeedContinuation>(events[0]));
  EXPECT_TRUE(AsError(events[1]).too_big);  // 6 + 5 > 10
  EXPECT_EQ(AsCommand(events[2]).tag, "a2");
}

TEST(ImapParserTest, TooBigSyncLiteralIsRecoverable) {
  const Limits limits{.max_literal = 10};
  const Events events = ParseAll("a1 APPEND INBOX {11}\r\na2 NOOP\r\n", limits);
  ASSERT_EQ(events.size(), 2u);
  const ParseError& e = AsError(events[0]);
  EXPECT_EQ(e.tag, "a1");
  EXPECT_FALSE(e.fatal);
  EXPECT_TRUE(e.too_big);
  EXPECT_EQ(AsCommand(events[1]), (Command{"a2", "NOOP", {}}));
}

TEST(ImapParserTest, HugeLiteralLengthIsTooBig) {
  const Events events = ParseAll("a1 APPEND INBOX {99999999999999999999}\r\na2 NOOP\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(AsError(events[0]).too_big);
  EXPECT_EQ(AsCommand(events[1]).tag, "a2");
}

TEST(ImapParserTest, TooBigNonSyncLiteralIsFatal) {
  const Limits limits{.max_literal = 10};
  const Events events = ParseAll("a1 APPEND INBOX {11+}\r\n01234567890\r\na2 NOOP\r\n", limits);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(AsError(events[0]), (ParseError{"a1", "non-synchronizing literal too big", true}));
}

TEST(ImapParserTest, LiteralAtLimitIsAccepted) {
  const Limits limits{.max_literal = 3};
  const Events events = ParseAll("a1 X {3+}\r\nabc\r\n", limits);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(AsCommand(events[0]).args, (std::vector<Value>{Value::Literal("abc", true)}));
}

TEST(ImapParserTest, NestingTooDeepIsRecoverable) {
  const Limits limits{.max_depth = 3};
  const Events events = ParseAll("a1 X (((x)))\r\na2 X ((((x))))\r\na3 NOOP\r\n", limits);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(AsCommand(events[0]).tag, "a1");
  EXPECT_EQ(AsError(events[1]), (ParseError{"a2", "lists nested too deep", false}));
  EXPECT_EQ(AsCommand(events[2]).tag, "a3");
}

TEST(ImapParserTest, TooManyItemsIsRecoverable) {
  const Limits limits{.max_items = 5};
  const Events events = ParseAll("a1 X a b c\r\na2 X (a b) c d\r\na3 NOOP\r\n", limits);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(AsCommand(events[0]).args.size(), 3u);
  EXPECT_EQ(AsError(events[1]), (ParseError{"a2", "too many items", false}));
  EXPECT_EQ(AsCommand(events[2]).tag, "a3");
}

TEST(ImapParserTest, InvalidLiteralSyntax) {
  const Events events = ParseAll("a1 X {}\r\na2 X {1x}\r\na3 X {-1}\r\na4 NOOP\r\n");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(AsError(events[0]).tag, "a1");
  EXPECT_EQ(AsError(events[1]).tag, "a2");
  EXPECT_EQ(AsError(events[2]).tag, "a3");
  EXPECT_EQ(AsCommand(events[3]).tag, "a4");
}

TEST(ImapParserTest, InvalidTags) {
  const Events events = ParseAll("a+1 NOOP\r\n\"a\" NOOP\r\n* NOOP\r\nok NOOP\r\n");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(AsError(events[0]).tag, "");
  EXPECT_EQ(AsError(events[1]).tag, "");
  EXPECT_EQ(AsError(events[2]).tag, "");
  EXPECT_EQ(AsCommand(events[3]).tag, "ok");
}

TEST(ImapParserTest, ClosedParserIgnoresInput) {
  DualParser parser{Limits{.max_literal = 4}};
  EXPECT_FALSE(parser.parser().closed());
  ASSERT_EQ(parser.Feed("a APPEND x {5+}\r\n").size(), 1u);
  EXPECT_TRUE(parser.parser().closed());
  EXPECT_TRUE(parser.Feed("a1 NOOP\r\n").empty());
}

TEST(SequenceSetTest, ParsesRangesAndStar) {
  EXPECT_EQ(ParseSequenceSet("1:*"), (SequenceSet{false, {{1, 0}}}));
  EXPECT_EQ(ParseSequenceSet("5,7:9"), (SequenceSet{false, {{5, 5}, {7, 9}}}));
  EXPECT_EQ(ParseSequenceSet("*:3"), (SequenceSet{false, {{0, 3}}}));
  EXPECT_EQ(ParseSequenceSet("*"), (SequenceSet{false, {{0, 0}}}));
  EXPECT_EQ(ParseSequenceSet("4294967295"), (SequenceSet{false, {{4294967295u, 4294967295u}}}));
  EXPECT_EQ(ParseSequenceSet("$"), (SequenceSet{true, {}}));
}

TEST(SequenceSetTest, RejectsInvalid) {
  for (const std::string_view s : {"", "0", "01", "1:", ":1", "1,", ",1", "1,,2", "1:2:3", "a",
                                   "1 2", "-1", "4294967296", "$,1", "$$", "1:$", "**", "1;2"}) {
    EXPECT_FALSE(ParseSequenceSet(s).has_value()) << s;
  }
}

TEST(SequenceSetTest, Contains) {
  const SequenceSet set = *ParseSequenceSet("*:3,10");
  EXPECT_FALSE(set.Contains(2, 7));
  EXPECT_TRUE(set.Contains(3, 7));
  EXPECT_TRUE(set.Contains(7, 7));
  EXPECT_FALSE(set.Contains(8, 7));
  EXPECT_TRUE(set.Contains(10, 7));
  EXPECT_FALSE(ParseSequenceSet("$")->Contains(1, 1));
}

}  // namespace
}  // namespace tern::imap::protocol
