#include "services/mime/encoded_words.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tern::mime {
namespace {

// RFC 2047 section 8, the "displayed as" column.
TEST(EncodedWordsTest, Rfc2047Section8Examples) {
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a?=)"), "(a)");
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a?= b)"), "(a b)");
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(ab)");
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)"), "(ab)");
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)"), "(ab)");
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a_b?=)"), "(a b)");
  // ISO-8859-2 is not converted in general, but 7-bit octets in an ASCII superset are exact.
  EXPECT_EQ(DecodeEncodedWords("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)"), "(a b)");
}

TEST(EncodedWordsTest, Rfc2047Section8Headers) {
  EXPECT_EQ(DecodeEncodedWords("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>"),
            "Keith Moore <moore@cs.utk.edu>");
  EXPECT_EQ(DecodeEncodedWords("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>"),
            "Keld J\xC3\xB8rn Simonsen <keld@dkuug.dk>");
  EXPECT_EQ(DecodeEncodedWords("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>"),
            "Andr\xC3\xA9 Pirard <PIRARD@vm1.ulg.ac.be>");
  EXPECT_EQ(DecodeEncodedWords("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n "
                               "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="),
            "If you can read this you understand the example.");
  EXPECT_EQ(DecodeEncodedWords("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>"),
            "Patrik F\xC3\xA4ltstr\xC3\xB6m <paf@nada.kth.se>");
}

TEST(EncodedWordsTest, UnsupportedCharsetIsKeptVerbatim) {
  // RFC 2047 section 8: Hebrew in ISO-8859-8 is not converted; the word stays as written.
  const std::string text = "Nathaniel Borenstein (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)";
  EXPECT_EQ(DecodeEncodedWords(text), text);
  // Its white space to a decoded neighbour is kept too.
  EXPECT_EQ(DecodeEncodedWords("=?utf-8?q?a?= =?x-unknown?q?b?="), "a =?x-unknown?q?b?=");
}

TEST(EncodedWordsTest, DecodesUtf8AndLatin1) {
  EXPECT_EQ(DecodeEncodedWords("=?UTF-8?B?SsO2cmc=?="), "J\xC3\xB6rg");
  EXPECT_EQ(DecodeEncodedWords("=?utf-8?q?J=C3=B6rg?="), "J\xC3\xB6rg");
  EXPECT_EQ(DecodeEncodedWords("=?latin1?q?J=F6rg?="), "J\xC3\xB6rg");
  EXPECT_EQ(DecodeEncodedWords("=?us-ascii?q?plain?="), "plain");
}

TEST(EncodedWordsTest, JoinsMultiOctetCharacterSplitAcrossWords) {
  // U+20AC (E2 82 AC) split between two words.
  EXPECT_EQ(DecodeEncodedWords("=?utf-8?q?=E2=82?= =?utf-8?q?=AC_100?="), "\xE2\x82\xAC 100");
}

TEST(EncodedWordsTest, Rfc2231LanguageSuffixIsIgnored) {
  EXPECT_EQ(DecodeEncodedWords("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
}

TEST(EncodedWordsTest, MalformedWordsStayAsWritten) {
  for (const std::string text :
       {"=?utf-8?b?!!!!?=", "=?utf-8?x?abc?=", "=??q?abc?=", "=?utf-8?q?a b?=", "=?utf-8?q?abc",
        "=?utf-8?q?=FF?=", "=?us-ascii?q?=E9?=", "=?"}) {
    EXPECT_EQ(DecodeEncodedWords(text), text) << text;
  }
}

TEST(EncodedWordsTest, TextAroundWordsIsUntouched) {
  EXPECT_EQ(DecodeEncodedWords("Re: =?utf-8?q?caf=C3=A9?= and more"), "Re: caf\xC3\xA9 and more");
  EXPECT_EQ(DecodeEncodedWords("no words here"), "no words here");
  EXPECT_EQ(DecodeEncodedWords(""), "");
}

TEST(EncodedWordsTest, StaysLinearOnUnterminatedWords) {
  std::string hostile;
  for (int i = 0; i < 200000; ++i) hostile += "=?a?q?x";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(DecodeEncodedWords(hostile), hostile);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(CharsetTest, ConvertsOnlyWhatItKnows) {
  EXPECT_EQ(CharsetToUtf8("ISO_8859-1", "\xE9"), "\xC3\xA9");
  EXPECT_EQ(CharsetToUtf8("ANSI_X3.4-1968", "abc"), "abc");
  EXPECT_EQ(CharsetToUtf8("windows-1252", "abc"), "abc");
  EXPECT_FALSE(CharsetToUtf8("windows-1252", "\x80").has_value());
  EXPECT_FALSE(CharsetToUtf8("iso-2022-jp", "abc").has_value());
  EXPECT_FALSE(CharsetToUtf8("utf-8", "\xC0\xAF").has_value());      // overlong
  EXPECT_FALSE(CharsetToUtf8("utf-8", "\xED\xA0\x80").has_value());  // surrogate
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

Params ParseParams(std::string_view text) { return DecodeParameters(SplitParameters(text)); }

TEST(Rfc2231Test, JoinsContinuations) {
  // RFC 2231 section 3.
  const Params p = ParseParams(
      "; access-type=URL;\r\n URL*0=\"ftp://\";\r\n"
      " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"");
  const Params want = {{"access-type", "URL"},
                       {"URL", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, DecodesExtendedValue) {
  // RFC 2231 section 4.
  const Params p = ParseParams("; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A");
  const Params want = {{"title", "This is ***fun***"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, CombinesCharsetAndContinuations) {
  // RFC 2231 section 4.1 (with the semicolons its erratum restores).
  const Params p = ParseParams(
      "; title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
      " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"");
  const Params want = {{"title", "This is even more ***fun*** isn't it!"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, SegmentsOutOfOrderAreSorted) {
  const Params p = ParseParams("; a=1; name*1=\"world\"; b=2; name*0=\"hello \"");
  const Params want = {{"a", "1"}, {"name", "hello world"}, {"b", "2"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, Utf8ValueReplacesPlainFallback) {
  const Params p =
      ParseParams("; filename=\"fallback.pdf\"; filename*=UTF-8''%E2%82%AC%20rates.pdf");
  const Params want = {{"filename", "\xE2\x82\xAC rates.pdf"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, UnconvertibleCharsetKeepsEncodedForm) {
  const Params p = ParseParams("; name=\"x.txt\"; name*0*=koi8-r''%F0%D2; name*1=\"a b\"");
  const Params want = {{"name", "x.txt"}, {"name*", "koi8-r''%F0%D2a%20b"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, AnsiX34IsUsAscii) {
  // Mutt's spelling of US-ASCII (corpus msg_32/msg_33).
  const Params p = ParseParams("; boundary*=\"ansi-x3.4-1968''EeQfGwPcQSOJBaQU\"");
  const Params want = {{"boundary", "EeQfGwPcQSOJBaQU"}};
  EXPECT_EQ(p, want);
}

TEST(Rfc2231Test, OddNamesAreKeptAsWritten) {
  const Params p = ParseParams("; *=a; x*y=b; n*1x=c");
  const Params want = {{"*", "a"}, {"x*y", "b"}, {"n*1x", "c"}};
  EXPECT_EQ(p, want);
}

TEST(SplitParametersTest, IsTolerant) {
  const std::vector<RawParameter> raw = SplitParameters(
      " garbage; a = \"q\\\"uoted\" (comment); novalue; ; b=tok en; c=\"unterminated");
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_EQ(raw[0].name, "a");
  EXPECT_EQ(raw[0].value, "q\"uoted");
  EXPECT_EQ(raw[1].name, "b");
  EXPECT_EQ(raw[1].value, "tok");
  EXPECT_EQ(raw[2].name, "c");
  EXPECT_EQ(raw[2].value, "unterminated");
}

TEST(PercentDecodeTest, KeepsInvalidEscapes) { EXPECT_EQ(PercentDecode("a%20b%zz%4"), "a b%zz%4"); }

}  // namespace
}  // namespace tern::mime
