#include "services/imap/protocol/mutf7.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace tern::imap::protocol {
namespace {

TEST(Mutf7Test, AsciiPassesThrough) {
  EXPECT_EQ(EncodeMailboxName("INBOX/Sent Items"), "INBOX/Sent Items");
  EXPECT_EQ(DecodeMailboxName("INBOX/Sent Items"), "INBOX/Sent Items");
  EXPECT_EQ(EncodeMailboxName(""), "");
  EXPECT_EQ(DecodeMailboxName(""), "");
}

TEST(Mutf7Test, AmpersandIsAmpersandDash) {
  EXPECT_EQ(EncodeMailboxName("Tom & Jerry"), "Tom &- Jerry");
  EXPECT_EQ(DecodeMailboxName("Tom &- Jerry"), "Tom & Jerry");
  EXPECT_EQ(DecodeMailboxName("&-&-"), "&&");
}

TEST(Mutf7Test, Rfc3501Example) {
  // RFC 3501 5.1.3.
  const std::string utf8 =
      "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
  EXPECT_EQ(EncodeMailboxName(utf8), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  EXPECT_EQ(DecodeMailboxName("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), utf8);
}

TEST(Mutf7Test, RoundTrips) {
  for (const std::string& utf8 :
       {std::string("Entw\xc3\xbcrfe"), std::string("\xc3\xa9t\xc3\xa9 & hiver"),
        std::string("emoji \xf0\x9f\x98\x80!"), std::string("\xe2\x82\xac"),
        std::string("tab\there"), std::string("a&b&-c"), std::string("\xc3\xa9\xc3\xa9\xc3\xa9")}) {
    const std::string encoded = EncodeMailboxName(utf8);
    for (const char c : encoded) {
      EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << encoded;
    }
    EXPECT_EQ(DecodeMailboxName(encoded), utf8) << encoded;
  }
  EXPECT_EQ(EncodeMailboxName("Entw\xc3\xbcrfe"), "Entw&APw-rfe");
  EXPECT_EQ(EncodeMailboxName("\xf0\x9f\x98\x80"), "&2D3eAA-");
}

TEST(Mutf7Test, InvalidUtf8IsReplaced) {
  EXPECT_EQ(EncodeMailboxName("a\xff"
                              "b"),
            "a&,,0-b");
  EXPECT_EQ(DecodeMailboxName("a&,,0-b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(EncodeMailboxName(std::string("a\0b", 3)), "a&,,0-b");
  EXPECT_EQ(EncodeMailboxName("\xed\xa0\x80"), "&,,3,,f,9-");  // a UTF-8 surrogate: three U+FFFD
}

TEST(Mutf7Test, RejectsMalformed) {
  for (const std::string_view s : {
           "&",            // unterminated shift
           "&U,BTFw",      // unterminated shift
           "&U/BTFw-",     // "/" is not modified BASE64
           "&U,BTFw=-",    // no padding in modified BASE64
           "&AGE-",        // "a" must represent itself
           "&ACY-",        // "&" must be "&-"
           "&AA-",         // too few bits for a UTF-16 unit
           "&U,BTF-",      // non-zero leftover bits
           "&AOkA-",       // half a UTF-16 unit left over
           "&2D0-",        // lone high surrogate
           "&3gA-",        // lone low surrogate
           "&2D3YPQ-",     // high surrogate followed by high surrogate
           "&AAA-",        // U+0000
           "caf\xc3\xa9",  // 8-bit
           "a\tb",         // control character
       }) {
    EXPECT_EQ(DecodeMailboxName(s), std::nullopt) << s;
  }
}

}  // namespace
}  // namespace tern::imap::protocol
