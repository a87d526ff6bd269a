#include "services/lmtp/protocol/reply.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tern::lmtp::protocol {
namespace {

// The lines of an encoded reply, each with its CRLF; a failure for a bare CR or LF.
std::vector<std::string> Lines(std::string_view wire) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < wire.size()) {
    const size_t crlf = wire.find("\r\n", start);
    if (crlf == std::string_view::npos) {
      ADD_FAILURE() << "reply does not end with CRLF";
      break;
    }
    const std::string line(wire.substr(start, crlf + 2 - start));
    EXPECT_EQ(line.find_first_of("\r\n"), line.size() - 2) << "bare CR or LF in " << line;
    lines.push_back(line);
    start = crlf + 2;
  }
  return lines;
}

TEST(LmtpReplyTest, SingleLine) {
  EXPECT_EQ(Encode(MakeReply(250, "2.1.5", "OK")), "250 2.1.5 OK\r\n");
  EXPECT_EQ(Encode(MakeReply(550, "5.1.1", "No such user")), "550 5.1.1 No such user\r\n");
  // No enhanced code for 354 and the greeting (RFC 2034 4).
  EXPECT_EQ(Encode(MakeReply(354, "", "End data with <CR><LF>.<CR><LF>")),
            "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(Encode(MakeReply(220, "", "tern.example LMTP Tern ready")),
            "220 tern.example LMTP Tern ready\r\n");
  // An empty text: no trailing space after the enhanced code.
  EXPECT_EQ(Encode(MakeReply(250, "2.0.0", "")), "250 2.0.0\r\n");
}

// RFC 5321 4.2.1: "code-" on every line but the last, "code " on the last.
TEST(LmtpReplyTest, MultiLine) {
  const Reply ehlo{
      .code = 250, .enhanced = "", .lines = {"tern.example", "PIPELINING", "8BITMIME", "CHUNKING"}};
  EXPECT_EQ(Encode(ehlo), "250-tern.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 CHUNKING\r\n");
  // RFC 2034 4: the same enhanced code on each line.
  const Reply help{.code = 214, .enhanced = "2.0.0", .lines = {"Commands:", "", "LHLO MAIL"}};
  EXPECT_EQ(Encode(help), "214-2.0.0 Commands:\r\n214-2.0.0\r\n214 2.0.0 LHLO MAIL\r\n");
}

TEST(LmtpReplyTest, NoLinesStillOneLine) {
  const std::vector<std::string> lines = Lines(Encode(Reply{.code = 250, .enhanced = "2.0.0"}));
  EXPECT_EQ(lines, std::vector<std::string>{"250 2.0.0\r\n"});
  EXPECT_EQ(Lines(Encode(Reply{.code = 221})).size(), 1u);
}

TEST(LmtpReplyTest, AppendAppends) {
  std::string out = "250 2.0.0 first\r\n";
  AppendReply(out, MakeReply(250, "2.1.0", "second"));
  EXPECT_EQ(out, "250 2.0.0 first\r\n250 2.1.0 second\r\n");
}

// Text never breaks the line: CR, LF and other controls become spaces, so nothing can be
// injected as a reply of its own.
TEST(LmtpReplyTest, ControlCharactersSanitized) {
  EXPECT_EQ(Encode(MakeReply(250, "2.0.0", "a\r\n250 injected\r\nb")),
            "250 2.0.0 a  250 injected  b\r\n");
  EXPECT_EQ(Encode(MakeReply(250, "2.0.0", "x\ry\nz")), "250 2.0.0 x y z\r\n");
  EXPECT_EQ(Encode(MakeReply(250, "2.0.0", std::string("a\0b\tc\x7f\x1b", 7))),
            "250 2.0.0 a b c  \r\n");
  const Reply multi{.code = 250, .enhanced = "", .lines = {"one\r\ntwo", "three\n"}};
  EXPECT_EQ(Lines(Encode(multi)), (std::vector<std::string>{"250-one  two\r\n", "250 three \r\n"}));
}

// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the CRLF.
TEST(LmtpReplyTest, LineLengthLimit) {
  // "250 " and 506 octets of text and the CRLF: exactly 512.
  const std::string fits(506, 'f');
  EXPECT_EQ(Encode(MakeReply(250, "", fits)), "250 " + fits + "\r\n");
  EXPECT_EQ(Encode(MakeReply(250, "", fits + "g")), "250 " + fits + "\r\n");
  for (const std::string_view enhanced : {"", "5.1.1", "5.123.456"}) {
    for (const size_t n : {0, 1, 497, 498, 499, 500, 510, 511, 512, 513, 2000}) {
      SCOPED_TRACE(std::string(enhanced) + " " + std::to_string(n));
      const Reply reply{.code = 550,
                        .enhanced = std::string(enhanced),
                        .lines = {std::string(n, 'x'), std::string(n, '\n'), "short"}};
      const std::vector<std::string> lines = Lines(Encode(reply));
      ASSERT_EQ(lines.size(), 3u);
      for (const std::string& line : lines) {
        EXPECT_LE(line.size(), kMaxReplyLine);
        EXPECT_EQ(line.substr(0, 3), "550");
      }
      EXPECT_EQ(lines[0][3], '-');
      EXPECT_EQ(lines[2][3], ' ');
      EXPECT_EQ(lines[0].size(),
                std::min(kMaxReplyLine,
                         4 + enhanced.size() + (enhanced.empty() || n == 0 ? 0 : 1) + n + 2));
    }
  }
}

TEST(LmtpReplyTest, CodeOutOfRangeBecomes451) {
  EXPECT_EQ(Encode(MakeReply(0, "", "x")), "451 x\r\n");
  EXPECT_EQ(Encode(MakeReply(199, "", "x")), "451 x\r\n");
  EXPECT_EQ(Encode(MakeReply(600, "", "x")), "451 x\r\n");
  EXPECT_EQ(Encode(MakeReply(-250, "", "x")), "451 x\r\n");
  // The enhanced code of the original class would now contradict the reply code.
  EXPECT_EQ(Encode(MakeReply(600, "5.0.0", "x")), "451 x\r\n");
  EXPECT_EQ(Encode(MakeReply(0, "4.3.0", "x")), "451 4.3.0 x\r\n");
}

// RFC 3463 2 / RFC 2034 4: class.subject.detail, the class matching the reply code. A code
// that is not one is left out, never sent wrong.
TEST(LmtpReplyTest, EnhancedCodeMustBeWellFormedAndMatch) {
  EXPECT_EQ(Encode(MakeReply(452, "4.5.3", "x")), "452 4.5.3 x\r\n");
  EXPECT_EQ(Encode(MakeReply(250, "2.01.005", "x")), "250 2.01.005 x\r\n");
  EXPECT_EQ(Encode(MakeReply(550, "5.123.456", "x")), "550 5.123.456 x\r\n");
  for (const std::string_view bad :
       {"2.1.5", "4.0.0", "5", "5.", "5.1", "5.1.", "5..1", ".5.1.1", "5.1.1.", "5.1.1.1",
        "5.1000.1", "5.1.1000", "5.a.1", "5.1.1 x", "5.1.1\r\n250 x", "6.0.0", "3.0.0", " 5.1.1"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(Encode(MakeReply(550, bad, "x")), "550 x\r\n");
  }
  EXPECT_EQ(Encode(MakeReply(354, "3.0.0", "go")), "354 go\r\n");
  // Not even a huge one can push a line past 512 octets.
  const std::string huge = "5." + std::string(600, '1') + ".1";
  EXPECT_EQ(Encode(MakeReply(550, huge, "x")), "550 x\r\n");
}

TEST(LmtpReplyTest, Classes) {
  EXPECT_TRUE(MakeReply(250, "2.0.0", "").positive());
  EXPECT_TRUE(MakeReply(354, "", "").positive());
  EXPECT_FALSE(MakeReply(250, "2.0.0", "").transient());
  EXPECT_TRUE(MakeReply(451, "4.3.0", "").transient());
  EXPECT_FALSE(MakeReply(451, "4.3.0", "").permanent());
  EXPECT_TRUE(MakeReply(550, "5.1.1", "").permanent());
  EXPECT_FALSE(MakeReply(550, "5.1.1", "").positive());
  EXPECT_EQ(MakeReply(250, "2.0.0", "a"), MakeReply(250, "2.0.0", "a"));
  EXPECT_NE(MakeReply(250, "2.0.0", "a"), MakeReply(250, "2.0.0", "b"));
}

}  // namespace
}  // namespace tern::lmtp::protocol
