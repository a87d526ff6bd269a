#include "services/imap/protocol/search_keys.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/imap/protocol/parser.h"

namespace tern::imap::protocol {
namespace {

using Kind = SearchKey::Kind;
using Flag = SearchKey::Flag;

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

// "a SEARCH <rest>".
absl::StatusOr<SearchProgram> Search(std::string_view rest, size_t max_depth = 32) {
  const Command command = ParseLine("a SEARCH " + std::string(rest) + "\r\n");
  return ParseSearch(command.args, max_depth);
}

// The key of a program that must parse.
SearchKey KeyOf(std::string_view rest) {
  const absl::StatusOr<SearchProgram> program = Search(rest);
  EXPECT_TRUE(program.ok()) << rest << ": " << program.status();
  return program.ok() ? program->key : SearchKey{};
}

void ExpectBad(const absl::StatusOr<SearchProgram>& result) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(result.status().message());
  EXPECT_FALSE(message.empty());
  // Fit for "<tag> BAD <message>": one short line.
  EXPECT_EQ(message.find_first_of("\r\n"), std::string::npos);
  EXPECT_LT(message.size(), 80u);
}

SearchKey Key(Kind kind) {
  SearchKey key;
  key.kind = kind;
  return key;
}

SearchKey FlagKey(Flag flag, bool set) {
  SearchKey key = Key(Kind::kFlag);
  key.flag = flag;
  key.set_flag = set;
  return key;
}

SearchKey KeywordKey(std::string keyword, bool set) {
  SearchKey key = Key(Kind::kKeyword);
  key.text = std::move(keyword);
  key.set_flag = set;
  return key;
}

SearchKey TextKey(Kind kind, std::string text) {
  SearchKey key = Key(kind);
  key.text = std::move(text);
  return key;
}

SearchKey HeaderKey(std::string field, std::string text) {
  SearchKey key = Key(Kind::kHeader);
  key.field = std::move(field);
  key.text = std::move(text);
  return key;
}

SearchKey DateKey(Kind kind, Date date) {
  SearchKey key = Key(kind);
  key.date = date;
  return key;
}

SearchKey NumberKey(Kind kind, uint64_t number, std::string field = "") {
  SearchKey key = Key(kind);
  key.number = number;
  key.field = std::move(field);
  return key;
}

SearchKey SetKey(Kind kind, std::string_view set) {
  SearchKey key = Key(kind);
  key.set = ParseSequenceSet(set).value();
  return key;
}

SearchKey And(std::vector<SearchKey> children) {
  SearchKey key = Key(Kind::kAnd);
  key.children = std::move(children);
  return key;
}

SearchKey Or(SearchKey a, SearchKey b) {
  SearchKey key = Key(Kind::kOr);
  key.children = {std::move(a), std::move(b)};
  return key;
}

SearchKey Not(SearchKey a) {
  SearchKey key = Key(Kind::kNot);
  key.children = {std::move(a)};
  return key;
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.append(s);
  }
  return out;
}

TEST(SearchKeysTest, KeysWithoutArguments) {
  const std::pair<const char*, SearchKey> cases[] = {
      {"ALL", Key(Kind::kAll)},
      {"ANSWERED", FlagKey(Flag::kAnswered, true)},
      {"DELETED", FlagKey(Flag::kDeleted, true)},
      {"DRAFT", FlagKey(Flag::kDraft, true)},
      {"FLAGGED", FlagKey(Flag::kFlagged, true)},
      {"SEEN", FlagKey(Flag::kSeen, true)},
      {"UNANSWERED", FlagKey(Flag::kAnswered, false)},
      {"UNDELETED", FlagKey(Flag::kDeleted, false)},
      {"UNDRAFT", FlagKey(Flag::kDraft, false)},
      {"UNFLAGGED", FlagKey(Flag::kFlagged, false)},
      {"UNSEEN", FlagKey(Flag::kSeen, false)},
      {"RECENT", Key(Kind::kRecent)},
      {"NEW", Key(Kind::kNew)},
      {"OLD", Key(Kind::kOld)},
  };
  for (const auto& [name, expected] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(KeyOf(name), expected);
    std::string lower(name);
    for (char& c : lower) {
      c = static_cast<char>(c - 'A' + 'a');
    }
    EXPECT_EQ(KeyOf(lower), expected);  // atoms are case-insensitive
  }
}

TEST(SearchKeysTest, ProgramWithoutOptions) {
  const absl::StatusOr<SearchProgram> program = Search("ALL");
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_FALSE(program->return_options.has_value());
  EXPECT_EQ(program->charset, "");
  EXPECT_EQ(program->key, Key(Kind::kAll));
}

TEST(SearchKeysTest, HeaderShorthands) {
  const std::pair<const char*, const char*> cases[] = {
      {"BCC", "BCC"}, {"CC", "CC"},     {"FROM", "FROM"},       {"SUBJECT", "SUBJECT"},
      {"TO", "TO"},   {"from", "FROM"}, {"Subject", "SUBJECT"},
  };
  for (const auto& [name, field] : cases) {
    SCOPED_TRACE(name);
    const std::string key(name);
    EXPECT_EQ(KeyOf(key + " smith"), HeaderKey(field, "smith"));
    EXPECT_EQ(KeyOf(key + " \"John Smith\""), HeaderKey(field, "John Smith"));
    EXPECT_EQ(KeyOf(key + " {5}\r\nSmith"), HeaderKey(field, "Smith"));
    EXPECT_EQ(KeyOf(key + " {4+}\r\nb\xc3\xa9z"), HeaderKey(field, "b\xc3\xa9z"));
    EXPECT_EQ(KeyOf(key + " \"\""), HeaderKey(field, ""));
    EXPECT_EQ(KeyOf(key + " NIL"), HeaderKey(field, "NIL"));  // an atom, not nil
  }
}

TEST(SearchKeysTest, BodyAndText) {
  EXPECT_EQ(KeyOf("BODY hello"), TextKey(Kind::kBody, "hello"));
  EXPECT_EQ(KeyOf("body \"two words\""), TextKey(Kind::kBody, "two words"));
  EXPECT_EQ(KeyOf("TEXT {3}\r\nabc"), TextKey(Kind::kText, "abc"));
  EXPECT_EQ(KeyOf("text \"string not in mailbox\""), TextKey(Kind::kText, "string not in mailbox"));
  EXPECT_EQ(KeyOf("TEXT \"\""), TextKey(Kind::kText, ""));
}

TEST(SearchKeysTest, Header) {
  EXPECT_EQ(KeyOf("HEADER X-Mailer mutt"), HeaderKey("X-MAILER", "mutt"));
  EXPECT_EQ(KeyOf("header \"List-Id\" \"\""), HeaderKey("LIST-ID", ""));
  EXPECT_EQ(KeyOf("HEADER {10}\r\nMessage-ID {5}\r\n<a@b>"), HeaderKey("MESSAGE-ID", "<a@b>"));
}

TEST(SearchKeysTest, Keywords) {
  EXPECT_EQ(KeyOf("KEYWORD $Forwarded"), KeywordKey("$Forwarded", true));
  EXPECT_EQ(KeyOf("unkeyword Junk"), KeywordKey("Junk", false));
  EXPECT_EQ(KeyOf("KEYWORD $MDNSent UNKEYWORD $Junk"),
            And({KeywordKey("$MDNSent", true), KeywordKey("$Junk", false)}));
}

TEST(SearchKeysTest, Dates) {
  const std::pair<const char*, Kind> cases[] = {
      {"BEFORE", Kind::kBefore},         {"ON", Kind::kOn},         {"SINCE", Kind::kSince},
      {"SENTBEFORE", Kind::kSentBefore}, {"SENTON", Kind::kSentOn}, {"SENTSINCE", Kind::kSentSince},
  };
  for (const auto& [name, kind] : cases) {
    SCOPED_TRACE(name);
    const std::string key(name);
    EXPECT_EQ(KeyOf(key + " 1-Feb-1994"), DateKey(kind, Date{1994, 2, 1}));
    EXPECT_EQ(KeyOf(key + " \"01-feb-1994\""), DateKey(kind, Date{1994, 2, 1}));
    EXPECT_EQ(KeyOf(key + " 29-Feb-2000"), DateKey(kind, Date{2000, 2, 29}));
  }
}

TEST(SearchKeysTest, Sizes) {
  EXPECT_EQ(KeyOf("LARGER 50000"), NumberKey(Kind::kLarger, 50000));
  EXPECT_EQ(KeyOf("smaller 0"), NumberKey(Kind::kSmaller, 0));
  EXPECT_EQ(KeyOf("LARGER 4294967296"), NumberKey(Kind::kLarger, 4294967296u));
  EXPECT_EQ(KeyOf("SMALLER 9223372036854775807"), NumberKey(Kind::kSmaller, 9223372036854775807u));
}

TEST(SearchKeysTest, UidAndSequenceSets) {
  EXPECT_EQ(KeyOf("UID 1:*"), SetKey(Kind::kUid, "1:*"));
  EXPECT_EQ(KeyOf("uid 1,3:5,9"), SetKey(Kind::kUid, "1,3:5,9"));
  EXPECT_EQ(KeyOf("UID $"), SetKey(Kind::kUid, "$"));  // RFC 5182 2.1
  EXPECT_EQ(KeyOf("1:3"), SetKey(Kind::kSequence, "1:3"));
  EXPECT_EQ(KeyOf("*"), SetKey(Kind::kSequence, "*"));
  EXPECT_EQ(KeyOf("$"), SetKey(Kind::kSequence, "$"));
  EXPECT_EQ(KeyOf("2,4:* SEEN"),
            And({SetKey(Kind::kSequence, "2,4:*"), FlagKey(Flag::kSeen, true)}));

  const SearchKey saved = KeyOf("$");
  EXPECT_TRUE(saved.set.saved_result);
}

TEST(SearchKeysTest, Modseq) {
  // RFC 7162 3.1.5.
  EXPECT_EQ(KeyOf("MODSEQ 620162338"), NumberKey(Kind::kModseq, 620162338));
  EXPECT_EQ(KeyOf("modseq 0"), NumberKey(Kind::kModseq, 0));  // mod-sequence-valzer
  EXPECT_EQ(KeyOf("MODSEQ 9223372036854775807"), NumberKey(Kind::kModseq, 9223372036854775807u));
  EXPECT_EQ(KeyOf(R"(MODSEQ "/flags/\\draft" all 620162338)"),
            NumberKey(Kind::kModseq, 620162338, "/flags/\\draft"));
  EXPECT_EQ(KeyOf(R"(MODSEQ "/flags/$MDNSent" PRIV 5)"),
            NumberKey(Kind::kModseq, 5, "/flags/$MDNSent"));
  EXPECT_EQ(KeyOf(R"(MODSEQ "/FLAGS/\\Seen" Shared 0)"),
            NumberKey(Kind::kModseq, 0, "/FLAGS/\\Seen"));
  EXPECT_EQ(KeyOf("MODSEQ {12}\r\n/flags/\\seen all 7"),
            NumberKey(Kind::kModseq, 7, "/flags/\\seen"));
}

TEST(SearchKeysTest, NotAndOr) {
  EXPECT_EQ(KeyOf("NOT SEEN"), Not(FlagKey(Flag::kSeen, true)));
  EXPECT_EQ(KeyOf("OR SEEN DELETED"),
            Or(FlagKey(Flag::kSeen, true), FlagKey(Flag::kDeleted, true)));
  EXPECT_EQ(KeyOf("NOT NOT ALL"), Not(Not(Key(Kind::kAll))));
  EXPECT_EQ(
      KeyOf("OR OR SEEN DRAFT NOT FROM x"),
      Or(Or(FlagKey(Flag::kSeen, true), FlagKey(Flag::kDraft, true)), Not(HeaderKey("FROM", "x"))));
  EXPECT_EQ(KeyOf("or (SEEN FLAGGED) UID 5"),
            Or(And({FlagKey(Flag::kSeen, true), FlagKey(Flag::kFlagged, true)}),
               SetKey(Kind::kUid, "5")));
  // RFC 7162 3.1.5 example 16.
  EXPECT_EQ(KeyOf("OR NOT MODSEQ 720162338 LARGER 50000"),
            Or(Not(NumberKey(Kind::kModseq, 720162338)), NumberKey(Kind::kLarger, 50000)));
}

TEST(SearchKeysTest, ParenthesizedLists) {
  EXPECT_EQ(KeyOf("(SEEN)"), And({FlagKey(Flag::kSeen, true)}));
  EXPECT_EQ(KeyOf("(SEEN UNDELETED) 1:5"),
            And({And({FlagKey(Flag::kSeen, true), FlagKey(Flag::kDeleted, false)}),
                 SetKey(Kind::kSequence, "1:5")}));
  EXPECT_EQ(KeyOf("((OR SEEN (NEW SUBJECT \"a b\")))"),
            And({And({Or(FlagKey(Flag::kSeen, true),
                         And({Key(Kind::kNew), HeaderKey("SUBJECT", "a b")}))})}));
  EXPECT_EQ(KeyOf("NOT (BEFORE 1-Jan-2020 LARGER 10)"),
            Not(And({DateKey(Kind::kBefore, Date{2020, 1, 1}), NumberKey(Kind::kLarger, 10)})));
}

TEST(SearchKeysTest, TopLevelKeysAreAnded) {
  EXPECT_EQ(KeyOf("SEEN"), FlagKey(Flag::kSeen, true));
  // RFC 3501 6.4.4 example.
  EXPECT_EQ(KeyOf("FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
            And({FlagKey(Flag::kFlagged, true), DateKey(Kind::kSince, Date{1994, 2, 1}),
                 Not(HeaderKey("FROM", "Smith"))}));
}

TEST(SearchKeysTest, Charset) {
  const absl::StatusOr<SearchProgram> program = Search("CHARSET utf-8 TEXT {6}\r\nXXXXXX");
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(program->charset, "UTF-8");
  EXPECT_FALSE(program->return_options.has_value());
  EXPECT_EQ(program->key, TextKey(Kind::kText, "XXXXXX"));

  const absl::StatusOr<SearchProgram> quoted = Search("charset \"us-ascii\" ALL");
  ASSERT_TRUE(quoted.ok()) << quoted.status();
  EXPECT_EQ(quoted->charset, "US-ASCII");

  const absl::StatusOr<SearchProgram> literal = Search("CHARSET {5}\r\nkoi8r ALL SEEN");
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_EQ(literal->charset, "KOI8R");
  EXPECT_EQ(literal->key, And({Key(Kind::kAll), FlagKey(Flag::kSeen, true)}));
}

TEST(SearchKeysTest, ReturnOptions) {
  // RFC 4731 3.1 example.
  const absl::StatusOr<SearchProgram> program =
      Search("RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"");
  ASSERT_TRUE(program.ok()) << program.status();
  ASSERT_TRUE(program->return_options.has_value());
  EXPECT_EQ(*program->return_options, (SearchReturn{.min = true, .count = true}));
  EXPECT_EQ(program->key.children.size(), 3u);

  struct Case {
    const char* input;
    SearchReturn expected;
  };
  for (const Case& c : {
           // RFC 4731 3.1: an empty list means ALL.
           Case{"RETURN () ALL", SearchReturn{.all = true}},
           Case{"return (max) ALL", SearchReturn{.max = true}},
           Case{"RETURN (ALL) ALL", SearchReturn{.all = true}},
           Case{"RETURN (SAVE) ALL", SearchReturn{.save = true}},  // RFC 5182 2.2
           Case{"RETURN (MIN MAX ALL COUNT SAVE) ALL",
                SearchReturn{.min = true, .max = true, .all = true, .count = true, .save = true}},
           Case{"RETURN (count COUNT) ALL", SearchReturn{.count = true}},
       }) {
    SCOPED_TRACE(c.input);
    const absl::StatusOr<SearchProgram> p = Search(c.input);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->return_options.has_value());
    EXPECT_EQ(*p->return_options, c.expected);
    EXPECT_EQ(p->key, Key(Kind::kAll));
  }
}

TEST(SearchKeysTest, ReturnThenCharset) {
  const absl::StatusOr<SearchProgram> program = Search("RETURN (SAVE) CHARSET UTF-8 UID $ SEEN");
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(program->return_options, SearchReturn{.save = true});
  EXPECT_EQ(program->charset, "UTF-8");
  EXPECT_EQ(program->key, And({SetKey(Kind::kUid, "$"), FlagKey(Flag::kSeen, true)}));
}

TEST(SearchKeysTest, BadPrograms) {
  for (const char* input : {
           "",  // no key
           "RETURN",
           "RETURN ()",
           "RETURN MIN ALL",  // options are a list
           "RETURN \"MIN\" ALL",
           "RETURN (FOO) ALL",
           "RETURN (\"MIN\") ALL",
           "RETURN ((MIN)) ALL",
           "RETURN (PARTIAL 1:10) ALL",  // not supported here
           "CHARSET",
           "CHARSET UTF-8",
           "CHARSET (UTF-8) ALL",
           "CHARSET UTF-8 RETURN (MIN) ALL",  // RETURN comes first
           "RETURN () CHARSET",
           "ALL CHARSET UTF-8",  // CHARSET is not a key
           "ALL RETURN ()",
       }) {
    SCOPED_TRACE(input);
    ExpectBad(Search(input));
  }
}

TEST(SearchKeysTest, BadKeys) {
  for (const char* input : {
           "FOO",
           "SEEN FOO",
           "(SEEN FOO)",
           "\"ALL\"",
           "{3}\r\nALL",
           "()",
           "SEEN ()",
           "(SEEN ())",
           "NIL",
           "0",
           "1:0",
           "1,",
           "\\Seen",
           "UNRECENT",
           "ANSWERED[]",
           "UID",
           "UID foo",
           "UID 0",
           "UID \"1\"",
           "UID (1)",
           "UID 1:",
           "UID $:1",
           "NOT",
           "NOT FOO",
           "OR",
           "OR SEEN",
           "OR SEEN FOO",
           "(NOT)",
           "(OR SEEN) DELETED",  // OR's second key must be inside the list
           "BCC",
           "CC",
           "FROM",
           "SUBJECT",
           "TO",
           "BODY",
           "TEXT",
           "FROM (x)",
           "TEXT ()",
           "HEADER",
           "HEADER X-Foo",
           "HEADER \"\" x",
           "HEADER (X) y",
           "HEADER X (y)",
           "KEYWORD",
           "UNKEYWORD",
           "KEYWORD \\Seen",
           "KEYWORD \"$Junk\"",
           "KEYWORD {4}\r\nJunk",
           "KEYWORD (Junk)",
           "KEYWORD a*b",
           "KEYWORD a%",
           "KEYWORD a]",
           "KEYWORD a[b c]",
           "BEFORE",
           "BEFORE 31-Apr-2020",
           "ON 29-Feb-2001",
           "SINCE 1994-02-01",
           "SINCE Feb",
           "SENTON {10}\r\n1-Feb-1994",
           "SENTSINCE (1-Feb-1994)",
           "SENTBEFORE \"1-Foo-1994\"",
           "SINCE 1-Feb-1994x",
           "LARGER",
           "LARGER -1",
           "LARGER 1k",
           "LARGER \"5\"",
           "SMALLER (5)",
           "SMALLER {1}\r\n5",
           "SMALLER 9223372036854775808",
           "LARGER 99999999999999999999999",
           "SMALLER 0x10",
           "MODSEQ",
           "MODSEQ -1",
           "MODSEQ 12x",
           "MODSEQ 9223372036854775808",
           "MODSEQ (1)",
           "MODSEQ \"5\"",
           "MODSEQ abc",
           "MODSEQ \"/flags/\\\\draft\"",
           "MODSEQ \"/flags/\\\\draft\" all",
           "MODSEQ \"/flags/\\\\draft\" foo 1",
           "MODSEQ \"/flags/\\\\draft\" \"all\" 1",
           "MODSEQ \"/flags/\\\\draft\" all x",
           "MODSEQ \"/flags/\\\\draft\" all -1",
           "MODSEQ \"/other/x\" all 5",
           "MODSEQ \"/flags/\" all 5",
           "MODSEQ \"\" all 5",
           "MODSEQ \"/flags/x\" (all) 5",
       }) {
    SCOPED_TRACE(input);
    ExpectBad(Search(input));
  }
}

TEST(SearchKeysTest, DepthLimit) {
  // Each NOT, OR and list adds a level; top-level keys are at level 1.
  EXPECT_TRUE(Search(Repeat("NOT ", 31) + "ALL", 32).ok());
  ExpectBad(Search(Repeat("NOT ", 32) + "ALL", 32));
  EXPECT_TRUE(Search("(SEEN)", 2).ok());
  ExpectBad(Search("((SEEN))", 2));
  ExpectBad(Search("OR (SEEN) ALL", 2));
  EXPECT_TRUE(Search("OR SEEN ALL", 2).ok());
  ExpectBad(Search("OR SEEN NOT ALL", 2));
  ExpectBad(Search("SEEN", 0));
  EXPECT_TRUE(Search("SEEN DELETED 1:2", 1).ok());  // the implicit AND adds no level
  // A long flat chain is refused without deep recursion.
  ExpectBad(Search(Repeat("NOT ", 10000) + "ALL"));
  ExpectBad(Search(Repeat("OR ALL ", 5000) + "ALL"));
}

TEST(SearchKeysTest, DefaultDepthAllowsParserNesting) {
  // The parser's own list limit (16 by default) is within the default depth of 32.
  const std::string nested = Repeat("(", 16) + "SEEN" + Repeat(")", 16);
  EXPECT_TRUE(Search(nested).ok());
}

TEST(SearchKeysTest, ValuesNotFromTheParser) {
  ExpectBad(ParseSearch({}));
  // Nesting built directly is bounded as well.
  Value v = Value::Atom("ALL");
  for (int i = 0; i < 100; ++i) {
    v = Value::List({std::move(v)});
  }
  const std::vector<Value> args{v};
  ExpectBad(ParseSearch(args));
  EXPECT_TRUE(ParseSearch(args, 101).ok());
}

}  // namespace
}  // namespace tern::imap::protocol
