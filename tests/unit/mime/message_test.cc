#include "services/mime/message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "services/mime/imap_render.h"

namespace tern::mime {
namespace {

// BODY[spec] as text, or "<none>".
std::string Section(std::string_view raw, const ParsedMessage& m, std::string_view spec) {
  const auto range = SectionRange(m, spec);
  if (!range) return "<none>";
  return std::string(raw.substr(range->first, range->second - range->first));
}

// "section type/subtype" for every part, depth first.
std::vector<std::string> Shape(const BodyPart& part) {
  std::vector<std::string> out = {part.offsets.section + " " + part.type + "/" + part.subtype};
  for (const BodyPart& child : part.children) {
    for (std::string& s : Shape(child)) out.push_back(std::move(s));
  }
  return out;
}

// The example of RFC 3501 section 6.4.5, built so that every section's bytes are known.
struct SectionExample {
  std::string header =
      "From: a@example.com\r\nSubject: sections\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n";
  std::string p1 = "part one\r\nline two";
  std::string p2 = "two";
  std::string p3_mime = "Content-Type: message/rfc822\r\n\r\n";
  std::string p3_header =
      "From: b@example.com\r\nSubject: three\r\nContent-Type: multipart/mixed; boundary=m3\r\n\r\n";
  std::string p3_text =
      "--m3\r\nContent-Type: text/plain\r\n\r\nthree one\r\n"
      "--m3\r\nContent-Type: application/octet-stream\r\n\r\nthree two\r\n--m3--";
  std::string p41_mime = "Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  std::string p42_header =
      "From: c@example.com\r\nContent-Type: multipart/mixed; boundary=\"m42\"\r\n\r\n";
  std::string p4221 = "plain";
  std::string p4222 = "<bold>rich</bold>";
  std::string p422 = "--m422\r\nContent-Type: text/plain\r\n\r\n" + p4221 +
                     "\r\n--m422\r\nContent-Type: text/richtext\r\n\r\n" + p4222 + "\r\n--m422--";
  std::string p42_text =
      "--m42\r\nContent-Type: text/plain\r\n\r\nfour two one\r\n"
      "--m42\r\nContent-Type: multipart/alternative; boundary=\"m422\"\r\n\r\n" +
      p422 + "\r\n--m42--";
  std::string p4 = "--m4\r\n" + p41_mime +
                   "R0lGODlh\r\n--m4\r\nContent-Type: message/rfc822\r\n\r\n" + p42_header +
                   p42_text + "\r\n--m4--";
  std::string text = "--outer\r\nContent-Type: text/plain\r\n\r\n" + p1 +
                     "\r\n--outer\r\nContent-Type: application/octet-stream\r\n\r\n" + p2 +
                     "\r\n--outer\r\n" + p3_mime + p3_header + p3_text +
                     "\r\n--outer\r\nContent-Type: multipart/mixed; boundary=\"m4\"\r\n\r\n" + p4 +
                     "\r\n--outer--\r\n";
  std::string raw = header + text;
};

TEST(MessageTest, Rfc3501SectionExampleShape) {
  const SectionExample ex;
  const ParsedMessage m = ParseMessage(ex.raw, Limits{});
  const std::vector<std::string> want = {
      " multipart/mixed",
      "1 text/plain",
      "2 application/octet-stream",
      "3 message/rfc822",
      "3 multipart/mixed",
      "3.1 text/plain",
      "3.2 application/octet-stream",
      "4 multipart/mixed",
      "4.1 image/gif",
      "4.2 message/rfc822",
      "4.2 multipart/mixed",
      "4.2.1 text/plain",
      "4.2.2 multipart/alternative",
      "4.2.2.1 text/plain",
      "4.2.2.2 text/richtext",
  };
  EXPECT_EQ(Shape(m.body), want);
  EXPECT_EQ(m.parts.size(), want.size());
  EXPECT_FALSE(m.truncated);
  EXPECT_TRUE(m.warnings.empty());
}

TEST(MessageTest, Rfc3501SectionExampleRanges) {
  const SectionExample ex;
  const ParsedMessage m = ParseMessage(ex.raw, Limits{});
  EXPECT_EQ(Section(ex.raw, m, ""), ex.raw);
  EXPECT_EQ(Section(ex.raw, m, "HEADER"), ex.header);
  EXPECT_EQ(Section(ex.raw, m, "TEXT"), ex.text);
  EXPECT_EQ(Section(ex.raw, m, "1"), ex.p1);
  EXPECT_EQ(Section(ex.raw, m, "1.MIME"), "Content-Type: text/plain\r\n\r\n");
  EXPECT_EQ(Section(ex.raw, m, "2"), ex.p2);
  EXPECT_EQ(Section(ex.raw, m, "3"), ex.p3_header + ex.p3_text);
  EXPECT_EQ(Section(ex.raw, m, "3.MIME"), ex.p3_mime);
  EXPECT_EQ(Section(ex.raw, m, "3.HEADER"), ex.p3_header);
  EXPECT_EQ(Section(ex.raw, m, "3.TEXT"), ex.p3_text);
  EXPECT_EQ(Section(ex.raw, m, "3.1"), "three one");
  EXPECT_EQ(Section(ex.raw, m, "3.2"), "three two");
  EXPECT_EQ(Section(ex.raw, m, "4"), ex.p4);
  EXPECT_EQ(Section(ex.raw, m, "4.1"), "R0lGODlh");
  EXPECT_EQ(Section(ex.raw, m, "4.1.MIME"), ex.p41_mime);
  EXPECT_EQ(Section(ex.raw, m, "4.2"), ex.p42_header + ex.p42_text);
  EXPECT_EQ(Section(ex.raw, m, "4.2.HEADER"), ex.p42_header);
  EXPECT_EQ(Section(ex.raw, m, "4.2.TEXT"), ex.p42_text);
  EXPECT_EQ(Section(ex.raw, m, "4.2.1"), "four two one");
  EXPECT_EQ(Section(ex.raw, m, "4.2.2"), ex.p422);
  EXPECT_EQ(Section(ex.raw, m, "4.2.2.MIME"),
            "Content-Type: multipart/alternative; boundary=\"m422\"\r\n\r\n");
  EXPECT_EQ(Section(ex.raw, m, "4.2.2.1"), ex.p4221);
  EXPECT_EQ(Section(ex.raw, m, "4.2.2.2"), ex.p4222);
  EXPECT_EQ(Section(ex.raw, m, "4.2.2.2.mime"), "Content-Type: text/richtext\r\n\r\n");
  EXPECT_EQ(Section(ex.raw, m, "3.header"), ex.p3_header);
}

TEST(MessageTest, SectionRangeRejectsWhatDoesNotExist) {
  const SectionExample ex;
  const ParsedMessage m = ParseMessage(ex.raw, Limits{});
  for (const char* spec :
       {"0", "5", "1.", ".1", "1..2", "4.3", "3.3", "4.1.1", "1.HEADER", "4.TEXT", "MIME",
        "HEADER.FIELDS (From)", "1.BOGUS", "x", "99999999999999999999", "1.2"}) {
    EXPECT_FALSE(SectionRange(m, spec).has_value()) << spec;
  }
}

TEST(MessageTest, NonMultipartMessageHasPartOne) {
  const std::string raw = "Subject: x\r\n\r\nbody\r\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_EQ(Section(raw, m, "1"), "body\r\n");
  EXPECT_EQ(Section(raw, m, "TEXT"), "body\r\n");
  EXPECT_EQ(Section(raw, m, "1.MIME"), "Subject: x\r\n\r\n");
  EXPECT_EQ(Section(raw, m, "HEADER"), "Subject: x\r\n\r\n");
  EXPECT_EQ(Section(raw, m, "2"), "<none>");
  EXPECT_EQ(Section(raw, m, "1.1"), "<none>");
}

TEST(MessageTest, TopLevelMessageRfc822) {
  const std::string raw =
      "Content-Type: message/rfc822\r\nSubject: outer\r\n\r\nSubject: inner\r\n\r\ninner body\r\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_TRUE(m.body.IsMessageRfc822());
  ASSERT_EQ(m.body.children.size(), 1u);
  ASSERT_TRUE(m.body.envelope.has_value());
  EXPECT_EQ(m.body.envelope->subject, "inner");
  EXPECT_EQ(m.envelope.subject, "outer");
  EXPECT_EQ(Section(raw, m, "1"), "Subject: inner\r\n\r\ninner body\r\n");
  EXPECT_EQ(Section(raw, m, "1.HEADER"), "Subject: inner\r\n\r\n");
  EXPECT_EQ(Section(raw, m, "1.TEXT"), "inner body\r\n");
  EXPECT_EQ(Section(raw, m, "1.1"), "inner body\r\n");
  EXPECT_EQ(m.body.lines, 3u);
}

TEST(MessageTest, HeaderIsUnfoldedAndKeepsOffsets) {
  const std::string raw =
      "Subject: a long\r\n\tsubject  \r\nX-Empty:\r\nX-Spaced : v\r\nFrom x\r\n\r\nbody";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  const std::vector<HeaderField>& h = m.headers();
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].name, "Subject");
  EXPECT_EQ(h[0].value, "a long\tsubject");
  EXPECT_EQ(raw.substr(h[0].start, h[0].end - h[0].start), "Subject: a long\r\n\tsubject  \r\n");
  EXPECT_EQ(h[1].name, "X-Empty");
  EXPECT_EQ(h[1].value, "");
  EXPECT_EQ(h[2].name, "X-Spaced");  // obs-optional white space before the colon
  EXPECT_EQ(h[2].value, "v");
  // "From x" (no colon) stays in the header but is not a field.
  EXPECT_EQ(Section(raw, m, "TEXT"), "body");
  EXPECT_EQ(m.body.lines, 1u);
}

TEST(MessageTest, BareLfAndLoneCr) {
  const std::string raw = "Subject: lf\nX: a\rb\n\nline1\nline2";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_EQ(m.envelope.subject, "lf");
  ASSERT_NE(FindHeader(m.headers(), "x"), nullptr);
  EXPECT_EQ(FindHeader(m.headers(), "x")->value, "a\rb");  // a lone CR is data
  EXPECT_EQ(Section(raw, m, "TEXT"), "line1\nline2");
  EXPECT_EQ(m.body.lines, 2u);
}

TEST(MessageTest, DoubledCarriageReturnsAreTrimmedFromValues) {
  const ParsedMessage m = ParseMessage("Subject: crcr\r\r\nTo: a@b\r\r\n\r\n", Limits{});
  EXPECT_EQ(m.envelope.subject, "crcr");
  ASSERT_EQ(m.envelope.to.size(), 1u);
  EXPECT_EQ(m.envelope.to[0].host, "b");
}

TEST(MessageTest, MessageWithoutBlankLineHasEmptyBody) {
  const std::string raw = "From: a@b.c\r\nSubject: no body";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_EQ(m.envelope.subject, "no body");
  EXPECT_EQ(Section(raw, m, "HEADER"), raw);
  EXPECT_EQ(Section(raw, m, "TEXT"), "");
  EXPECT_EQ(m.body.size, 0u);
}

TEST(MessageTest, EmptyInput) {
  const ParsedMessage m = ParseMessage("", Limits{});
  EXPECT_EQ(RenderBodyStructure(m.body, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)");
  EXPECT_EQ(RenderEnvelope(m.envelope), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  EXPECT_EQ(SectionRange(m, "1"), (std::pair<size_t, size_t>{0, 0}));
}

TEST(MessageTest, ContentTypeDefaultsAndRepairs) {
  struct Case {
    std::string content_type;
    std::string want;  // BODY
  };
  const std::vector<Case> cases = {
      {"", "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)"},
      {"Content-Type: text\r\n",  // no subtype: invalid, RFC 2045 section 5.2
       "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)"},
      {"Content-Type: text/html\r\n",
       "(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)"},
      {"Content-Type: Text/Plain (comment); Charset=\"UTF-8\"; format=flowed\r\n",
       "(\"Text\" \"Plain\" (\"Charset\" \"UTF-8\" \"format\" \"flowed\") NIL NIL \"7BIT\" 2 1)"},
      {"Content-Type: image/png\r\nContent-Transfer-Encoding:  Base64 (x)\r\n",
       "(\"image\" \"png\" NIL NIL NIL \"Base64\" 2)"},
      {"Content-Type: multipart/mixed\r\n",  // no boundary
       "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)"},
      {"Content-Type: multipart/mixed; boundary=never\r\n",
       "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)"},
      // The encapsulated message is the line "x" alone: a header without a body.
      {"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n",
       "(\"message\" \"rfc822\" NIL NIL NIL \"8bit\" 2 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
       "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 1)"},
  };
  for (const Case& c : cases) {
    const std::string raw = c.content_type + "\r\nx\n";
    EXPECT_EQ(RenderBodyStructure(ParseMessage(raw, Limits{}).body, false), c.want)
        << c.content_type;
  }
}

TEST(MessageTest, DelimiterCrlfBelongsToTheDelimiter) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
      "preamble\r\n--b\r\n\r\none\r\n\r\n--b  \r\nContent-Type: text/html\r\n\r\ntwo\r\n--b--  "
      "\r\nepilogue\r\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  EXPECT_EQ(Section(raw, m, "1"), "one\r\n");
  EXPECT_EQ(Section(raw, m, "1.MIME"), "\r\n");
  EXPECT_EQ(Section(raw, m, "2"), "two");
  EXPECT_EQ(m.body.children[0].lines, 1u);
  EXPECT_EQ(m.body.children[1].lines, 1u);
  EXPECT_EQ(Section(raw, m, "TEXT"), raw.substr(raw.find("preamble")));
}

TEST(MessageTest, MissingCloseDelimiterIsTolerated) {
  const std::string raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  EXPECT_EQ(Section(raw, m, "2"), "two\n");
  EXPECT_FALSE(m.warnings.empty());
  EXPECT_FALSE(m.truncated);
}

TEST(MessageTest, OuterDelimiterEndsInnerMultipart) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=outer\n\n"
      "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
      "--inner\n\nfirst\n"
      "--outer\n\nsecond\n--outer--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  ASSERT_EQ(m.body.children[0].children.size(), 1u);
  EXPECT_EQ(Section(raw, m, "1.1"), "first");
  EXPECT_EQ(Section(raw, m, "2"), "second");
}

TEST(MessageTest, NestedMultipartMayReuseTheBoundary) {
  // RFC 2046 forbids it, mailers do it; the innermost multipart claims the delimiter.
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=x\n\n"
      "--x\nContent-Type: multipart/alternative; boundary=x\n\n"
      "--x\n\na\n--x\n\nb\n--x--\n"
      "--x\n\nc\n--x--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  ASSERT_EQ(m.body.children[0].children.size(), 2u);
  EXPECT_EQ(Section(raw, m, "1.1"), "a");
  EXPECT_EQ(Section(raw, m, "1.2"), "b");
  EXPECT_EQ(Section(raw, m, "2"), "c");
}

TEST(MessageTest, LongestBoundaryWins) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=ab\n\n"
      "--ab\nContent-Type: multipart/mixed; boundary=a\n\n"
      "--a\n\ninner\n--abc\n\nouter part\n--ab--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  EXPECT_EQ(Section(raw, m, "1.1"), "inner");
  EXPECT_EQ(Section(raw, m, "2"), "outer part");
}

TEST(MessageTest, EmptyPartsBetweenDelimiters) {
  const std::string raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nx\n--b--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  EXPECT_EQ(Section(raw, m, "1"), "");
  EXPECT_EQ(Section(raw, m, "2"), "x");
}

TEST(MessageTest, DigestPartsDefaultToMessageRfc822) {
  const std::string raw =
      "Content-Type: multipart/digest; boundary=d\n\n"
      "--d\n\nSubject: one\n\nbody one\n"
      "--d\nContent-Type: text/plain\n\nplain\n--d--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 2u);
  EXPECT_TRUE(m.body.children[0].IsMessageRfc822());
  ASSERT_TRUE(m.body.children[0].envelope.has_value());
  EXPECT_EQ(m.body.children[0].envelope->subject, "one");
  EXPECT_EQ(Section(raw, m, "1.TEXT"), "body one");
  EXPECT_TRUE(m.body.children[1].IsText());
}

TEST(MessageTest, MimeFieldsAreParsed) {
  const std::string raw =
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
      "Content-Type: application/pdf; name*0=\"long\"; name*1=\"name.pdf\"\n"
      "Content-ID: <id@x>\nContent-Description: =?utf-8?q?d=C3=A9sc?=\n"
      "Content-Transfer-Encoding: base64\nContent-MD5: abc=\n"
      "Content-Disposition: attachment;\n filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n"
      "Content-Language: en-US, fr\nContent-Location: foo.pdf\n\nQUJD\n--b--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  ASSERT_EQ(m.body.children.size(), 1u);
  const BodyPart& p = m.body.children[0];
  const Params want_params = {{"name", "longname.pdf"}};
  EXPECT_EQ(p.params, want_params);
  EXPECT_EQ(p.id, "<id@x>");
  EXPECT_EQ(p.description, "=?utf-8?q?d=C3=A9sc?=");  // the client decodes
  EXPECT_EQ(p.encoding, "base64");
  EXPECT_EQ(p.md5, "abc=");
  EXPECT_EQ(p.disposition, "attachment");
  const Params want_disposition = {{"filename", "r\xC3\xA9sum\xC3\xA9.pdf"}};
  EXPECT_EQ(p.disposition_params, want_disposition);
  EXPECT_EQ(p.language, (std::vector<std::string>{"en-US", "fr"}));
  EXPECT_EQ(p.location, "foo.pdf");
  EXPECT_EQ(p.size, 4u);
}

TEST(MessageTest, EnvelopeDefaultsAndEmptyFields) {
  const std::string raw =
      "From: Fred Foobar <foobar@Blurdybloop.COM>\r\nSender:\r\nSubject:\r\n"
      "To: mooch@owatagu.siam.edu\r\nCc:\r\nMessage-Id: <B27397-0100000@cac.washington.edu>\r\n"
      "In-Reply-To: <a@b>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\r\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_EQ(RenderEnvelope(m.envelope),
            "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"\" "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) "
            "((NIL NIL \"mooch\" \"owatagu.siam.edu\")) NIL NIL \"<a@b>\" "
            "\"<B27397-0100000@cac.washington.edu>\")");
}

TEST(MessageTest, FirstOccurrenceOfAHeaderWins) {
  const ParsedMessage m =
      ParseMessage("Subject: one\nsubject: two\nCC: a@b\ncc: c@d\n\n", Limits{});
  EXPECT_EQ(m.envelope.subject, "one");
  ASSERT_EQ(m.envelope.cc.size(), 1u);
  EXPECT_EQ(m.envelope.cc[0].mailbox, "a");
}

Address Addr(std::optional<std::string> name, std::optional<std::string> adl,
             std::optional<std::string> mailbox, std::optional<std::string> host) {
  return Address{std::move(name), std::move(adl), std::move(mailbox), std::move(host)};
}

TEST(AddressTest, Rfc5322AppendixExamples) {
  // A.1.2
  EXPECT_EQ(ParseAddressList("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            (std::vector<Address>{Addr("Mary Smith", std::nullopt, "mary", "x.test"),
                                  Addr(std::nullopt, std::nullopt, "jdoe", "example.org"),
                                  Addr("Who?", std::nullopt, "one", "y.test")}));
  EXPECT_EQ(
      ParseAddressList("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"),
      (std::vector<Address>{
          Addr(std::nullopt, std::nullopt, "boss", "nil.test"),
          Addr("Giant; \"Big\" Box", std::nullopt, "sysservices", "example.net")}));
  // A.1.3
  EXPECT_EQ(ParseAddressList("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"),
            (std::vector<Address>{Addr(std::nullopt, std::nullopt, "A Group", std::nullopt),
                                  Addr("Ed Jones", std::nullopt, "c", "a.test"),
                                  Addr(std::nullopt, std::nullopt, "joe", "where.test"),
                                  Addr("John", std::nullopt, "jdoe", "one.test"),
                                  Addr(std::nullopt, std::nullopt, std::nullopt, std::nullopt)}));
  EXPECT_EQ(ParseAddressList("Undisclosed recipients:;"),
            (std::vector<Address>{
                Addr(std::nullopt, std::nullopt, "Undisclosed recipients", std::nullopt),
                Addr(std::nullopt, std::nullopt, std::nullopt, std::nullopt)}));
  // A.5: comments everywhere.
  EXPECT_EQ(ParseAddressList("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            (std::vector<Address>{Addr("Pete", std::nullopt, "pete", "silly.test")}));
  EXPECT_EQ(ParseAddressList(
                "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,"
                "\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); "
                "(the end of the group)"),
            (std::vector<Address>{Addr(std::nullopt, std::nullopt, "A Group", std::nullopt),
                                  Addr("Chris Jones", std::nullopt, "c", "public.example"),
                                  Addr(std::nullopt, std::nullopt, "joe", "example.org"),
                                  Addr("John", std::nullopt, "jdoe", "one.test"),
                                  Addr(std::nullopt, std::nullopt, std::nullopt, std::nullopt)}));
  // A.6.3 obs-phrase and obs-route.
  EXPECT_EQ(ParseAddressList("Joe Q. Public <@a.test,@b.test:john.q.public@example.com>"),
            (std::vector<Address>{
                Addr("Joe Q. Public", "@a.test,@b.test", "john.q.public", "example.com")}));
}

TEST(AddressTest, RealWorldShapes) {
  EXPECT_EQ(ParseAddressList("bbb@ddd.com (John X. Doe)"),
            (std::vector<Address>{Addr("John X. Doe", std::nullopt, "bbb", "ddd.com")}));
  EXPECT_EQ(ParseAddressList("=?utf-8?q?J=C3=B6rg?= <j@x.de>"),
            (std::vector<Address>{Addr("=?utf-8?q?J=C3=B6rg?=", std::nullopt, "j", "x.de")}));
  EXPECT_EQ(
      ParseAddressList("\"john doe\"@example.com"),
      (std::vector<Address>{Addr(std::nullopt, std::nullopt, "\"john doe\"", "example.com")}));
  EXPECT_EQ(
      ParseAddressList("undisclosed"),
      (std::vector<Address>{Addr(std::nullopt, std::nullopt, "undisclosed", "MISSING_DOMAIN")}));
  EXPECT_EQ(ParseAddressList("MAILER DAEMON <>"),
            (std::vector<Address>{
                Addr("MAILER DAEMON", std::nullopt, "MISSING_MAILBOX", "MISSING_DOMAIN")}));
  EXPECT_EQ(ParseAddressList("a@[127.0.0.1], , b@c"),
            (std::vector<Address>{Addr(std::nullopt, std::nullopt, "a", "[127.0.0.1]"),
                                  Addr(std::nullopt, std::nullopt, "b", "c")}));
  EXPECT_TRUE(ParseAddressList("").empty());
  EXPECT_TRUE(ParseAddressList("  (just a comment) ").empty());
}

TEST(AddressTest, DamagedInputStaysBalanced) {
  // Unterminated quote, comment, bracket and group: best effort, groups always closed.
  for (const char* value : {"\"Unterminated <a@b>", "a@b (unterminated", "Name <a@b", "G: a@b",
                            "<<>>@@,,;;::", "x@", "@y", ">", "\\", "a@b@c"}) {
    const std::vector<Address> list = ParseAddressList(value);
    int depth = 0;
    for (const Address& a : list) {
      if (a.IsGroupStart()) ++depth;
      if (a.IsGroupEnd()) --depth;
      EXPECT_GE(depth, 0) << value;
    }
    EXPECT_EQ(depth, 0) << value;
  }
  EXPECT_EQ(ParseAddressList("G: a@b"),
            (std::vector<Address>{Addr(std::nullopt, std::nullopt, "G", std::nullopt),
                                  Addr(std::nullopt, std::nullopt, "a", "b"),
                                  Addr(std::nullopt, std::nullopt, std::nullopt, std::nullopt)}));
}

TEST(HeaderFieldsTest, SelectsExactBytesAndAddsTheBlankLine) {
  const std::string block =
      "From: a\r\nSubject: hi\r\n there\r\nFrom x\r\nTo: b\r\nsubject : dup\r\n\r\n";
  EXPECT_EQ(HeaderFields(block, {"SUBJECT"}, false),
            "Subject: hi\r\n there\r\nsubject : dup\r\n\r\n");
  EXPECT_EQ(HeaderFields(block, {"subject", "cc"}, true), "From: a\r\nTo: b\r\n\r\n");
  EXPECT_EQ(HeaderFields(block, {"X-None"}, false), "\r\n");
  EXPECT_EQ(HeaderFields(block, {}, true),
            "From: a\r\nSubject: hi\r\n there\r\nTo: b\r\nsubject : dup\r\n\r\n");
}

TEST(HeaderFieldsTest, NoBlankLineWhenTheHeaderHasNone) {
  EXPECT_EQ(HeaderFields("From: a\nTo: b", {"to"}, false), "To: b\r\n");
  EXPECT_EQ(HeaderFields("From: a\nTo: b\n", {"to"}, false), "To: b\n");
  EXPECT_EQ(HeaderFields("From: a\n\n", {"from"}, false), "From: a\n\n");
}

TEST(HeaderFieldsTest, WorksOnEncapsulatedMessages) {
  const SectionExample ex;
  const ParsedMessage m = ParseMessage(ex.raw, Limits{});
  EXPECT_EQ(SectionHeaderFields(ex.raw, m, "", {"subject"}, false), "Subject: sections\r\n\r\n");
  EXPECT_EQ(SectionHeaderFields(ex.raw, m, "3", {"subject"}, false), "Subject: three\r\n\r\n");
  EXPECT_EQ(SectionHeaderFields(ex.raw, m, "4.2", {"subject", "content-type"}, true),
            "From: c@example.com\r\n\r\n");
  EXPECT_FALSE(SectionHeaderFields(ex.raw, m, "1", {"subject"}, false).has_value());
}

}  // namespace
}  // namespace tern::mime
