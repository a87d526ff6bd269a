#include "services/lmtp/protocol/command.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/lmtp/protocol/reply.h"

namespace tern::lmtp::protocol {
namespace {

using namespace std::string_literals;

// The command a line parses to; a failure (and a default command) when it does not parse.
Command Parse(std::string_view line) {
  std::variant<Command, Reply> parsed = ParseCommand(line);
  if (const Reply* reply = std::get_if<Reply>(&parsed)) {
    ADD_FAILURE() << "\"" << line << "\" refused: " << reply->code << " " << reply->enhanced << " "
                  << (reply->lines.empty() ? "" : reply->lines[0]);
    return Command{.verb = Verb::kNoop};
  }
  return std::get<Command>(parsed);
}

// The error reply for a line; a failure when the line parses.
Reply Refused(std::string_view line) {
  std::variant<Command, Reply> parsed = ParseCommand(line);
  if (!std::holds_alternative<Reply>(parsed)) {
    ADD_FAILURE() << "\"" << line << "\" parsed as " << VerbName(std::get<Command>(parsed).verb);
    return Reply{};
  }
  return std::get<Reply>(parsed);
}

// "code enhanced", the part of a reply the tests pin down.
std::string Codes(const Reply& reply) { return std::to_string(reply.code) + " " + reply.enhanced; }

std::string RefusedCodes(std::string_view line) { return Codes(Refused(line)); }

Mailbox Box(std::string local, std::string domain) {
  return Mailbox{.local = std::move(local), .domain = std::move(domain)};
}

// ---- Verbs ----

TEST(LmtpCommandTest, EveryVerb) {
  struct Case {
    std::string_view line;
    Verb verb;
    std::string_view name;
  };
  const Case cases[] = {
      {"LHLO client.example", Verb::kLhlo, "LHLO"},
      {"EHLO client.example", Verb::kEhlo, "EHLO"},
      {"HELO client.example", Verb::kHelo, "HELO"},
      {"MAIL FROM:<a@example.org>", Verb::kMail, "MAIL"},
      {"RCPT TO:<b@example.org>", Verb::kRcpt, "RCPT"},
      {"DATA", Verb::kData, "DATA"},
      {"BDAT 10", Verb::kBdat, "BDAT"},
      {"RSET", Verb::kRset, "RSET"},
      {"NOOP", Verb::kNoop, "NOOP"},
      {"QUIT", Verb::kQuit, "QUIT"},
      {"VRFY bob", Verb::kVrfy, "VRFY"},
      {"EXPN staff", Verb::kExpn, "EXPN"},
      {"HELP", Verb::kHelp, "HELP"},
      {"STARTTLS", Verb::kStartTls, "STARTTLS"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    EXPECT_EQ(Parse(c.line).verb, c.verb);
    EXPECT_EQ(VerbName(c.verb), c.name);
  }
}

TEST(LmtpCommandTest, VerbsAreCaseInsensitive) {
  EXPECT_EQ(Parse("lhlo x").verb, Verb::kLhlo);
  EXPECT_EQ(Parse("Ehlo x").verb, Verb::kEhlo);
  EXPECT_EQ(Parse("mail from:<a@b.example>").verb, Verb::kMail);
  EXPECT_EQ(Parse("MaIl FrOm:<a@b.example>").path, Box("a", "b.example"));
  EXPECT_EQ(Parse("rcpt to:<a@b.example>").verb, Verb::kRcpt);
  EXPECT_EQ(Parse("data").verb, Verb::kData);
  EXPECT_EQ(Parse("bdat 1 last").verb, Verb::kBdat);
  EXPECT_EQ(Parse("rset").verb, Verb::kRset);
  EXPECT_EQ(Parse("noop").verb, Verb::kNoop);
  EXPECT_EQ(Parse("quit").verb, Verb::kQuit);
  EXPECT_EQ(Parse("StartTls").verb, Verb::kStartTls);
}

TEST(LmtpCommandTest, UnknownVerbs) {
  EXPECT_EQ(RefusedCodes("FOO"), "500 5.5.2");
  EXPECT_EQ(RefusedCodes(""), "500 5.5.2");
  EXPECT_EQ(RefusedCodes(" NOOP"), "500 5.5.2");
  EXPECT_EQ(RefusedCodes("MAILFROM:<a@b>"), "500 5.5.2");
  EXPECT_EQ(RefusedCodes("AUTH PLAIN"), "500 5.5.2");
  EXPECT_EQ(RefusedCodes("DAT"), "500 5.5.2");
  EXPECT_EQ(RefusedCodes("DATAX"), "500 5.5.2");
  EXPECT_EQ(RefusedCodes("NOOP\tx"), "500 5.5.2");  // the verb ends at a space
  EXPECT_EQ(RefusedCodes("\xc3\xa9"), "500 5.5.2");
}

// RFC 5321 4.1.1: "SMTP receivers SHOULD tolerate trailing white space".
TEST(LmtpCommandTest, TrailingWhitespaceTolerated) {
  EXPECT_EQ(Parse("QUIT ").verb, Verb::kQuit);
  EXPECT_EQ(Parse("DATA\t").verb, Verb::kData);
  EXPECT_EQ(Parse("RSET \t ").verb, Verb::kRset);
  EXPECT_EQ(Parse("STARTTLS  ").verb, Verb::kStartTls);
  EXPECT_EQ(Parse("LHLO x.example  ").argument, "x.example");
  const Command mail = Parse("MAIL FROM:<a@b.example> SIZE=10 \t");
  EXPECT_EQ(mail.size, std::optional<uint64_t>(10));
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> ").path, Box("a", "b.example"));
  EXPECT_TRUE(Parse("BDAT 5 LAST ").last);
  EXPECT_EQ(Parse("NOOP  ").argument, "");
}

// RFC 5321 4.1.1.4, 4.1.1.5, 4.1.1.10, RFC 3207 4: no parameters.
TEST(LmtpCommandTest, NoArgumentVerbsRefuseArguments) {
  for (const std::string_view line : {"DATA x", "RSET now", "QUIT please", "STARTTLS tls"}) {
    SCOPED_TRACE(line);
    const Reply reply = Refused(line);
    EXPECT_EQ(Codes(reply), "501 5.5.4");
    ASSERT_EQ(reply.lines.size(), 1u);
    EXPECT_NE(reply.lines[0].find("takes no parameters"), std::string::npos);
  }
}

TEST(LmtpCommandTest, HeloFamilyArgument) {
  EXPECT_EQ(Parse("LHLO client.example").argument, "client.example");
  EXPECT_EQ(Parse("EHLO [192.0.2.1]").argument, "[192.0.2.1]");
  EXPECT_EQ(Parse("EHLO [IPv6:2001:db8::1]").argument, "[IPv6:2001:db8::1]");
  EXPECT_EQ(Parse("HELO  spaced.example").argument, "spaced.example");
  // Only the first word is the domain; the rest is tolerated.
  EXPECT_EQ(Parse("EHLO client.example extra words").argument, "client.example");
  EXPECT_EQ(RefusedCodes("LHLO"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("EHLO "), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("HELO x\x7fy"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("EHLO a\x01"), "501 5.5.4");
}

TEST(LmtpCommandTest, VrfyExpnNeedAnArgumentNoopHelpTakeAny) {
  EXPECT_EQ(Parse("VRFY <bob@example.org>").argument, "<bob@example.org>");
  EXPECT_EQ(Parse("EXPN staff list").argument, "staff list");
  EXPECT_EQ(RefusedCodes("VRFY"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("EXPN  "), "501 5.5.4");
  EXPECT_EQ(Parse("NOOP anything at all").argument, "anything at all");
  EXPECT_EQ(Parse("HELP MAIL").argument, "MAIL");
  EXPECT_EQ(Parse("HELP").argument, "");
}

// ---- MAIL / RCPT paths ----

TEST(LmtpCommandTest, MailFromNullPath) {
  const Command c = Parse("MAIL FROM:<>");
  EXPECT_EQ(c.verb, Verb::kMail);
  EXPECT_FALSE(c.path.has_value());
  EXPECT_FALSE(c.utf8);
  EXPECT_EQ(Parse("MAIL FROM:<> SIZE=12").size, std::optional<uint64_t>(12));
  // The null path is only a reverse-path.
  EXPECT_EQ(RefusedCodes("RCPT TO:<>"), "501 5.1.3");
}

TEST(LmtpCommandTest, SimplePaths) {
  const Command mail = Parse("MAIL FROM:<alice@example.org>");
  EXPECT_EQ(mail.path, Box("alice", "example.org"));
  EXPECT_FALSE(mail.utf8);
  EXPECT_FALSE(mail.size.has_value());
  EXPECT_EQ(mail.body, Body::kUnspecified);
  EXPECT_FALSE(mail.smtputf8);
  EXPECT_EQ(Parse("RCPT TO:<first.last+tag@sub.example.org>").path,
            Box("first.last+tag", "sub.example.org"));
  EXPECT_EQ(Parse("RCPT TO:<!#$%&'*+-/=?^_`{|}~@x-y.example>").path,
            Box("!#$%&'*+-/=?^_`{|}~", "x-y.example"));
  EXPECT_EQ(Parse("RCPT TO:<a@localhost>").path, Box("a", "localhost"));
  EXPECT_EQ(Parse("RCPT TO:<a@1.example>").path, Box("a", "1.example"));
}

TEST(LmtpCommandTest, SpaceAfterColonTolerated) {
  EXPECT_EQ(Parse("MAIL FROM: <a@b.example>").path, Box("a", "b.example"));
  EXPECT_EQ(Parse("RCPT TO:  <a@b.example>").path, Box("a", "b.example"));
  EXPECT_FALSE(Parse("MAIL FROM: <>").path.has_value());
}

TEST(LmtpCommandTest, MalformedPaths) {
  // Sender problems are 5.1.7, recipient problems 5.1.3 (RFC 3463).
  for (const std::string_view path : {"a@b.example",     "<a@b.example",
                                      "a@b.example>",    "<a>",
                                      "<@b.example>",    "<a@>",
                                      "<a@@b>",          "<.a@b>",
                                      "<a.@b>",          "<a..b@c>",
                                      "<a b@c>",         "<a@-b.example>",
                                      "<a@b-.example>",  "<a@b..example>",
                                      "<a@b.example.>",  "<a@.b>",
                                      "<a@b_c.example>", "<a@[]>",
                                      "<a@[1.2.3.4>",    "<a@[1.2 3.4]>",
                                      "<a@[1[2]>",       "<a@[1\\2]>",
                                      "<\"a@b>",         "<\"a\"b@c>",
                                      "<a@b.example>x",  "<a@b.example><c@d>",
                                      "<(comment)a@b>",  "<a@b\x01.example>"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(RefusedCodes("MAIL FROM:" + std::string(path)), "501 5.1.7");
    EXPECT_EQ(RefusedCodes("RCPT TO:" + std::string(path)), "501 5.1.3");
  }
}

TEST(LmtpCommandTest, MissingArguments) {
  EXPECT_EQ(RefusedCodes("MAIL"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL TO:<a@b>"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:"), "501 5.1.7");
  EXPECT_EQ(RefusedCodes("RCPT"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("RCPT FROM:<a@b>"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("RCPT TO:"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("BDAT"), "501 5.5.4");
}

// RFC 5321 4.1.2: the source route MUST be accepted and SHOULD be ignored.
TEST(LmtpCommandTest, SourceRouteIgnored) {
  EXPECT_EQ(Parse("RCPT TO:<@a.example,@b.example:u@c.example>").path, Box("u", "c.example"));
  EXPECT_EQ(Parse("MAIL FROM:<@relay.example:u@c.example>").path, Box("u", "c.example"));
  EXPECT_EQ(Parse("RCPT TO:<@[192.0.2.1]:u@c.example>").path, Box("u", "c.example"));
  for (const std::string_view bad :
       {"<@a.example,:u@c>", "<@a.example,>", "<@a.example u@c>", "<@:u@c>", "<@a,@b>",
        "<@a.example@b:u@c>", "<@a.example,b.example:u@c>"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RefusedCodes("RCPT TO:" + std::string(bad)), "501 5.1.3");
  }
}

TEST(LmtpCommandTest, QuotedLocalParts) {
  EXPECT_EQ(Parse("RCPT TO:<\"john doe\"@example.org>").path, Box("john doe", "example.org"));
  // quoted-pairSMTP: the backslash is removed, the character kept.
  EXPECT_EQ(Parse(R"(RCPT TO:<"a\"b\\c"@example.org>)").path, Box("a\"b\\c", "example.org"));
  EXPECT_EQ(Parse(R"(RCPT TO:<"\a\ b"@example.org>)").path, Box("a b", "example.org"));
  EXPECT_EQ(Parse(R"(RCPT TO:<"Joe\,Smith"@example.org>)").path, Box("Joe,Smith", "example.org"));
  EXPECT_EQ(Parse("RCPT TO:<\"a@b\"@example.org>").path, Box("a@b", "example.org"));
  EXPECT_EQ(Parse("RCPT TO:<\"\"@example.org>").path, Box("", "example.org"));
  EXPECT_EQ(Parse("MAIL FROM:<\"<>\"@example.org>").path, Box("<>", "example.org"));
  // Not qtextSMTP / quoted-pairSMTP: control characters, a lone backslash at the end.
  EXPECT_EQ(RefusedCodes("RCPT TO:<\"a\tb\"@example.org>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<\"a\\\x01\"@example.org>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<\"a\\"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<\"a\\\xc3\xa9\"@example.org>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<\"ab@example.org>"), "501 5.1.3");
}

// RFC 5321 4.1.1.3: "<Postmaster>" without a domain, case-insensitive, only as a recipient.
TEST(LmtpCommandTest, PostmasterOnlyForRcpt) {
  EXPECT_EQ(Parse("RCPT TO:<Postmaster>").path, Box("Postmaster", ""));
  EXPECT_EQ(Parse("RCPT TO:<postmaster>").path, Box("postmaster", ""));
  EXPECT_EQ(Parse("RCPT TO:<POSTMASTER>").path, Box("POSTMASTER", ""));
  EXPECT_EQ(Parse("RCPT TO:<Postmaster@example.org>").path, Box("Postmaster", "example.org"));
  EXPECT_EQ(RefusedCodes("MAIL FROM:<Postmaster>"), "501 5.1.7");
  EXPECT_EQ(RefusedCodes("RCPT TO:<Postmasters>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<bob>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<Postmaster> NOTIFY=NEVER"), "555 5.5.4");
}

// RFC 5321 4.1.3.
TEST(LmtpCommandTest, AddressLiterals) {
  EXPECT_EQ(Parse("RCPT TO:<a@[192.0.2.1]>").path, Box("a", "[192.0.2.1]"));
  EXPECT_EQ(Parse("MAIL FROM:<a@[IPv6:2001:db8::1]>").path, Box("a", "[IPv6:2001:db8::1]"));
  EXPECT_EQ(Parse("RCPT TO:<a@[IPv6:::ffff:192.0.2.1]>").path, Box("a", "[IPv6:::ffff:192.0.2.1]"));
  EXPECT_FALSE(Parse("RCPT TO:<a@[192.0.2.1]>").utf8);
  EXPECT_EQ(RefusedCodes("RCPT TO:<a@[192.0.2.\xc3\xa9]>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("RCPT TO:<a@[192.0.2.1]x>"), "501 5.1.3");
}

// RFC 6531 3.3: UTF-8 in local parts and domains; Command::utf8 says one was used.
TEST(LmtpCommandTest, Utf8Addresses) {
  const Command rcpt = Parse("RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>");
  EXPECT_EQ(rcpt.path, Box("\xe7\x94\xa8\xe6\x88\xb7", "\xe4\xbe\x8b\xe5\xad\x90.example"));
  EXPECT_TRUE(rcpt.utf8);
  const Command local_only = Parse("MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8");
  EXPECT_TRUE(local_only.utf8);
  EXPECT_TRUE(local_only.smtputf8);
  EXPECT_TRUE(Parse("RCPT TO:<a@b\xc3\xbc\x63her.example>").utf8);
  EXPECT_TRUE(Parse("RCPT TO:<\"caf\xc3\xa9 au lait\"@example.org>").utf8);
  EXPECT_TRUE(Parse("RCPT TO:<\xf0\x9f\x98\x80@example.org>").utf8);
  // The flag is about the address, not the parameter.
  const Command ascii = Parse("MAIL FROM:<a@example.org> SMTPUTF8");
  EXPECT_FALSE(ascii.utf8);
  EXPECT_TRUE(ascii.smtputf8);
}

TEST(LmtpCommandTest, InvalidUtf8AddressesRefused) {
  for (const std::string_view local :
       {"\xff", "\xc3", "a\xc3(", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf8\x88\x80\x80\x80", "\x80", "\xe2\x82"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(local)));
    EXPECT_EQ(RefusedCodes("MAIL FROM:<" + std::string(local) + "@example.org>"), "501 5.1.7");
    EXPECT_EQ(RefusedCodes("RCPT TO:<" + std::string(local) + "@example.org>"), "501 5.1.3");
    EXPECT_EQ(RefusedCodes("RCPT TO:<a@" + std::string(local) + ".example>"), "501 5.1.3");
  }
  // A sequence cut by the "@": each half is invalid, though the two together spell U+00E9.
  EXPECT_EQ(RefusedCodes("RCPT TO:<a\xc3@\xa9x.example>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<\xe2\x82@\xac.example>"), "501 5.1.7");
}

TEST(LmtpCommandTest, ValidUtf8) {
  EXPECT_TRUE(ValidUtf8(""));
  EXPECT_TRUE(ValidUtf8("plain ascii\x7f"));
  EXPECT_TRUE(ValidUtf8("\xc2\x80"));           // U+0080
  EXPECT_TRUE(ValidUtf8("\xdf\xbf"));           // U+07FF
  EXPECT_TRUE(ValidUtf8("\xe0\xa0\x80"));       // U+0800
  EXPECT_TRUE(ValidUtf8("\xed\x9f\xbf"));       // U+D7FF
  EXPECT_TRUE(ValidUtf8("\xee\x80\x80"));       // U+E000
  EXPECT_TRUE(ValidUtf8("\xef\xbf\xbf"));       // U+FFFF
  EXPECT_TRUE(ValidUtf8("\xf0\x90\x80\x80"));   // U+10000
  EXPECT_TRUE(ValidUtf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(ValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(ValidUtf8("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(ValidUtf8("\xc1\xbf"));          // overlong
  EXPECT_FALSE(ValidUtf8("\xe0\x9f\xbf"));      // overlong 3-byte
  EXPECT_FALSE(ValidUtf8("\xf0\x8f\xbf\xbf"));  // overlong 4-byte
  EXPECT_FALSE(ValidUtf8("\xed\xa0\x80"));      // U+D800, a surrogate
  EXPECT_FALSE(ValidUtf8("\xed\xbf\xbf"));      // U+DFFF
  EXPECT_FALSE(ValidUtf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(ValidUtf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(ValidUtf8("\xff"));
  EXPECT_FALSE(ValidUtf8("\xc3"));       // truncated
  EXPECT_FALSE(ValidUtf8("a\xe2\x82"));  // truncated at the end
  EXPECT_FALSE(ValidUtf8("\xe2\x82z"));  // interrupted
  EXPECT_FALSE(ValidUtf8("\xf0\x9f\x98"));
}

// RFC 5321 4.5.3.1.1-3: local part 64, domain 255, path 256 octets.
TEST(LmtpCommandTest, LengthLimits) {
  const std::string local64(kMaxLocalPart, 'l');
  EXPECT_EQ(Parse("RCPT TO:<" + local64 + "@example.org>").path, Box(local64, "example.org"));
  EXPECT_EQ(RefusedCodes("RCPT TO:<" + local64 + "l@example.org>"), "501 5.1.3");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<" + local64 + "l@example.org>"), "501 5.1.7");
  EXPECT_EQ(Parse("RCPT TO:<\"" + local64 + "\"@example.org>").path, Box(local64, "example.org"));
  EXPECT_EQ(RefusedCodes("RCPT TO:<\"" + local64 + "l\"@example.org>"), "501 5.1.3");

  // A domain of `n` octets made of 49-octet labels.
  const auto domain = [](size_t n) {
    std::string d;
    while (d.size() < n) {
      if (!d.empty()) d += '.';
      d.append(std::min<size_t>(49, n - d.size()), 'd');
    }
    if (d.back() == '.') d.back() = 'd';
    return d;
  };
  // "<a@" + domain + ">" is 4 octets more than the domain.
  const std::string d252 = domain(kMaxPath - 4);
  ASSERT_EQ(d252.size(), 252u);
  const Command at_limit = Parse("RCPT TO:<a@" + d252 + ">");
  EXPECT_EQ(at_limit.path, Box("a", d252));
  const Reply too_long = Refused("RCPT TO:<ab@" + d252 + ">");
  EXPECT_EQ(Codes(too_long), "501 5.1.3");
  EXPECT_EQ(too_long.lines, std::vector<std::string>{"Path too long"});
  EXPECT_EQ(RefusedCodes("MAIL FROM:<ab@" + d252 + ">"), "501 5.1.7");
  // A domain over 255 octets is refused whatever the path.
  EXPECT_EQ(RefusedCodes("RCPT TO:<a@" + domain(kMaxDomain + 1) + ">"), "501 5.1.3");
  // The source route counts toward the path length.
  const std::string route = "@" + domain(200) + ":";
  EXPECT_EQ(RefusedCodes("RCPT TO:<" + route + "a@" + domain(60) + ">"), "501 5.1.3");
  EXPECT_EQ(Parse("RCPT TO:<" + route + "a@" + domain(40) + ">").path, Box("a", domain(40)));
}

// ---- Parameters ----

TEST(LmtpCommandTest, SizeParameter) {
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> SIZE=1000").size, std::optional<uint64_t>(1000));
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> size=0").size, std::optional<uint64_t>(0));
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> SIZE=9999999999999999999").size,
            std::optional<uint64_t>(9999999999999999999ull));
  for (const std::string_view bad :
       {"SIZE", "SIZE=", "SIZE=abc", "SIZE=-1", "SIZE=1.5", "SIZE=12k", "SIZE=99999999999999999999",
        "SIZE=1 SIZE=1", "SIZE=1 size=2"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> " + std::string(bad)), "501 5.5.4");
  }
}

TEST(LmtpCommandTest, BodyParameter) {
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> BODY=7BIT").body, Body::k7Bit);
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> BODY=8BITMIME").body, Body::k8BitMime);
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> body=8bitmime").body, Body::k8BitMime);
  // RFC 3030 3: BINARYMIME is not offered, so it is a parameter value Tern does not support.
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> BODY=BINARYMIME"), "555 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> BODY=QUANTUM"), "555 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> BODY"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> BODY="), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> BODY=7BIT BODY=7BIT"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> BODY=7BIT BODY=8BITMIME"), "501 5.5.4");
}

TEST(LmtpCommandTest, Smtputf8Parameter) {
  EXPECT_TRUE(Parse("MAIL FROM:<a@b.example> SMTPUTF8").smtputf8);
  EXPECT_TRUE(Parse("MAIL FROM:<a@b.example> smtputf8").smtputf8);
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> SMTPUTF8=yes"), "501 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8"), "501 5.5.4");
}

TEST(LmtpCommandTest, SeveralParameters) {
  const Command c = Parse("MAIL FROM:<a@b.example> SIZE=42 BODY=8BITMIME SMTPUTF8");
  EXPECT_EQ(c.size, std::optional<uint64_t>(42));
  EXPECT_EQ(c.body, Body::k8BitMime);
  EXPECT_TRUE(c.smtputf8);
  // Extra spaces between parameters are tolerated.
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example>  SIZE=1   BODY=7BIT").body, Body::k7Bit);
  // The first problem decides.
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> SIZE=1 RET=FULL"), "555 5.5.4");
  EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> SIZE=x RET=FULL"), "501 5.5.4");
}

// RFC 5321 4.1.1.11: 555 for a parameter that is not recognized.
TEST(LmtpCommandTest, UnknownMailParameters) {
  for (const std::string_view param : {"RET=FULL", "ENVID=abc", "AUTH=<>", "X-FOO", "MT-PRIORITY=3",
                                       "REQUIRETLS", "SMTPUTF9", "8BITMIME"}) {
    SCOPED_TRACE(param);
    const Reply reply = Refused("MAIL FROM:<a@b.example> " + std::string(param));
    EXPECT_EQ(Codes(reply), "555 5.5.4");
  }
}

TEST(LmtpCommandTest, MalformedParameters) {
  for (const std::string_view param :
       {"=1", "-X=1", "X_Y=1", "X=a=b", "X=\x01", "X=", "\xc3\xa9=1", "X=a\x7f"}) {
    SCOPED_TRACE(param);
    EXPECT_EQ(RefusedCodes("MAIL FROM:<a@b.example> " + std::string(param)), "501 5.5.4");
    EXPECT_EQ(RefusedCodes("RCPT TO:<a@b.example> " + std::string(param)), "501 5.5.4");
  }
}

// No RCPT parameter is offered (no DSN), so every one is unknown, even MAIL's.
TEST(LmtpCommandTest, RcptParametersAllUnknown) {
  for (const std::string_view param :
       {"NOTIFY=NEVER", "ORCPT=rfc822;a@b.example", "SIZE=10", "BODY=7BIT", "SMTPUTF8", "X"}) {
    SCOPED_TRACE(param);
    EXPECT_EQ(RefusedCodes("RCPT TO:<a@b.example> " + std::string(param)), "555 5.5.4");
  }
}

// ---- BDAT (RFC 3030 2) ----

TEST(LmtpCommandTest, Bdat) {
  const Command chunk = Parse("BDAT 100");
  EXPECT_EQ(chunk.chunk_size, 100u);
  EXPECT_FALSE(chunk.last);
  const Command last = Parse("BDAT 0 LAST");
  EXPECT_EQ(last.chunk_size, 0u);
  EXPECT_TRUE(last.last);
  EXPECT_TRUE(Parse("bdat 7 last").last);
  EXPECT_TRUE(Parse("BDAT 7 Last").last);
  EXPECT_EQ(Parse("BDAT 9999999999999999999").chunk_size, 9999999999999999999ull);
  EXPECT_EQ(Parse("BDAT 007").chunk_size, 7u);
  for (const std::string_view bad :
       {"BDAT", "BDAT LAST", "BDAT -1", "BDAT 1x", "BDAT x1", "BDAT 1 LAST junk", "BDAT 1 FIRST",
        "BDAT 1 LASTX", "BDAT 1  LAST", "BDAT  1", "BDAT 99999999999999999999", "BDAT +1",
        "BDAT 1,LAST"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RefusedCodes(bad), "501 5.5.4");
  }
}

// ---- FormatMailbox (RFC 5321 4.1.2) ----

TEST(LmtpCommandTest, FormatMailboxQuotesOnlyWhenNeeded) {
  EXPECT_EQ(FormatMailbox(Box("alice", "example.org")), "alice@example.org");
  EXPECT_EQ(FormatMailbox(Box("first.last", "example.org")), "first.last@example.org");
  EXPECT_EQ(FormatMailbox(Box("john doe", "example.org")), "\"john doe\"@example.org");
  EXPECT_EQ(FormatMailbox(Box("a\"b", "x")), R"("a\"b"@x)");
  EXPECT_EQ(FormatMailbox(Box("a\\b", "x")), R"("a\\b"@x)");
  EXPECT_EQ(FormatMailbox(Box(".lead", "x")), "\".lead\"@x");
  EXPECT_EQ(FormatMailbox(Box("trail.", "x")), "\"trail.\"@x");
  EXPECT_EQ(FormatMailbox(Box("a..b", "x")), "\"a..b\"@x");
  EXPECT_EQ(FormatMailbox(Box("", "x")), "\"\"@x");
  EXPECT_EQ(FormatMailbox(Box("a,b", "x")), "\"a,b\"@x");
  EXPECT_EQ(FormatMailbox(Box("Postmaster", "")), "Postmaster");
  EXPECT_EQ(FormatMailbox(Box("a", "[IPv6:2001:db8::1]")), "a@[IPv6:2001:db8::1]");
  EXPECT_EQ(FormatMailbox(Box("j\xc3\xb6rg", "example.org")), "j\xc3\xb6rg@example.org");
}

TEST(LmtpCommandTest, FormatMailboxRoundTrips) {
  const Mailbox boxes[] = {
      Box("alice", "example.org"),
      Box("first.last+tag", "sub.example.org"),
      Box("john doe", "example.org"),
      Box("a\"b", "example.org"),
      Box("a\\b", "example.org"),
      Box("\"\\\"", "example.org"),
      Box(".lead", "example.org"),
      Box("trail.", "example.org"),
      Box("a..b", "example.org"),
      Box("", "example.org"),
      Box("a@b", "example.org"),
      Box("a b c", "[192.0.2.1]"),
      Box("\xe7\x94\xa8\xe6\x88\xb7", "\xe4\xbe\x8b\xe5\xad\x90.example"),
      Box("caf\xc3\xa9 au lait", "example.org"),
      Box("!#$%&'*+-/=?^_`{|}~", "example.org"),
      Box("(x)", "example.org"),
      Box("Postmaster", ""),
      Box("postmaster", ""),
  };
  for (const Mailbox& box : boxes) {
    const std::string text = FormatMailbox(box);
    SCOPED_TRACE(text);
    EXPECT_EQ(Parse("RCPT TO:<" + text + ">").path, box);
    if (!box.domain.empty()) {
      EXPECT_EQ(Parse("MAIL FROM:<" + text + ">").path, box);
    }
  }
}

// Commands compare by value (the server keeps them).
TEST(LmtpCommandTest, CommandEquality) {
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> SIZE=1"), Parse("mail from:<a@b.example> size=1"));
  EXPECT_NE(Parse("MAIL FROM:<a@b.example> SIZE=1"), Parse("MAIL FROM:<a@b.example> SIZE=2"));
}

}  // namespace
}  // namespace tern::lmtp::protocol
