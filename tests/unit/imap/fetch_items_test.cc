#include "services/imap/protocol/fetch_items.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/imap/protocol/parser.h"

namespace tern::imap::protocol {
namespace {

using Kind = FetchItem::Kind;
using Text = Section::Text;

// Runs the real parser on a full command line, whole and byte by byte (both must agree),
// and returns the one command it yields.
Command ParseLine(const std::string& line) {
  std::vector<Event> whole;
  {
    Parser parser{Limits{}};
    parser.Feed(line, whole);
  }
  std::vector<Event> bytewise;
  {
    Parser parser{Limits{}};
    for (const char c : line) {
      parser.Feed(std::string_view{&c, 1}, bytewise);
    }
  }
  EXPECT_EQ(whole, bytewise) << "whole-buffer and byte-by-byte parses differ";
  std::vector<Command> commands;
  for (const Event& event : whole) {
    if (const auto* command = std::get_if<Command>(&event)) {
      commands.push_back(*command);
    } else {
      EXPECT_TRUE(std::holds_alternative<NeedContinuation>(event)) << "parse error in " << line;
    }
  }
  EXPECT_EQ(commands.size(), 1u) << line;
  return commands.empty() ? Command{} : commands[0];
}

// "a FETCH 1:* <rest>": the items are the second argument, the modifiers the third.
absl::StatusOr<FetchRequest> Fetch(std::string_view rest) {
  const Command command = ParseLine("a FETCH 1:* " + std::string(rest) + "\r\n");
  EXPECT_GE(command.args.size(), 2u);
  EXPECT_LE(command.args.size(), 3u);
  if (command.args.size() < 2) {
    return absl::InternalError("no items");
  }
  return ParseFetchItems(command.args[1], command.args.size() > 2 ? &command.args[2] : nullptr);
}

void ExpectBad(const absl::StatusOr<FetchRequest>& result) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(result.status().message());
  EXPECT_FALSE(message.empty());
  // Fit for "<tag> BAD <message>": one short line.
  EXPECT_EQ(message.find_first_of("\r\n"), std::string::npos);
  EXPECT_LT(message.size(), 80u);
}

FetchItem Item(Kind kind) {
  FetchItem item;
  item.kind = kind;
  return item;
}

FetchItem Body(Section section, bool peek = false, std::optional<Partial> partial = {}) {
  FetchItem item;
  item.kind = Kind::kBodySection;
  item.section = std::move(section);
  item.peek = peek;
  item.partial = partial;
  return item;
}

FetchItem Binary(Kind kind, std::vector<uint32_t> part, bool peek = false,
                 std::optional<Partial> partial = {}) {
  FetchItem item;
  item.kind = kind;
  item.section.part = std::move(part);
  item.peek = peek;
  item.partial = partial;
  return item;
}

Section Sec(std::vector<uint32_t> part, Text text = Text::kNone,
            std::vector<std::string> fields = {}) {
  Section section;
  section.part = std::move(part);
  section.text = text;
  section.fields = std::move(fields);
  return section;
}

std::vector<FetchItem> Items(const absl::StatusOr<FetchRequest>& result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->items : std::vector<FetchItem>{};
}

TEST(FetchItemsTest, EverySimpleItemAlone) {
  const std::pair<const char*, Kind> cases[] = {
      {"FLAGS", Kind::kFlags},
      {"INTERNALDATE", Kind::kInternalDate},
      {"RFC822", Kind::kRfc822},
      {"RFC822.HEADER", Kind::kRfc822Header},
      {"RFC822.TEXT", Kind::kRfc822Text},
      {"RFC822.SIZE", Kind::kRfc822Size},
      {"ENVELOPE", Kind::kEnvelope},
      {"BODY", Kind::kBody},
      {"BODYSTRUCTURE", Kind::kBodyStructure},
      {"UID", Kind::kUid},
      {"MODSEQ", Kind::kModseq},
  };
  for (const auto& [name, kind] : cases) {
    SCOPED_TRACE(name);
    const absl::StatusOr<FetchRequest> alone = Fetch(name);
    EXPECT_EQ(Items(alone), std::vector<FetchItem>{Item(kind)});
    if (alone.ok()) {
      EXPECT_FALSE(alone->changed_since.has_value());
      EXPECT_FALSE(alone->vanished);
    }
    EXPECT_EQ(Items(Fetch("(" + std::string(name) + ")")), std::vector<FetchItem>{Item(kind)});
  }
}

TEST(FetchItemsTest, NamesAreCaseInsensitive) {
  EXPECT_EQ(Items(Fetch("(flags Rfc822.Size bodystructure uid)")),
            (std::vector<FetchItem>{Item(Kind::kFlags), Item(Kind::kRfc822Size),
                                    Item(Kind::kBodyStructure), Item(Kind::kUid)}));
  EXPECT_EQ(Items(Fetch("body.peek[header]<0.10>")),
            std::vector<FetchItem>{Body(Sec({}, Text::kHeader), true, Partial{0, 10})});
}

TEST(FetchItemsTest, MacrosExpand) {
  // RFC 3501 6.4.5.
  EXPECT_EQ(Items(Fetch("ALL")),
            (std::vector<FetchItem>{Item(Kind::kFlags), Item(Kind::kInternalDate),
                                    Item(Kind::kRfc822Size), Item(Kind::kEnvelope)}));
  EXPECT_EQ(Items(Fetch("FAST")),
            (std::vector<FetchItem>{Item(Kind::kFlags), Item(Kind::kInternalDate),
                                    Item(Kind::kRfc822Size)}));
  EXPECT_EQ(
      Items(Fetch("FULL")),
      (std::vector<FetchItem>{Item(Kind::kFlags), Item(Kind::kInternalDate),
                              Item(Kind::kRfc822Size), Item(Kind::kEnvelope), Item(Kind::kBody)}));
  EXPECT_EQ(Items(Fetch("all")), Items(Fetch("ALL")));
  EXPECT_EQ(Items(Fetch("Fast")), Items(Fetch("FAST")));
}

TEST(FetchItemsTest, MacroWithModifiers) {
  const absl::StatusOr<FetchRequest> r = Fetch("FAST (CHANGEDSINCE 7)");
  EXPECT_EQ(Items(r), (std::vector<FetchItem>{Item(Kind::kFlags), Item(Kind::kInternalDate),
                                              Item(Kind::kRfc822Size), Item(Kind::kModseq)}));
}

TEST(FetchItemsTest, MacrosOnlyAlone) {
  for (const char* input : {"(ALL)", "(FAST)", "(FULL)", "(FLAGS ALL)", "(UID full)"}) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, EmptyListIsBad) { ExpectBad(Fetch("()")); }

TEST(FetchItemsTest, ListKeepsOrderAndDropsDuplicates) {
  EXPECT_EQ(Items(Fetch("(UID FLAGS uid BODY[] FLAGS BODY[] BODY.PEEK[] ENVELOPE)")),
            (std::vector<FetchItem>{Item(Kind::kUid), Item(Kind::kFlags), Body(Sec({})),
                                    Body(Sec({}), true), Item(Kind::kEnvelope)}));
  // Different partials or sections are different items.
  EXPECT_EQ(Items(Fetch("(BODY[]<0.10> BODY[]<0.20> BODY[]<0.10> BODY[1] BODY[1])")),
            (std::vector<FetchItem>{Body(Sec({}), false, Partial{0, 10}),
                                    Body(Sec({}), false, Partial{0, 20}), Body(Sec({1}))}));
}

TEST(FetchItemsTest, BodySections) {
  struct Case {
    const char* input;
    FetchItem expected;
    const char* echo;
  };
  const Case cases[] = {
      {"BODY[]", Body(Sec({})), ""},
      {"BODY.PEEK[]", Body(Sec({}), true), ""},
      {"BODY[HEADER]", Body(Sec({}, Text::kHeader)), "HEADER"},
      {"BODY[TEXT]", Body(Sec({}, Text::kText)), "TEXT"},
      {"BODY[1]", Body(Sec({1})), "1"},
      {"BODY[1.2.3]", Body(Sec({1, 2, 3})), "1.2.3"},
      {"BODY[4294967295]", Body(Sec({4294967295u})), "4294967295"},
      {"BODY[1.2.MIME]", Body(Sec({1, 2}, Text::kMime)), "1.2.MIME"},
      {"BODY[1.TEXT]", Body(Sec({1}, Text::kText)), "1.TEXT"},
      {"BODY[3.HEADER]", Body(Sec({3}, Text::kHeader)), "3.HEADER"},
      {"BODY[header.fields (from to)]", Body(Sec({}, Text::kHeaderFields, {"FROM", "TO"})),
       "HEADER.FIELDS (FROM TO)"},
      {"BODY[HEADER.FIELDS (FROM)]", Body(Sec({}, Text::kHeaderFields, {"FROM"})),
       "HEADER.FIELDS (FROM)"},
      {"BODY[HEADER.FIELDS.NOT (X-Spam Received)]",
       Body(Sec({}, Text::kHeaderFieldsNot, {"X-SPAM", "RECEIVED"})),
       "HEADER.FIELDS.NOT (X-SPAM RECEIVED)"},
      {"BODY.PEEK[2.1.HEADER.FIELDS (Subject)]",
       Body(Sec({2, 1}, Text::kHeaderFields, {"SUBJECT"}), true), "2.1.HEADER.FIELDS (SUBJECT)"},
      {"BODY[2.HEADER.FIELDS.NOT (Date)]", Body(Sec({2}, Text::kHeaderFieldsNot, {"DATE"})),
       "2.HEADER.FIELDS.NOT (DATE)"},
      // Header field names may be quoted strings; they are kept in the order given.
      {"BODY.PEEK[HEADER.FIELDS (FROM \"TO\" \"x-b\" cc)]",
       Body(Sec({}, Text::kHeaderFields, {"FROM", "TO", "X-B", "CC"}), true),
       "HEADER.FIELDS (FROM TO X-B CC)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    const std::vector<FetchItem> items = Items(Fetch(c.input));
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0], c.expected);
    EXPECT_EQ(items[0].section.ToString(), c.echo);
  }
}

TEST(FetchItemsTest, SectionInsideListWithPartial) {
  EXPECT_EQ(
      Items(Fetch("(FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)")),
      (std::vector<FetchItem>{Item(Kind::kFlags), Body(Sec({}, Text::kHeaderFields, {"FROM", "TO"}),
                                                       true, Partial{0, 100})}));
}

TEST(FetchItemsTest, QuotedFieldNamesEchoQuotedWhenNeeded) {
  const std::vector<FetchItem> items =
      Items(Fetch(R"x(BODY[HEADER.FIELDS ("A B" "q\"x" "back\\slash" "p(1)")])x"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].section.fields,
            (std::vector<std::string>{"A B", "Q\"X", "BACK\\SLASH", "P(1)"}));
  EXPECT_EQ(items[0].section.ToString(), R"x(HEADER.FIELDS ("A B" "Q\"X" "BACK\\SLASH" "P(1)"))x");
}

TEST(FetchItemsTest, Partials) {
  EXPECT_EQ(Items(Fetch("BODY[]<0.1>")),
            std::vector<FetchItem>{Body(Sec({}), false, Partial{0, 1})});
  EXPECT_EQ(
      Items(Fetch("BODY[TEXT]<4294967295.4294967295>")),
      std::vector<FetchItem>{Body(Sec({}, Text::kText), false, Partial{4294967295u, 4294967295u})});
  // number allows leading zeros (RFC 3501 9: number = 1*DIGIT).
  EXPECT_EQ(Items(Fetch("BODY[1]<007.5>")),
            std::vector<FetchItem>{Body(Sec({1}), false, Partial{7, 5})});
}

TEST(FetchItemsTest, BinarySections) {
  // RFC 3516: section-binary = "[" [section-part] "]".
  EXPECT_EQ(Items(Fetch("BINARY[]")), std::vector<FetchItem>{Binary(Kind::kBinary, {})});
  EXPECT_EQ(Items(Fetch("BINARY[1.2]")), std::vector<FetchItem>{Binary(Kind::kBinary, {1, 2})});
  EXPECT_EQ(Items(Fetch("binary.peek[1]<0.10>")),
            std::vector<FetchItem>{Binary(Kind::kBinary, {1}, true, Partial{0, 10})});
  EXPECT_EQ(Items(Fetch("BINARY.SIZE[3]")), std::vector<FetchItem>{Binary(Kind::kBinarySize, {3})});
  EXPECT_EQ(Items(Fetch("BINARY.SIZE[]")), std::vector<FetchItem>{Binary(Kind::kBinarySize, {})});
  EXPECT_EQ(Items(Fetch("(BINARY.SIZE[1] BINARY.PEEK[1] BINARY[1])")),
            (std::vector<FetchItem>{Binary(Kind::kBinarySize, {1}),
                                    Binary(Kind::kBinary, {1}, true), Binary(Kind::kBinary, {1})}));
}

TEST(FetchItemsTest, BadSections) {
  for (const char* input : {
           "BODY[0]",  // part numbers are nz-number
           "BODY[1.0]",
           "BODY[01]",
           "BODY[4294967296]",  // over 32 bits
           "BODY[99999999999999999999999]",
           "BODY[MIME]",  // MIME only after a part number
           "BODY.PEEK[MIME]",
           "BODY[1.]",
           "BODY[1..2]",
           "BODY[.1]",
           "BODY[1.FOO]",
           "BODY[FOO]",
           "BODY[TEXT.MIME]",
           "BODY[HEADER.MIME]",
           "BODY[HEADER ]",
           "BODY[TEXT x]",
           "BODY[1 ]",
           "BODY[HEADER.FIELDS]",  // names required
           "BODY[HEADER.FIELDS.NOT]",
           "BODY[HEADER.FIELDS ()]",
           "BODY[HEADER.FIELDS(FROM)]",    // SP required
           "BODY[HEADER.FIELDS  (FROM)]",  // one SP only
           "BODY[HEADER.FIELDS (FROM  TO)]",
           "BODY[HEADER.FIELDS ( FROM)]",
           "BODY[HEADER.FIELDS (FROM )]",
           "BODY[HEADER.FIELDS FROM]",
           "BODY[HEADER.FIELDS (FROM) x]",
           "BODY[HEADER.FIELDS (FROM)(TO)]",
           "BODY[HEADER.FIELDS (\"\")]",  // empty name
           "BODY[HEADER.FIELDS (FROM \"\")]",
           "BODY[HEADER.FIELDS (\"a\\x\")]",  // only \" and \\ escapes
           "BODY[HEADER.FIELDS (FR*M)]",      // not an astring
           "BODY[HEADER.FIELDS (FROM%)]",
           "BODY[HEADER.FIELDS (FROM{3})]",  // no literal inside a section
           "BODY[HEADER.FIELDS (FROM\"TO\")]",
           "BODY[HEADER.FIELDS.NOTX (FROM)]",
           "BODY[[]]",
           "BODY[1[2]]",
           "BODY[]]",
       }) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, BadBinarySections) {
  for (const char* input : {"BINARY[HEADER]", "BINARY[TEXT]", "BINARY[1.TEXT]", "BINARY[1.MIME]",
                            "BINARY.PEEK[1.HEADER]", "BINARY.SIZE[1.MIME]", "BINARY[0]",
                            "BINARY[1.0]", "BINARY[1.]", "BINARY.SIZE[HEADER.FIELDS (FROM)]",
                            "BINARY.SIZE[1]<0.10>", "BINARY.SIZE[]<0.1>", "BINARY.SIZE[1]x"}) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, BadPartials) {
  for (const char* input : {
           "BODY[]<0.0>",  // RFC 3501 9: the length is an nz-number
           "BODY[]<5.0>",
           "BODY[]<0.00>",
           "BODY[]<0.01>",
           "BODY[]<0>",
           "BODY[]<0.>",
           "BODY[]<.5>",
           "BODY[]<>",
           "BODY[]<1.2",
           "BODY[]<1.2>>",
           "BODY[]<1.2>x",
           "BODY[]<1.2><3.4>",
           "BODY[]<-1.2>",
           "BODY[]<1.+2>",
           "BODY[]<4294967296.1>",  // over 32 bits
           "BODY[]<0.4294967296>",
           "BODY[]<99999999999999999999999.1>",
           "BODY[]x",
           "BODY[]1",
           "BODY.PEEK[TEXT]<1,2>",
           "BINARY[1]<0.0>",
       }) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, UnknownItems) {
  for (const char* input :
       {"FOO", "(FLAGS FOO)", "RFC822.FOO", "RFC822.PEEK", "BODY.FOO[]", "BODY.PEEK",
        "BODYSTRUCTURE[]", "FLAGS[]", "BODY<0.10>", "UID[1]", "BINARY", "BINARY.PEEK",
        "BINARY.SIZE", "BODY.PEEK.PEEK[]", "[HEADER]", "\\Seen", "MODSEQ[]", "NIL"}) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, ItemsMustBeAtoms) {
  for (const char* input : {"\"FLAGS\"", "(\"FLAGS\")", "(FLAGS (UID))", "((FLAGS))",
                            "(FLAGS \"UID\")", "{5}\r\nFLAGS", "(UID {5}\r\nFLAGS)"}) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, ChangedSinceAddsModseq) {
  // RFC 7162 3.1.4.1: CHANGEDSINCE implicitly adds MODSEQ.
  const absl::StatusOr<FetchRequest> r = Fetch("(FLAGS) (CHANGEDSINCE 12345)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->items, (std::vector<FetchItem>{Item(Kind::kFlags), Item(Kind::kModseq)}));
  EXPECT_EQ(r->changed_since, 12345u);
  EXPECT_FALSE(r->vanished);

  // Not added twice when asked for explicitly.
  const absl::StatusOr<FetchRequest> explicit_modseq = Fetch("(MODSEQ FLAGS) (changedsince 1)");
  ASSERT_TRUE(explicit_modseq.ok()) << explicit_modseq.status();
  EXPECT_EQ(explicit_modseq->items,
            (std::vector<FetchItem>{Item(Kind::kModseq), Item(Kind::kFlags)}));
  EXPECT_EQ(explicit_modseq->changed_since, 1u);

  // The largest mod-sequence-value (RFC 7162 7: 63 bits).
  const absl::StatusOr<FetchRequest> largest = Fetch("UID (CHANGEDSINCE 9223372036854775807)");
  ASSERT_TRUE(largest.ok()) << largest.status();
  EXPECT_EQ(largest->changed_since, 9223372036854775807u);
}

TEST(FetchItemsTest, Vanished) {
  for (const char* input :
       {"(FLAGS) (CHANGEDSINCE 5 VANISHED)", "(FLAGS) (vanished changedsince 5)"}) {
    SCOPED_TRACE(input);
    const absl::StatusOr<FetchRequest> r = Fetch(input);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->vanished);
    EXPECT_EQ(r->changed_since, 5u);
    EXPECT_TRUE(r->Has(Kind::kModseq));
  }
}

TEST(FetchItemsTest, BadModifiers) {
  for (const char* input : {
           "FLAGS ()",            // at least one modifier
           "FLAGS CHANGEDSINCE",  // not a list
           "FLAGS \"CHANGEDSINCE\"",
           "FLAGS (CHANGEDSINCE)",                      // value missing
           "FLAGS (CHANGEDSINCE 0)",                    // mod-sequence-value >= 1
           "FLAGS (CHANGEDSINCE 9223372036854775808)",  // over 63 bits
           "FLAGS (CHANGEDSINCE 99999999999999999999999)",
           "FLAGS (CHANGEDSINCE -1)",
           "FLAGS (CHANGEDSINCE 1x)",
           "FLAGS (CHANGEDSINCE abc)",
           "FLAGS (CHANGEDSINCE \"5\")",
           "FLAGS (CHANGEDSINCE (5))",
           "FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)",  // duplicate
           "FLAGS (CHANGEDSINCE 1 VANISHED VANISHED)",
           "FLAGS (VANISHED)",  // RFC 7162 3.2.6: VANISHED needs CHANGEDSINCE
           "FLAGS (FOO)",
           "FLAGS (CHANGEDSINCE 1 FOO)",
           "FLAGS (\"VANISHED\" CHANGEDSINCE 1)",
           "FLAGS ((CHANGEDSINCE 1))",
       }) {
    SCOPED_TRACE(input);
    ExpectBad(Fetch(input));
  }
}

TEST(FetchItemsTest, SetsSeen) {
  // RFC 3501 6.4.5: BODY[...], RFC822 and RFC822.TEXT set \Seen; .PEEK forms do not.
  struct Case {
    const char* input;
    bool sets_seen;
  };
  for (const Case& c :
       {Case{"BODY[]", true}, Case{"BODY[1.MIME]", true}, Case{"BODY.PEEK[]", false},
        Case{"BINARY[1]", true}, Case{"BINARY.PEEK[1]", false}, Case{"BINARY.SIZE[1]", false},
        Case{"RFC822", true}, Case{"RFC822.TEXT", true}, Case{"RFC822.HEADER", false},
        Case{"RFC822.SIZE", false}, Case{"FLAGS", false}, Case{"BODY", false},
        Case{"BODYSTRUCTURE", false}, Case{"ENVELOPE", false}, Case{"INTERNALDATE", false},
        Case{"UID", false}, Case{"MODSEQ", false}}) {
    SCOPED_TRACE(c.input);
    const std::vector<FetchItem> items = Items(Fetch(c.input));
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].SetsSeen(), c.sets_seen);
  }
}

TEST(FetchItemsTest, Has) {
  const absl::StatusOr<FetchRequest> r = Fetch("(UID BODY.PEEK[1] ENVELOPE)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->Has(Kind::kUid));
  EXPECT_TRUE(r->Has(Kind::kBodySection));
  EXPECT_TRUE(r->Has(Kind::kEnvelope));
  EXPECT_FALSE(r->Has(Kind::kFlags));
  EXPECT_FALSE(r->Has(Kind::kBody));
  EXPECT_FALSE(r->Has(Kind::kModseq));
}

TEST(FetchItemsTest, Rfc3501Examples) {
  // RFC 3501 6.4.5 and 6.4.8 examples.
  EXPECT_EQ(Items(Fetch("(FLAGS BODY[HEADER.FIELDS (DATE FROM)])")),
            (std::vector<FetchItem>{Item(Kind::kFlags),
                                    Body(Sec({}, Text::kHeaderFields, {"DATE", "FROM"}))}));
  EXPECT_EQ(Items(Fetch("(BODY[HEADER.FIELDS (TO CC)] BODY[TEXT]<0.2048>)")),
            (std::vector<FetchItem>{Body(Sec({}, Text::kHeaderFields, {"TO", "CC"})),
                                    Body(Sec({}, Text::kText), false, Partial{0, 2048})}));
}

TEST(FetchItemsTest, ValuesNotFromTheParser) {
  // Shapes the parser cannot produce (unbalanced or unterminated section text) still get
  // a BAD, not a crash.
  for (const char* text :
       {"BODY[", "BODY[HEADER", "BODY[HEADER.FIELDS (FROM)", "BODY[HEADER.FIELDS (\"FROM)]",
        "BODY[HEADER.FIELDS (\"FROM\\", "BODY[1", "BODY[1.", "BINARY[1", "BODY[]<", "BODY[]<1.",
        "BODY[HEADER.FIELDS (\"\x01\")]", "BODY[HEADER.FIELDS (\"\xff\")]"}) {
    SCOPED_TRACE(text);
    ExpectBad(ParseFetchItems(Value::Atom(text), nullptr));
  }
  const Value list = Value::List({Value::Atom("FLAGS")});
  ExpectBad(ParseFetchItems(list, &list));  // FLAGS is no modifier
  ExpectBad(ParseFetchItems(Value::Literal("FLAGS"), nullptr));
  ExpectBad(ParseFetchItems(Value::Atom(""), nullptr));
}

TEST(SectionTest, ToString) {
  EXPECT_EQ(Sec({}).ToString(), "");
  EXPECT_EQ(Sec({1, 2}, Text::kMime).ToString(), "1.2.MIME");
  EXPECT_EQ(Sec({1}, Text::kText).ToString(), "1.TEXT");
  EXPECT_EQ(Sec({}, Text::kHeaderFields, {"FROM", "TO"}).ToString(), "HEADER.FIELDS (FROM TO)");
  EXPECT_EQ(Sec({4, 1}, Text::kHeaderFieldsNot, {"X"}).ToString(), "4.1.HEADER.FIELDS.NOT (X)");
  EXPECT_EQ(Sec({}, Text::kHeader).ToString(), "HEADER");
  EXPECT_EQ(Sec({7}).ToString(), "7");
}

}  // namespace
}  // namespace tern::imap::protocol
