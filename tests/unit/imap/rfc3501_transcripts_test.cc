// The client commands of RFC 3501's examples (section 6 "Example:" blocks and the sample
// connection of section 8) run through the parser and the command table, and the server
// responses of those examples rebuilt with the encoder and compared with the RFC's bytes.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/imap/protocol/commands.h"
#include "services/imap/protocol/datetime.h"
#include "services/imap/protocol/encoder.h"
#include "services/imap/protocol/parser.h"

namespace tern::imap::protocol {
namespace {

Value A(std::string s) { return Value::Atom(std::move(s)); }
Value Q(std::string s) { return Value::Quoted(std::move(s)); }
Value Lit(std::string s) { return Value::Literal(std::move(s)); }
Value L(std::vector<Value> v) { return Value::List(std::move(v)); }

// Parses `input` whole, split in two at every byte position, and byte by byte; all must
// give the same events, which are returned.
std::vector<Event> ParseEveryWay(std::string_view input) {
  std::vector<Event> whole;
  {
    Parser parser{Limits{}};
    parser.Feed(input, whole);
  }
  for (size_t split = 0; split <= input.size(); ++split) {
    std::vector<Event> events;
    Parser parser{Limits{}};
    parser.Feed(input.substr(0, split), events);
    parser.Feed(input.substr(split), events);
    if (events != whole) {
      ADD_FAILURE() << "split at byte " << split << " differs for: " << input;
      break;
    }
  }
  std::vector<Event> bytewise;
  {
    Parser parser{Limits{}};
    for (const char c : input) {
      parser.Feed(std::string_view{&c, 1}, bytewise);
    }
  }
  EXPECT_EQ(bytewise, whole) << "byte-by-byte parse differs for: " << input;
  return whole;
}

struct Example {
  std::string_view section;
  SessionState state;  // the state the RFC example runs in
  std::string input;   // the client's bytes, CRLF line ends
  Command expected;
  std::vector<size_t> continuations = {};  // synchronizing literals announced
};

// RFC 3501 6.3.11 example message: the RFC shows its lines without CRLF; {310} counts them.
const std::string& AppendMessage() {
  static const std::string* const kMessage = new std::string(
      "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
      "From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
      "Subject: afternoon meeting\r\n"
      "To: mooch@owatagu.siam.edu\r\n"
      "Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
      "\r\n"
      "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n");
  return *kMessage;
}

std::vector<Example> Section6Examples() {
  constexpr SessionState n = SessionState::kNotAuthenticated;
  constexpr SessionState a = SessionState::kAuthenticated;
  constexpr SessionState s = SessionState::kSelected;
  return {
      // 6.1.1 CAPABILITY
      {"6.1.1", n, "abcd CAPABILITY\r\n", {"abcd", "CAPABILITY", {}}},
      {"6.1.1", n, "efgh STARTTLS\r\n", {"efgh", "STARTTLS", {}}},
      {"6.1.1", n, "ijkl CAPABILITY\r\n", {"ijkl", "CAPABILITY", {}}},
      // 6.1.2 NOOP
      {"6.1.2", s, "a002 NOOP\r\n", {"a002", "NOOP", {}}},
      {"6.1.2", s, "a047 NOOP\r\n", {"a047", "NOOP", {}}},
      // 6.1.3 LOGOUT
      {"6.1.3", a, "A023 LOGOUT\r\n", {"A023", "LOGOUT", {}}},
      // 6.2.1 STARTTLS
      {"6.2.1", n, "a001 CAPABILITY\r\n", {"a001", "CAPABILITY", {}}},
      {"6.2.1", n, "a002 STARTTLS\r\n", {"a002", "STARTTLS", {}}},
      {"6.2.1", n, "a003 CAPABILITY\r\n", {"a003", "CAPABILITY", {}}},
      {"6.2.1", n, "a004 LOGIN joe password\r\n", {"a004", "LOGIN", {A("joe"), A("password")}}},
      // 6.2.2 AUTHENTICATE (the SASL lines that follow are not commands: the exclusive
      // AUTHENTICATE handler reads them itself)
      {"6.2.2", n, "A001 AUTHENTICATE GSSAPI\r\n", {"A001", "AUTHENTICATE", {A("GSSAPI")}}},
      // 6.2.3 LOGIN
      {"6.2.3", n, "a001 LOGIN SMITH SESAME\r\n", {"a001", "LOGIN", {A("SMITH"), A("SESAME")}}},
      // 6.3.1 SELECT
      {"6.3.1", a, "A142 SELECT INBOX\r\n", {"A142", "SELECT", {A("INBOX")}}},
      // 6.3.2 EXAMINE
      {"6.3.2", a, "A932 EXAMINE blurdybloop\r\n", {"A932", "EXAMINE", {A("blurdybloop")}}},
      // 6.3.3 CREATE
      {"6.3.3", a, "A003 CREATE owatagusiam/\r\n", {"A003", "CREATE", {A("owatagusiam/")}}},
      {"6.3.3",
       a,
       "A004 CREATE owatagusiam/blurdybloop\r\n",
       {"A004", "CREATE", {A("owatagusiam/blurdybloop")}}},
      // 6.3.4 DELETE
      {"6.3.4", a, "A682 LIST \"\" *\r\n", {"A682", "LIST", {Q(""), A("*")}}},
      {"6.3.4", a, "A683 DELETE blurdybloop\r\n", {"A683", "DELETE", {A("blurdybloop")}}},
      {"6.3.4", a, "A684 DELETE foo\r\n", {"A684", "DELETE", {A("foo")}}},
      {"6.3.4", a, "A685 DELETE foo/bar\r\n", {"A685", "DELETE", {A("foo/bar")}}},
      {"6.3.4", a, "A686 LIST \"\" *\r\n", {"A686", "LIST", {Q(""), A("*")}}},
      {"6.3.4", a, "A687 DELETE foo\r\n", {"A687", "DELETE", {A("foo")}}},
      {"6.3.4", a, "A82 LIST \"\" *\r\n", {"A82", "LIST", {Q(""), A("*")}}},
      {"6.3.4", a, "A83 DELETE blurdybloop\r\n", {"A83", "DELETE", {A("blurdybloop")}}},
      {"6.3.4", a, "A84 DELETE foo\r\n", {"A84", "DELETE", {A("foo")}}},
      {"6.3.4", a, "A85 LIST \"\" *\r\n", {"A85", "LIST", {Q(""), A("*")}}},
      {"6.3.4", a, "A86 LIST \"\" %\r\n", {"A86", "LIST", {Q(""), A("%")}}},
      // 6.3.5 RENAME
      {"6.3.5", a, "A682 LIST \"\" *\r\n", {"A682", "LIST", {Q(""), A("*")}}},
      {"6.3.5",
       a,
       "A683 RENAME blurdybloop sarasoop\r\n",
       {"A683", "RENAME", {A("blurdybloop"), A("sarasoop")}}},
      {"6.3.5", a, "A684 RENAME foo zowie\r\n", {"A684", "RENAME", {A("foo"), A("zowie")}}},
      {"6.3.5", a, "A685 LIST \"\" *\r\n", {"A685", "LIST", {Q(""), A("*")}}},
      {"6.3.5", a, "Z432 LIST \"\" *\r\n", {"Z432", "LIST", {Q(""), A("*")}}},
      {"6.3.5",
       a,
       "Z433 RENAME INBOX old-mail\r\n",
       {"Z433", "RENAME", {A("INBOX"), A("old-mail")}}},
      {"6.3.5", a, "Z434 LIST \"\" *\r\n", {"Z434", "LIST", {Q(""), A("*")}}},
      // 6.3.6 SUBSCRIBE
      {"6.3.6",
       a,
       "A002 SUBSCRIBE #news.comp.mail.mime\r\n",
       {"A002", "SUBSCRIBE", {A("#news.comp.mail.mime")}}},
      // 6.3.7 UNSUBSCRIBE
      {"6.3.7",
       a,
       "A002 UNSUBSCRIBE #news.comp.mail.mime\r\n",
       {"A002", "UNSUBSCRIBE", {A("#news.comp.mail.mime")}}},
      // 6.3.8 LIST
      {"6.3.8", a, "A101 LIST \"\" \"\"\r\n", {"A101", "LIST", {Q(""), Q("")}}},
      {"6.3.8",
       a,
       "A102 LIST #news.comp.mail.misc \"\"\r\n",
       {"A102", "LIST", {A("#news.comp.mail.misc"), Q("")}}},
      {"6.3.8",
       a,
       "A103 LIST /usr/staff/jones \"\"\r\n",
       {"A103", "LIST", {A("/usr/staff/jones"), Q("")}}},
      {"6.3.8", a, "A202 LIST ~/Mail/ %\r\n", {"A202", "LIST", {A("~/Mail/"), A("%")}}},
      // 6.3.9 LSUB
      {"6.3.9",
       a,
       "A002 LSUB \"#news.\" \"comp.mail.*\"\r\n",
       {"A002", "LSUB", {Q("#news."), Q("comp.mail.*")}}},
      {"6.3.9",
       a,
       "A003 LSUB \"#news.\" \"comp.%\"\r\n",
       {"A003", "LSUB", {Q("#news."), Q("comp.%")}}},
      // 6.3.10 STATUS
      {"6.3.10",
       a,
       "A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
       {"A042", "STATUS", {A("blurdybloop"), L({A("UIDNEXT"), A("MESSAGES")})}}},
      // 6.3.11 APPEND
      {"6.3.11",
       a,
       "A003 APPEND saved-messages (\\Seen) {310}\r\n" + AppendMessage() + "\r\n",
       {"A003", "APPEND", {A("saved-messages"), L({A("\\Seen")}), Lit(AppendMessage())}},
       {310}},
      // 6.4.1 CHECK
      {"6.4.1", s, "FXXZ CHECK\r\n", {"FXXZ", "CHECK", {}}},
      // 6.4.2 CLOSE
      {"6.4.2", s, "A341 CLOSE\r\n", {"A341", "CLOSE", {}}},
      // 6.4.3 EXPUNGE
      {"6.4.3", s, "A202 EXPUNGE\r\n", {"A202", "EXPUNGE", {}}},
      // 6.4.4 SEARCH
      {"6.4.4",
       s,
       "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
       {"A282",
        "SEARCH",
        {A("FLAGGED"), A("SINCE"), A("1-Feb-1994"), A("NOT"), A("FROM"), Q("Smith")}}},
      {"6.4.4",
       s,
       "A283 SEARCH TEXT \"string not in mailbox\"\r\n",
       {"A283", "SEARCH", {A("TEXT"), Q("string not in mailbox")}}},
      {"6.4.4",
       s,
       "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n",
       {"A284", "SEARCH", {A("CHARSET"), A("UTF-8"), A("TEXT"), Lit("XXXXXX")}},
       {6}},
      // 6.4.5 FETCH
      {"6.4.5",
       s,
       "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
       {"A654", "FETCH", {A("2:4"), L({A("FLAGS"), A("BODY[HEADER.FIELDS (DATE FROM)]")})}}},
      // 6.4.6 STORE
      {"6.4.6",
       s,
       "A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
       {"A003", "STORE", {A("2:4"), A("+FLAGS"), L({A("\\Deleted")})}}},
      // 6.4.7 COPY
      {"6.4.7", s, "A003 COPY 2:4 MEETING\r\n", {"A003", "COPY", {A("2:4"), A("MEETING")}}},
      // 6.4.8 UID
      {"6.4.8",
       s,
       "A999 UID FETCH 4827313:4828442 FLAGS\r\n",
       {"A999", "UID FETCH", {A("4827313:4828442"), A("FLAGS")}}},
  };
}

void ExpectExample(const Example& example) {
  SCOPED_TRACE(std::string("RFC 3501 ") + std::string(example.section) + ": " +
               example.input.substr(0, example.input.find('\r')));
  const std::vector<Event> events = ParseEveryWay(example.input);
  ASSERT_EQ(events.size(), example.continuations.size() + 1);
  for (size_t i = 0; i < example.continuations.size(); ++i) {
    EXPECT_EQ(events[i], Event{NeedContinuation{example.continuations[i]}});
  }
  const auto* command = std::get_if<Command>(&events.back());
  ASSERT_NE(command, nullptr);
  EXPECT_EQ(*command, example.expected);
  const CommandSpec* spec = FindCommand(command->name);
  ASSERT_NE(spec, nullptr) << command->name;
  EXPECT_EQ(CheckCommand(spec, example.state), Gate::kAllowed) << command->name;
}

TEST(Rfc3501TranscriptsTest, Section6ExampleCommands) {
  const std::vector<Example> examples = Section6Examples();
  EXPECT_EQ(examples.size(), 54u);
  for (const Example& example : examples) {
    ExpectExample(example);
  }
}

TEST(Rfc3501TranscriptsTest, Section6ExamplesPipelinedInOneStream) {
  // All examples sent back to back, as a pipelining client (or a non-synchronizing
  // LITERAL+ client that did not wait for "+") might.
  const std::vector<Example> examples = Section6Examples();
  std::string stream;
  std::vector<Event> expected;
  for (const Example& example : examples) {
    stream += example.input;
    for (const size_t size : example.continuations) {
      expected.push_back(NeedContinuation{size});
    }
    expected.push_back(example.expected);
  }
  EXPECT_EQ(ParseEveryWay(stream), expected);
}

TEST(Rfc3501TranscriptsTest, Section6SearchDateParses) {
  // The SEARCH example's SINCE argument is an RFC 3501 date.
  EXPECT_EQ(ParseDate("1-Feb-1994"), (Date{1994, 2, 1}));
}

TEST(Rfc3501TranscriptsTest, Section8ClientCommandsWalkTheStateMachine) {
  const std::string stream =
      "a001 login mrc secret\r\n"
      "a002 select inbox\r\n"
      "a003 fetch 12 full\r\n"
      "a004 fetch 12 body[header]\r\n"
      "a005 store 12 +flags \\deleted\r\n"
      "a006 logout\r\n";
  const std::vector<Command> expected = {
      {"a001", "LOGIN", {A("mrc"), A("secret")}},
      {"a002", "SELECT", {A("inbox")}},
      {"a003", "FETCH", {A("12"), A("full")}},
      {"a004", "FETCH", {A("12"), A("body[header]")}},
      {"a005", "STORE", {A("12"), A("+flags"), A("\\deleted")}},
      {"a006", "LOGOUT", {}},
  };
  const std::vector<Event> events = ParseEveryWay(stream);
  ASSERT_EQ(events.size(), expected.size());

  // Each command is valid in the state the connection is in at that point.
  SessionState state = SessionState::kNotAuthenticated;
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto* command = std::get_if<Command>(&events[i]);
    ASSERT_NE(command, nullptr) << i;
    EXPECT_EQ(*command, expected[i]);
    const CommandSpec* spec = FindCommand(command->name);
    ASSERT_NE(spec, nullptr) << command->name;
    EXPECT_EQ(CheckCommand(spec, state), Gate::kAllowed) << command->name;
    if (command->name == "LOGIN") {
      state = SessionState::kAuthenticated;
    } else if (command->name == "SELECT") {
      state = SessionState::kSelected;
    } else if (command->name == "LOGOUT") {
      state = SessionState::kLogout;
    }
  }
  EXPECT_EQ(state, SessionState::kLogout);
  EXPECT_EQ(CheckCommand(FindCommand("NOOP"), state), Gate::kWrongState);

  // And each line alone.
  size_t start = 0;
  for (const Command& command : expected) {
    const size_t end = stream.find("\r\n", start) + 2;
    const std::vector<Event> one =
        ParseEveryWay(std::string_view(stream).substr(start, end - start));
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0], Event{command});
    start = end;
  }
}

std::string StatusLine(std::string_view tag, Status status, std::string_view code,
                       std::string_view text) {
  std::string out;
  AppendStatus(out, tag, status, code, text);
  return out;
}

TEST(Rfc3501TranscriptsTest, Section8StatusResponses) {
  EXPECT_EQ(StatusLine("*", Status::kOk, "", "IMAP4rev1 Service Ready"),
            "* OK IMAP4rev1 Service Ready\r\n");
  EXPECT_EQ(StatusLine("a001", Status::kOk, "", "LOGIN completed"), "a001 OK LOGIN completed\r\n");
  EXPECT_EQ(StatusLine("*", Status::kOk, "UNSEEN 17", "Message 17 is the first unseen message"),
            "* OK [UNSEEN 17] Message 17 is the first unseen message\r\n");
  EXPECT_EQ(StatusLine("*", Status::kOk, "UIDVALIDITY 3857529045", "UIDs valid"),
            "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n");
  EXPECT_EQ(StatusLine("a002", Status::kOk, code::kReadWrite, "SELECT completed"),
            "a002 OK [READ-WRITE] SELECT completed\r\n");
  EXPECT_EQ(StatusLine("a003", Status::kOk, "", "FETCH completed"), "a003 OK FETCH completed\r\n");
  EXPECT_EQ(StatusLine("a004", Status::kOk, "", "FETCH completed"), "a004 OK FETCH completed\r\n");
  EXPECT_EQ(StatusLine("a005", Status::kOk, "", "+FLAGS completed"),
            "a005 OK +FLAGS completed\r\n");
  EXPECT_EQ(StatusLine("*", Status::kBye, "", "IMAP4rev1 server terminating connection"),
            "* BYE IMAP4rev1 server terminating connection\r\n");
  EXPECT_EQ(StatusLine("a006", Status::kOk, "", "LOGOUT completed"),
            "a006 OK LOGOUT completed\r\n");
}

void AppendAddress(std::string& out, std::optional<std::string_view> name,
                   std::optional<std::string_view> adl, std::optional<std::string_view> mailbox,
                   std::optional<std::string_view> host) {
  out += '(';
  AppendNString(out, name);
  out += ' ';
  AppendNString(out, adl);
  out += ' ';
  AppendNString(out, mailbox);
  out += ' ';
  AppendNString(out, host);
  out += ')';
}

TEST(Rfc3501TranscriptsTest, Section8FetchFullResponse) {
  // The RFC breaks this line "for editorial clarity"; the breaks stand for one SP, except
  // the one between the two addresses of env-cc, which are adjacent (1*address).
  const std::string rfc =
      "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
      "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
      "\"IMAP4rev1 WG mtg summary and minutes\" "
      "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
      "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
      "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
      "((NIL NIL \"imap\" \"cac.washington.edu\")) "
      "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
      "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
      "\"<B27397-0100000@cac.washington.edu>\") "
      "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n";

  const std::optional<DateTime> internal_date = ParseDateTime("17-Jul-1996 02:44:25 -0700");
  ASSERT_TRUE(internal_date.has_value());

  std::string out = "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE ";
  AppendDateTime(out, internal_date->unix_seconds, internal_date->utc_offset_minutes);
  out += " RFC822.SIZE 4286 ENVELOPE (";
  AppendNString(out, "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)");
  out += ' ';
  AppendNString(out, "IMAP4rev1 WG mtg summary and minutes");
  for (int i = 0; i < 3; ++i) {  // from, sender, reply-to
    out += " (";
    AppendAddress(out, "Terry Gray", std::nullopt, "gray", "cac.washington.edu");
    out += ')';
  }
  out += " (";
  AppendAddress(out, std::nullopt, std::nullopt, "imap", "cac.washington.edu");
  out += ") (";
  AppendAddress(out, std::nullopt, std::nullopt, "minutes", "CNRI.Reston.VA.US");
  AppendAddress(out, "John Klensin", std::nullopt, "KLENSIN", "MIT.EDU");
  out += ") ";
  AppendNString(out, std::nullopt);  // bcc
  out += ' ';
  AppendNString(out, std::nullopt);  // in-reply-to
  out += ' ';
  AppendNString(out, "<B27397-0100000@cac.washington.edu>");
  out += ") BODY (";
  AppendString(out, "TEXT");
  out += ' ';
  AppendString(out, "PLAIN");
  out += " (";
  AppendString(out, "CHARSET");
  out += ' ';
  AppendString(out, "US-ASCII");
  out += ") NIL NIL ";
  AppendString(out, "7BIT");
  out += " 3028 92))\r\n";
  EXPECT_EQ(out, rfc);
}

TEST(Rfc3501TranscriptsTest, Section8FetchHeaderLiteral) {
  const std::string header =
      "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
      "From: Terry Gray <gray@cac.washington.edu>\r\n"
      "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
      "To: imap@cac.washington.edu\r\n"
      "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
      "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
      "\r\n";
  std::string out = "* 12 FETCH (BODY[HEADER] ";
  AppendString(out, header);  // CRLF inside: must be a literal
  out += ")\r\n";
  EXPECT_EQ(out, "* 12 FETCH (BODY[HEADER] {342}\r\n" + header + ")\r\n");
}

TEST(Rfc3501TranscriptsTest, Section6Responses) {
  // 6.3.1 / 6.3.2
  EXPECT_EQ(StatusLine("*", Status::kOk, "UNSEEN 12", "Message 12 is first unseen"),
            "* OK [UNSEEN 12] Message 12 is first unseen\r\n");
  EXPECT_EQ(StatusLine("*", Status::kOk, "UIDNEXT 4392", "Predicted next UID"),
            "* OK [UIDNEXT 4392] Predicted next UID\r\n");
  EXPECT_EQ(StatusLine("*", Status::kOk, "PERMANENTFLAGS (\\Deleted \\Seen \\*)", "Limited"),
            "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n");
  EXPECT_EQ(StatusLine("A142", Status::kOk, code::kReadWrite, "SELECT completed"),
            "A142 OK [READ-WRITE] SELECT completed\r\n");
  EXPECT_EQ(StatusLine("A932", Status::kOk, code::kReadOnly, "EXAMINE completed"),
            "A932 OK [READ-ONLY] EXAMINE completed\r\n");
  // 6.1.3
  EXPECT_EQ(StatusLine("*", Status::kBye, "", "IMAP4rev1 Server logging out"),
            "* BYE IMAP4rev1 Server logging out\r\n");
  // 6.3.4
  EXPECT_EQ(StatusLine("A684", Status::kNo, "", "Name \"foo\" has inferior hierarchical names"),
            "A684 NO Name \"foo\" has inferior hierarchical names\r\n");
  // 6.2.1
  EXPECT_EQ(StatusLine("a002", Status::kOk, "", "Begin TLS negotiation now"),
            "a002 OK Begin TLS negotiation now\r\n");
  // 6.3.11
  std::string continuation;
  AppendContinuation(continuation, "Ready for literal data");
  EXPECT_EQ(continuation, "+ Ready for literal data\r\n");
  // 6.2.2: the first, empty, GSSAPI challenge is "+" and SP (RFC 3501 9 continue-req).
  continuation.clear();
  AppendContinuation(continuation, "");
  EXPECT_EQ(continuation, "+ \r\n");
  continuation.clear();
  AppendContinuation(continuation,
                     "YDMGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzBeBiVHeceP2CWY0SR0fAQAgAAQEBAQ=");
  EXPECT_EQ(continuation,
            "+ YDMGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzBeBiVHeceP2CWY0SR0fAQAgAAQEBAQ=\r\n");
}

std::string ListLine(std::string_view kind, std::string_view attributes, std::string_view delimiter,
                     std::string_view name) {
  std::string out = "* ";
  out.append(kind);
  out += " (";
  out.append(attributes);
  out += ") ";
  AppendString(out, delimiter);
  out += ' ';
  AppendMailbox(out, name);
  out += "\r\n";
  return out;
}

TEST(Rfc3501TranscriptsTest, Section6ListAndStatusResponses) {
  // 6.3.4, 6.3.5, 6.3.8, 6.3.9: mailbox names as the encoder writes them.
  EXPECT_EQ(ListLine("LIST", "", "/", "blurdybloop"), "* LIST () \"/\" blurdybloop\r\n");
  EXPECT_EQ(ListLine("LIST", "\\Noselect", "/", "foo"), "* LIST (\\Noselect) \"/\" foo\r\n");
  EXPECT_EQ(ListLine("LIST", "", "/", "foo/bar"), "* LIST () \"/\" foo/bar\r\n");
  EXPECT_EQ(ListLine("LIST", "", ".", "INBOX.bar"), "* LIST () \".\" INBOX.bar\r\n");
  EXPECT_EQ(ListLine("LIST", "", ".", "old-mail"), "* LIST () \".\" old-mail\r\n");
  EXPECT_EQ(ListLine("LIST", "\\Noselect", "/", ""), "* LIST (\\Noselect) \"/\" \"\"\r\n");
  EXPECT_EQ(ListLine("LIST", "\\Noselect", ".", "#news."), "* LIST (\\Noselect) \".\" #news.\r\n");
  EXPECT_EQ(ListLine("LIST", "\\Noselect", "/", "/"), "* LIST (\\Noselect) \"/\" /\r\n");
  EXPECT_EQ(ListLine("LIST", "\\Noselect", "/", "~/Mail/foo"),
            "* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n");
  EXPECT_EQ(ListLine("LSUB", "", ".", "#news.comp.mail.mime"),
            "* LSUB () \".\" #news.comp.mail.mime\r\n");
  EXPECT_EQ(ListLine("LSUB", "\\NoSelect", ".", "#news.comp.mail"),
            "* LSUB (\\NoSelect) \".\" #news.comp.mail\r\n");
  // 6.3.10
  std::string status = "* STATUS ";
  AppendMailbox(status, "blurdybloop");
  status += " (MESSAGES 231 UIDNEXT 44292)\r\n";
  EXPECT_EQ(status, "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n");
  // 6.4.4: "* SEARCH 2 84 882"; as a sequence-set the same numbers are "2,84,882".
  EXPECT_EQ(FormatSequenceSet({2, 84, 882}), "2,84,882");
}

TEST(Rfc3501TranscriptsTest, Section6AppendLiteralSize) {
  // The {310} of the APPEND example counts the message with CRLF line ends.
  EXPECT_EQ(AppendMessage().size(), 310u);
  std::string out;
  AppendLiteral(out, AppendMessage());
  EXPECT_EQ(out, "{310}\r\n" + AppendMessage());
}

}  // namespace
}  // namespace tern::imap::protocol
