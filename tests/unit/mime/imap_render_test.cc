#include "services/mime/imap_render.h"

#include <gtest/gtest.h>

#include <string>

#include "services/mime/message.h"

namespace tern::mime {
namespace {

// A CRLF body of exactly `octets` bytes in `lines` lines.
std::string MakeBody(size_t octets, size_t lines) {
  const size_t text = octets - 2 * lines;
  std::string body;
  for (size_t i = 0; i < lines; ++i) {
    const size_t len = text / lines + (i < text % lines ? 1 : 0);
    body += std::string(len, 'a' + static_cast<char>(i % 26));
    body += "\r\n";
  }
  return body;
}

// The header of the message in RFC 3501 section 8 (BODY[HEADER] there is {342}).
constexpr char kRfc3501Header[] =
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    "From: Terry Gray <gray@cac.washington.edu>\r\n"
    "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    "To: imap@cac.washington.edu\r\n"
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
    "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n";

TEST(ImapRenderTest, Rfc3501Section8FetchFull) {
  const std::string raw = kRfc3501Header + MakeBody(3028, 92);
  const ParsedMessage m = ParseMessage(raw, Limits{});
  // The RFC's sample breaks the line between the two cc addresses "for editorial clarity";
  // the grammar (env-cc = "(" 1*address ")") has no space there.
  EXPECT_EQ(RenderEnvelope(m.envelope),
            "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
            "\"IMAP4rev1 WG mtg summary and minutes\" "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((NIL NIL \"imap\" \"cac.washington.edu\")) "
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
            "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
            "\"<B27397-0100000@cac.washington.edu>\")");
  EXPECT_EQ(RenderBodyStructure(m.body, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92)");
  const auto header = SectionRange(m, "HEADER");
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->second - header->first, 342u);
}

TEST(ImapRenderTest, Rfc3501SimpleTextExample) {
  const std::string raw = "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n" + MakeBody(2279, 48);
  EXPECT_EQ(RenderBodyStructure(ParseMessage(raw, Limits{}).body, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2279 48)");
}

TEST(ImapRenderTest, Rfc3501TwoPartExample) {
  const std::string raw =
      "Content-Type: MULTIPART/MIXED; BOUNDARY=\"=_x\"\r\n\r\n"
      "--=_x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n" +
      MakeBody(1152, 23) +
      "\r\n--=_x\r\n"
      "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
      "Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
      "Content-Description: Compiler diff\r\n"
      "Content-Transfer-Encoding: BASE64\r\n\r\n" +
      MakeBody(4554, 73) + "\r\n--=_x--\r\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_EQ(RenderBodyStructure(m.body, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)"
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
            "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) "
            "\"MIXED\")");
  EXPECT_EQ(RenderBodyStructure(m.body, true),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23 NIL NIL NIL "
            "NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
            "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73 "
            "NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"=_x\") NIL NIL NIL)");
}

TEST(ImapRenderTest, MessageRfc822CarriesEnvelopeBodyAndLines) {
  const std::string raw =
      "Subject: outer\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
      "Subject: inner\r\nFrom: a@b.c\r\n\r\nhello\r\n"
      "--b--\r\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  const std::string inner_env =
      "(NIL \"inner\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
      "((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)";
  EXPECT_EQ(RenderBodyStructure(m.body, false),
            "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 36 " + inner_env +
                " (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) 4) "
                "\"mixed\")");
  EXPECT_EQ(RenderBodyStructure(m.body, true),
            "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 36 " + inner_env +
                " (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL "
                "NIL) 4 NIL (\"attachment\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL "
                "NIL)");
}

TEST(ImapRenderTest, ExtensionDataInOrder) {
  const std::string raw =
      "Content-Type: multipart/alternative; boundary=\"b\"\r\n"
      "Content-Disposition: inline\r\n"
      "Content-Language: en, de (German)\r\n"
      "Content-Location: http://example.com/x\r\n\r\n"
      "--b\r\n"
      "Content-Type: image/png; name=a.png\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
      "Content-Disposition: attachment; filename=\"a.png\"; size=3\r\n"
      "Content-Language: fr\r\n\r\n"
      "AAAA\r\n"
      "--b--\r\n";
  EXPECT_EQ(RenderBodyStructure(ParseMessage(raw, Limits{}).body, true),
            "((\"image\" \"png\" (\"name\" \"a.png\") NIL NIL \"base64\" 4 "
            "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"a.png\" \"size\" \"3\")) "
            "(\"fr\") NIL) \"alternative\" (\"boundary\" \"b\") (\"inline\" NIL) (\"en\" \"de\") "
            "\"http://example.com/x\")");
}

TEST(ImapRenderTest, QuotesEscapesAndLiterals) {
  std::string out;
  AppendImapString(out, "say \"hi\" \\o/");
  EXPECT_EQ(out, "\"say \\\"hi\\\" \\\\o/\"");
  out.clear();
  AppendImapString(out, "tab\tok");
  EXPECT_EQ(out, "\"tab\tok\"");
  out.clear();
  AppendImapString(out, "caf\xC3\xA9");
  EXPECT_EQ(out, "{5}\r\ncaf\xC3\xA9");
  out.clear();
  AppendImapString(out, "two\r\nlines");
  EXPECT_EQ(out, "{10}\r\ntwo\r\nlines");
  out.clear();
  AppendImapString(out, std::string("a\0b", 3));
  EXPECT_EQ(out,
            "{3}\r\na\x80"
            "b");  // CHAR8 excludes NUL
  out.clear();
  AppendImapString(out, "");
  EXPECT_EQ(out, "\"\"");
  out.clear();
  AppendImapNString(out, std::nullopt);
  EXPECT_EQ(out, "NIL");
}

TEST(ImapRenderTest, EnvelopeGroupsAndSpecialCharacters) {
  Envelope e;
  e.subject = "=?utf-8?q?caf=C3=A9?= \"quoted\"";
  e.to = ParseAddressList("Friends: \"Joe \\\"Q\\\" Public\" <joe@x.org>, b@y.org;, c@z.org");
  EXPECT_EQ(
      RenderEnvelope(e),
      "(NIL \"=?utf-8?q?caf=C3=A9?= \\\"quoted\\\"\" NIL NIL NIL "
      "((NIL NIL \"Friends\" NIL)(\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"x.org\")"
      "(NIL NIL \"b\" \"y.org\")(NIL NIL NIL NIL)(NIL NIL \"c\" \"z.org\")) NIL NIL NIL NIL)");
}

TEST(ImapRenderTest, ChildlessMultipartGetsPlaceholderPart) {
  BodyPart part;
  part.type = "multipart";
  part.subtype = "mixed";
  EXPECT_EQ(RenderBodyStructure(part, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"mixed\")");
  EXPECT_EQ(RenderBodyStructure(part, true),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) "
            "\"mixed\" NIL NIL NIL NIL)");
}

TEST(ImapRenderTest, EightBitParameterIsLiteral) {
  const std::string raw = "Content-Type: application/pdf; name*=utf-8''%E2%82%AC.pdf\r\n\r\nx";
  EXPECT_EQ(RenderBodyStructure(ParseMessage(raw, Limits{}).body, false),
            "(\"application\" \"pdf\" (\"name\" {7}\r\n\xE2\x82\xAC.pdf) NIL NIL \"7BIT\" 1)");
}

}  // namespace
}  // namespace tern::mime
