// Whole-message properties: every corpus message and every hostile input parses into a
// structure whose offsets nest, whose renders are valid RFC 3501 syntax, and which does not
// depend on the line-ending convention. Plus hand-checked BODYSTRUCTUREs of corpus messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "services/mime/imap_render.h"
#include "services/mime/message.h"

#ifndef TERN_TESTDATA_DIR
#define TERN_TESTDATA_DIR "/work/shared/testdata"
#endif

namespace tern::mime {
namespace {

// ---- A small reader of IMAP data (lists, strings, NIL, numbers) to check render syntax.

struct Sx {
  enum Kind { kList, kString, kNil, kNumber } kind = kNil;
  std::string text;
  std::vector<Sx> items;
};

class SxReader {
 public:
  explicit SxReader(std::string_view s) : s_(s) {}

  // Reads exactly one item that spans the whole input.
  bool ReadAll(Sx& out) { return Read(out, 0) && pos_ == s_.size(); }
  std::string error() const { return error_ + " at " + std::to_string(pos_); }

 private:
  bool Fail(std::string what) {
    error_ = std::move(what);
    return false;
  }

  bool Read(Sx& out, int depth) {
    if (depth > 1000) return Fail("too deep");
    if (pos_ >= s_.size()) return Fail("unexpected end");
    const char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      out.kind = Sx::kList;
      if (pos_ < s_.size() && s_[pos_] == ')') return Fail("empty list");
      while (true) {
        Sx item;
        if (!Read(item, depth + 1)) return false;
        const bool was_list = item.kind == Sx::kList;
        out.items.push_back(std::move(item));
        if (pos_ >= s_.size()) return Fail("unterminated list");
        if (s_[pos_] == ')') {
          ++pos_;
          return true;
        }
        if (s_[pos_] == ' ') {
          ++pos_;
          continue;
        }
        // Only bodies in a multipart and addresses in a list are written back to back.
        if (s_[pos_] == '(' && was_list) continue;
        return Fail("bad separator");
      }
    }
    if (c == '"') {
      ++pos_;
      out.kind = Sx::kString;
      while (pos_ < s_.size() && s_[pos_] != '"') {
        const auto u = static_cast<unsigned char>(s_[pos_]);
        if (u == '\r' || u == '\n' || u == 0 || u >= 0x80) return Fail("bad quoted char");
        if (s_[pos_] == '\\') {
          ++pos_;
          if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\\')) {
            return Fail("bad escape");
          }
        }
        out.text.push_back(s_[pos_++]);
      }
      if (pos_ >= s_.size()) return Fail("unterminated quoted");
      ++pos_;
      return true;
    }
    if (c == '{') {
      const size_t close = s_.find("}\r\n", pos_);
      if (close == std::string_view::npos) return Fail("bad literal");
      const size_t n = std::stoul(std::string(s_.substr(pos_ + 1, close - pos_ - 1)));
      pos_ = close + 3;
      if (pos_ + n > s_.size()) return Fail("short literal");
      out.kind = Sx::kString;
      out.text = std::string(s_.substr(pos_, n));
      if (out.text.find('\0') != std::string::npos) return Fail("NUL in literal");
      pos_ += n;
      return true;
    }
    if (s_.substr(pos_, 3) == "NIL") {
      pos_ += 3;
      out.kind = Sx::kNil;
      return true;
    }
    if (c >= '0' && c <= '9') {
      out.kind = Sx::kNumber;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') out.text.push_back(s_[pos_++]);
      return true;
    }
    return Fail("unexpected character");
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

bool IsString(const Sx& x) { return x.kind == Sx::kString; }
bool IsNString(const Sx& x) { return x.kind == Sx::kString || x.kind == Sx::kNil; }

bool ValidParams(const Sx& x) {
  if (x.kind == Sx::kNil) return true;
  if (x.kind != Sx::kList || x.items.size() % 2 != 0) return false;
  return std::all_of(x.items.begin(), x.items.end(), IsString);
}

bool ValidAddressList(const Sx& x) {
  if (x.kind == Sx::kNil) return true;
  if (x.kind != Sx::kList) return false;
  return std::all_of(x.items.begin(), x.items.end(), [](const Sx& a) {
    return a.kind == Sx::kList && a.items.size() == 4 &&
           std::all_of(a.items.begin(), a.items.end(), IsNString);
  });
}

bool ValidEnvelope(const Sx& x) {
  if (x.kind != Sx::kList || x.items.size() != 10) return false;
  if (!IsNString(x.items[0]) || !IsNString(x.items[1]) || !IsNString(x.items[8]) ||
      !IsNString(x.items[9])) {
    return false;
  }
  for (size_t i = 2; i < 8; ++i) {
    if (!ValidAddressList(x.items[i])) return false;
  }
  return true;
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc
bool ValidDspLangLoc(const std::vector<Sx>& items, size_t k) {
  const Sx& dsp = items[k];
  if (dsp.kind != Sx::kNil && !(dsp.kind == Sx::kList && dsp.items.size() == 2 &&
                                IsString(dsp.items[0]) && ValidParams(dsp.items[1]))) {
    return false;
  }
  const Sx& lang = items[k + 1];
  if (!IsNString(lang) &&
      !(lang.kind == Sx::kList && std::all_of(lang.items.begin(), lang.items.end(), IsString))) {
    return false;
  }
  return IsNString(items[k + 2]);
}

bool EqualsNoCase(const std::string& a, const char* b) { return EqualsIgnoreCase(a, b); }

// RFC 3501 section 9 "body", with (extensible) or without extension data.
bool ValidBody(const Sx& b, bool ext) {
  if (b.kind != Sx::kList || b.items.empty()) return false;
  const std::vector<Sx>& it = b.items;
  if (it[0].kind == Sx::kList) {  // body-type-mpart
    size_t k = 0;
    while (k < it.size() && it[k].kind == Sx::kList) {
      if (!ValidBody(it[k], ext)) return false;
      ++k;
    }
    if (k >= it.size() || !IsString(it[k])) return false;
    ++k;
    if (!ext) return k == it.size();
    return it.size() == k + 4 && ValidParams(it[k]) && ValidDspLangLoc(it, k + 1);
  }
  if (it.size() < 7 || !IsString(it[0]) || !IsString(it[1]) || !ValidParams(it[2]) ||
      !IsNString(it[3]) || !IsNString(it[4]) || !IsString(it[5]) || it[6].kind != Sx::kNumber) {
    return false;
  }
  size_t k = 7;
  if (EqualsNoCase(it[0].text, "message") && EqualsNoCase(it[1].text, "rfc822")) {
    if (it.size() < 10 || !ValidEnvelope(it[7]) || !ValidBody(it[8], ext) ||
        it[9].kind != Sx::kNumber) {
      return false;
    }
    k = 10;
  } else if (EqualsNoCase(it[0].text, "text")) {
    if (it.size() < 8 || it[7].kind != Sx::kNumber) return false;
    k = 8;
  }
  if (!ext) return it.size() == k;
  return it.size() == k + 4 && IsNString(it[k]) && ValidDspLangLoc(it, k + 1);
}

// ---- Structural invariants.

size_t CountNodes(const BodyPart& p) {
  size_t n = 1;
  for (const BodyPart& c : p.children) n += CountNodes(c);
  return n;
}

size_t CountLines(std::string_view s) {
  const auto lf = static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  return lf + ((!s.empty() && s.back() != '\n') ? 1 : 0);
}

void CheckPart(std::string_view raw, const ParsedMessage& m, const BodyPart& p) {
  const PartOffsets& o = p.offsets;
  ASSERT_LE(o.header_start, o.header_end);
  ASSERT_LE(o.header_end, o.body_end);
  ASSERT_LE(o.body_end, raw.size());
  EXPECT_EQ(p.size, o.body_end - o.header_end);
  if (p.IsMultipart()) {
    EXPECT_FALSE(p.children.empty()) << o.section;
  } else if (p.IsMessageRfc822()) {
    ASSERT_EQ(p.children.size(), 1u) << o.section;
    EXPECT_TRUE(p.envelope.has_value());
    const PartOffsets& r = p.children[0].offsets;
    EXPECT_EQ(r.header_start, o.header_end);
    EXPECT_EQ(r.body_end, o.body_end);
    EXPECT_EQ(r.section, o.section);
  } else {
    EXPECT_TRUE(p.children.empty()) << o.section;
  }
  if (!p.IsMultipart()) {
    EXPECT_EQ(p.lines, CountLines(raw.substr(o.header_end, p.size))) << o.section;
  }
  size_t previous_end = o.header_end;
  for (size_t i = 0; i < p.children.size(); ++i) {
    const BodyPart& c = p.children[i];
    EXPECT_GE(c.offsets.header_start, previous_end) << c.offsets.section;
    EXPECT_LE(c.offsets.body_end, o.body_end) << c.offsets.section;
    previous_end = c.offsets.body_end;
    if (p.IsMultipart()) {
      const std::string want =
          o.section.empty() ? std::to_string(i + 1) : o.section + "." + std::to_string(i + 1);
      EXPECT_EQ(c.offsets.section, want);
      const auto body = SectionRange(m, want);
      ASSERT_TRUE(body.has_value()) << want;
      EXPECT_EQ(*body, (std::pair<size_t, size_t>{c.offsets.header_end, c.offsets.body_end}));
      const auto mime = SectionRange(m, want + ".MIME");
      ASSERT_TRUE(mime.has_value()) << want;
      EXPECT_EQ(*mime, (std::pair<size_t, size_t>{c.offsets.header_start, c.offsets.header_end}));
    }
    CheckPart(raw, m, c);
  }
}

void CheckInvariants(std::string_view raw, const ParsedMessage& m) {
  ASSERT_EQ(m.size, raw.size());
  EXPECT_EQ(m.body.offsets.header_start, 0u);
  EXPECT_EQ(m.body.offsets.body_end, raw.size());
  EXPECT_EQ(m.body.offsets.section, "");
  EXPECT_EQ(m.parts.size(), CountNodes(m.body));
  ASSERT_FALSE(m.parts.empty());
  EXPECT_EQ(m.parts[0], m.body.offsets);
  CheckPart(raw, m, m.body);
  for (bool ext : {false, true}) {
    const std::string rendered = RenderBodyStructure(m.body, ext);
    Sx sx;
    SxReader reader(rendered);
    ASSERT_TRUE(reader.ReadAll(sx)) << reader.error() << "\n" << rendered.substr(0, 2000);
    EXPECT_TRUE(ValidBody(sx, ext)) << rendered.substr(0, 2000);
  }
  const std::string envelope = RenderEnvelope(m.envelope);
  Sx sx;
  SxReader reader(envelope);
  ASSERT_TRUE(reader.ReadAll(sx)) << reader.error() << "\n" << envelope.substr(0, 2000);
  EXPECT_TRUE(ValidEnvelope(sx)) << envelope;
  ASSERT_TRUE(SectionRange(m, "HEADER").has_value());
  ASSERT_TRUE(SectionRange(m, "TEXT").has_value());
  ASSERT_TRUE(SectionRange(m, "1").has_value());
}

// ---- Line endings.

std::string ToCrlf(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
    out.push_back(s[i]);
  }
  return out;
}

std::string ToLf(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out.push_back(s[i]);
  }
  return out;
}

void ZeroSizes(BodyPart& p) {
  p.size = 0;
  for (BodyPart& c : p.children) ZeroSizes(c);
}

// The structure without byte counts; sizes are compared separately.
std::string Structure(const ParsedMessage& m) {
  BodyPart copy = m.body;
  ZeroSizes(copy);
  std::string sections;
  for (const PartOffsets& o : m.parts) sections += o.section + ",";
  return RenderEnvelope(m.envelope) + RenderBodyStructure(copy, true) + sections;
}

// A part's size in CRLF form is its LF size plus the LFs in its LF body.
void CheckSizes(std::string_view lf_raw, const BodyPart& lf, const BodyPart& crlf) {
  const auto lfs = std::count(lf_raw.begin() + static_cast<long>(lf.offsets.header_end),
                              lf_raw.begin() + static_cast<long>(lf.offsets.body_end), '\n');
  EXPECT_EQ(crlf.size, lf.size + static_cast<size_t>(lfs)) << lf.offsets.section;
  ASSERT_EQ(lf.children.size(), crlf.children.size());
  for (size_t i = 0; i < lf.children.size(); ++i) {
    CheckSizes(lf_raw, lf.children[i], crlf.children[i]);
  }
}

// ---- The corpus.

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::filesystem::path CorpusDir() {
  return std::filesystem::path(TERN_TESTDATA_DIR) / "mime-corpus";
}

std::vector<std::filesystem::path> CorpusFiles() {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(CorpusDir())) return files;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("msg_") && name.ends_with(".txt")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Corpus(const std::string& name) { return ReadFile(CorpusDir() / name); }

// Body parts per message (message/rfc822 parts and their encapsulated root count twice).
// Where Python's email package walks a different tree, the comment says why.
const std::map<std::string, size_t> kExpectedParts = {
    {"msg_01.txt", 1},
    {"msg_02.txt", 15},
    {"msg_03.txt", 1},
    {"msg_04.txt", 3},
    {"msg_05.txt", 5},
    {"msg_06.txt", 2},
    {"msg_07.txt", 3},
    {"msg_08.txt", 5},
    {"msg_09.txt", 5},
    {"msg_10.txt", 6},
    {"msg_11.txt", 2},
    {"msg_12.txt", 8},
    {"msg_12a.txt", 8},
    {"msg_13.txt", 5},
    {"msg_14.txt", 1},
    {"msg_15.txt", 5},  // nested multipart reusing the boundary (Python: 4, loses the nesting)
    {"msg_16.txt", 5},  // message/delivery-status is a leaf in IMAP (Python: 7)
    {"msg_17.txt", 1},  // boundary never appears: text/plain
    {"msg_18.txt", 1},
    {"msg_19.txt", 1},
    {"msg_20.txt", 1},
    {"msg_21.txt", 3},
    {"msg_22.txt", 5},
    {"msg_23.txt", 2},
    {"msg_24.txt", 2},
    {"msg_25.txt", 1},  // multipart/report whose boundary
                        // parameter was cut off
    {"msg_26.txt", 3},
    {"msg_27.txt", 1},
    {"msg_28.txt", 5},
    {"msg_29.txt", 1},
    {"msg_30.txt", 5},
    {"msg_31.txt", 1},
    {"msg_32.txt", 1},
    {"msg_33.txt", 3},
    {"msg_34.txt", 4},
    {"msg_35.txt", 1},
    {"msg_36.txt", 5},  // message/external-body is a leaf in IMAP (Python: 7)
    {"msg_37.txt", 8},  // every delimiter starts a part, empty ones too (Python: 4)
    {"msg_38.txt", 7},
    {"msg_39.txt", 12},  // three levels reuse one boundary; innermost wins
                         // (Python: 6)
    {"msg_40.txt", 1},
    {"msg_41.txt", 1},
    {"msg_42.txt", 4},
    {"msg_43.txt", 4},  // message/delivery-status
                        // again (Python:
                        // 30)
    {"msg_44.txt", 3},
    {"msg_45.txt", 3},
    {"msg_46.txt", 2},
    {"msg_47.txt", 3},
};

TEST(CorpusTest, EveryMessageParsesWithInvariants) {
  const std::vector<std::filesystem::path> files = CorpusFiles();
  ASSERT_EQ(files.size(), 48u) << CorpusDir();
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const std::string raw = ReadFile(path);
    const ParsedMessage m = ParseMessage(raw, Limits{});
    CheckInvariants(raw, m);
    EXPECT_FALSE(m.truncated);
    const auto expected = kExpectedParts.find(path.filename().string());
    ASSERT_NE(expected, kExpectedParts.end());
    EXPECT_EQ(m.parts.size(), expected->second);
  }
}

TEST(CorpusTest, LineEndingsDoNotChangeTheStructure) {
  for (const auto& path : CorpusFiles()) {
    SCOPED_TRACE(path.filename().string());
    const std::string raw = ReadFile(path);
    const std::string lf = ToLf(raw);
    const std::string crlf = ToCrlf(lf);
    const ParsedMessage m_lf = ParseMessage(lf, Limits{});
    const ParsedMessage m_crlf = ParseMessage(crlf, Limits{});
    CheckInvariants(lf, m_lf);
    CheckInvariants(crlf, m_crlf);
    EXPECT_EQ(Structure(m_lf), Structure(m_crlf));
    CheckSizes(lf, m_lf.body, m_crlf.body);
  }
}

TEST(CorpusTest, EveryPrefixParses) {
  // Truncated deliveries: every prefix of a few structurally rich messages.
  for (const char* name : {"msg_02.txt", "msg_15.txt", "msg_38.txt", "msg_39.txt", "msg_46.txt"}) {
    const std::string raw = Corpus(name);
    for (size_t n = 0; n <= raw.size(); ++n) {
      const std::string prefix = raw.substr(0, n);
      const ParsedMessage m = ParseMessage(prefix, Limits{});
      CheckInvariants(prefix, m);
      if (testing::Test::HasFailure()) {
        FAIL() << name << " prefix " << n;
      }
    }
  }
}

// Hand-checked against RFC 3501 section 7.4.2 and the byte counts of the files.
TEST(CorpusTest, Msg04SimpleMultipart) {
  // Each part body is "a simple kind of mirror\nto reflect upon our own\n" (24 + 24 octets,
  // 2 lines); the LF before each delimiter belongs to the delimiter.
  const ParsedMessage m = ParseMessage(Corpus("msg_04.txt"), Limits{});
  const std::string part =
      "(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 48 2 NIL (\"inline\" "
      "(\"filename\" \"msg.txt\")) NIL NIL)";
  EXPECT_EQ(RenderBodyStructure(m.body, true),
            "(" + part + part + " \"mixed\" (\"boundary\" \"h90VIIIKmx\") NIL NIL NIL)");
  EXPECT_EQ(RenderEnvelope(m.envelope),
            "(\"Tue, 11 Sep 2001 00:05:05 -0400\" \"a simple multipart\" "
            "((\"Barry A. Warsaw\" NIL \"barry\" \"python.org\")) "
            "((\"Barry A. Warsaw\" NIL \"barry\" \"python.org\")) "
            "((\"Barry A. Warsaw\" NIL \"barry\" \"python.org\")) "
            "((NIL NIL \"barry\" \"python.org\")) NIL NIL NIL "
            "\"<15261.36209.358846.118674@anthem.python.org>\")");
}

TEST(CorpusTest, Msg05ReportWithDefaultsAndMessage) {
  // Part 2 has no header at all (RFC 2045 defaults); part 3 encapsulates
  // "From: nobody@python.org\n\nYadda yadda yadda\n" (43 octets, 3 lines).
  const ParsedMessage m = ParseMessage(Corpus("msg_05.txt"), Limits{});
  const std::string yadda = "NIL NIL \"7BIT\" 18 1";
  EXPECT_EQ(
      RenderBodyStructure(m.body, false),
      "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") " + yadda +
          ")(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") " + yadda +
          ")(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 43 (NIL NIL ((NIL NIL \"nobody\" "
          "\"python.org\")) ((NIL NIL \"nobody\" \"python.org\")) ((NIL NIL \"nobody\" "
          "\"python.org\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") " +
          yadda + ") 3) \"report\")");
  // "From: foo" has no domain; a NIL host would read as a group marker.
  EXPECT_EQ(m.envelope.from[0].host, "MISSING_DOMAIN");
}

TEST(CorpusTest, Msg11TopLevelMessageRfc822) {
  // Body: "Subject: An enclosed message\n\nHere is the body of the message.\n" = 29 + 1 + 33.
  const ParsedMessage m = ParseMessage(Corpus("msg_11.txt"), Limits{});
  EXPECT_EQ(RenderBodyStructure(m.body, true),
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 63 (NIL \"An enclosed message\" NIL NIL "
            "NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
            "\"7BIT\" 33 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)");
}

TEST(CorpusTest, Msg15NestedMultipartReusingTheBoundary) {
  const std::string raw = Corpus("msg_15.txt");
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_EQ(
      RenderBodyStructure(m.body, false),
      "(((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\") NIL NIL \"quoted-printable\" 20 1)"
      "(\"text\" \"html\" (\"charset\" \"ISO-8859-1\") NIL NIL \"quoted-printable\" 98 9) "
      "\"alternative\")(\"image\" \"gif\" (\"name\" \"xx.gif\" \"x-mac-creator\" \"6F676C65\" "
      "\"x-mac-type\" \"47494666\") NIL NIL \"base64\" 35) \"mixed\")");
  const auto text = SectionRange(m, "1.1");
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(raw.substr(text->first, text->second - text->first), "Some removed test. \n");
}

TEST(CorpusTest, Msg29Rfc2231ContinuationsInBodystructure) {
  const ParsedMessage m = ParseMessage(Corpus("msg_29.txt"), Limits{});
  EXPECT_EQ(RenderBodyStructure(m.body, true),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"title\" \"This is even more "
            "***fun*** isn't it!\") NIL NIL \"7bit\" 37 6 NIL NIL NIL NIL)");
}

TEST(CorpusTest, Msg33Rfc2231EncodedBoundary) {
  const ParsedMessage m = ParseMessage(Corpus("msg_33.txt"), Limits{});
  EXPECT_EQ(RenderBodyStructure(m.body, true),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"quoted-printable\" 7 1 NIL "
            "(\"inline\" NIL) NIL NIL)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
            "\"7BIT\" 7 1 NIL (\"inline\" NIL) NIL NIL) \"signed\" (\"micalg\" \"pgp-md5\" "
            "\"protocol\" \"application/pgp-signature\" \"boundary\" \"EeQfGwPcQSOJBaQU\") "
            "(\"inline\" NIL) NIL NIL)");
}

TEST(CorpusTest, Msg36GroupAndExternalBody) {
  const ParsedMessage m = ParseMessage(Corpus("msg_36.txt"), Limits{});
  EXPECT_EQ(
      RenderBodyStructure(m.body, false),
      "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 1)((\"Message\" "
      "\"External-body\" (\"access-type\" \"mail-server\" \"server\" \"mailserv@ietf.org\") NIL "
      "NIL \"7BIT\" 133)(\"Message\" \"External-body\" (\"name\" \"draft-ietf-mboned-mix-00.txt\" "
      "\"site\" \"ftp.ietf.org\" \"access-type\" \"anon-ftp\" \"directory\" \"internet-drafts\") "
      "NIL NIL \"7BIT\" 68) \"Alternative\") \"Mixed\")");
  // "To: IETF-Announce:;" is an empty group.
  EXPECT_NE(RenderEnvelope(m.envelope).find("((NIL NIL \"IETF-Announce\" NIL)(NIL NIL NIL NIL))"),
            std::string::npos);
}

TEST(CorpusTest, Msg39ThreeLevelsShareOneBoundary) {
  const ParsedMessage m = ParseMessage(Corpus("msg_39.txt"), Limits{});
  const auto patch = [](int n, int id) {
    return "(\"application\" \"octet-stream\" NIL \"<20592.1022586929." + std::to_string(id) +
           "@example.com>\" \"patch" + std::to_string(n) + "\" \"base64\" 4)";
  };
  const auto alt = [&](int a, int id_a, int b, int id_b) {
    return "(" + patch(a, id_a) + patch(b, id_b) + " \"alternative\")";
  };
  EXPECT_EQ(RenderBodyStructure(m.body, false),
            "((" + alt(1, 3, 2, 4) + alt(3, 7, 4, 8) + alt(5, 11, 6, 12) +
                " \"mixed\")(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
                "\"<20592.1022586929.15@example.com>\" NIL \"7BIT\" 50 2) \"mixed\")");
}

TEST(CorpusTest, Msg42EmptyEncapsulatedMultipart) {
  // The encapsulated multipart has only a close delimiter: no parts, so text/plain of
  // "--BBB--\n" (8 octets); the message/rfc822 body is 102 octets in 5 lines.
  const ParsedMessage m = ParseMessage(Corpus("msg_42.txt"), Limits{});
  EXPECT_EQ(RenderBodyStructure(m.body, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)(\"message\" "
            "\"rfc822\" NIL NIL NIL \"7BIT\" 102 (NIL NIL ((NIL NIL \"webmaster\" \"python.org\")) "
            "((NIL NIL \"webmaster\" \"python.org\")) ((NIL NIL \"webmaster\" \"python.org\")) "
            "((NIL NIL \"zzz\" \"example.com\")) NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
            "\"US-ASCII\") NIL NIL \"7BIT\" 8 1) 5) \"mixed\")");
}

// ---- Hostile input.

TEST(MessageTest, HundredThousandNestedMultipartsHitTheDepthLimit) {
  std::string raw;
  for (int i = 0; i < 100000; ++i) {
    // "=_7_=" is no prefix of "=_71_=": each delimiter matches only its own multipart.
    const std::string b = "=_" + std::to_string(i) + "_=";
    raw += "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.parts.size(), 33u);  // depths 0..32; the part at depth 32 is opaque
  CheckInvariants(raw, m);
}

TEST(MessageTest, NestedMultipartsWithOneBoundaryHitTheLimits) {
  std::string raw;
  for (int i = 0; i < 100000; ++i) raw += "Content-Type: multipart/mixed; boundary=b\n\n--b\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_TRUE(m.truncated);
  EXPECT_LE(m.parts.size(), Limits{}.max_parts);
  CheckInvariants(raw, m);
}

TEST(MessageTest, DeepMessageRfc822NestingHitsTheDepthLimit) {
  std::string raw;
  for (int i = 0; i < 100000; ++i) raw += "Content-Type: message/rfc822\n\n";
  raw += "Subject: innermost\n\nbody\n";
  const ParsedMessage m = ParseMessage(raw, Limits{.max_depth = 8});
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.parts.size(), 9u);
  CheckInvariants(raw, m);
}

TEST(MessageTest, DepthLimitIsClampedToTheSupportedMaximum) {
  std::string raw;
  for (int i = 0; i < 5000; ++i) raw += "Content-Type: message/rfc822\n\n";
  const ParsedMessage m = ParseMessage(raw, Limits{.max_depth = 1000000});
  EXPECT_EQ(m.parts.size(), kMaxSupportedDepth + 1);
  CheckInvariants(raw, m);
}

TEST(MessageTest, PartLimitStopsAddingParts) {
  std::string raw = "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 30000; ++i) raw += "--b\n\nx\n";
  raw += "--b--\n";
  const ParsedMessage m = ParseMessage(raw, Limits{.max_parts = 100});
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.parts.size(), 100u);
  CheckInvariants(raw, m);
}

TEST(MessageTest, TenMegabyteHeaderLine) {
  const std::string raw = "Subject: " + std::string(10 << 20, 'a') + "\r\nFrom: a@b\r\n\r\nbody";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_TRUE(m.truncated);
  EXPECT_FALSE(m.envelope.subject.has_value());
  EXPECT_EQ(m.body.size, 4u);
  CheckInvariants(raw, m);
  // The same line without any line break at all.
  const std::string unbroken = "X: " + std::string(10 << 20, 'b');
  const ParsedMessage u = ParseMessage(unbroken, Limits{});
  EXPECT_EQ(u.body.size, 0u);
  CheckInvariants(unbroken, u);
}

TEST(MessageTest, ManyHeaderFieldsHitTheFieldLimit) {
  std::string raw;
  for (int i = 0; i < 20000; ++i) raw += "X: y\n";
  raw += "Subject: late\n\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.headers().size(), Limits{}.max_headers);
  CheckInvariants(raw, m);
}

TEST(MessageTest, UnterminatedQuotesAndComments) {
  const std::string raw =
      "From: \"Unterminated <a@b>\nTo: x@y (unterminated\n"
      "Content-Type: multipart/mixed (comment; boundary=\"abc\n\n--abc\n\npart\n";
  const ParsedMessage m = ParseMessage(raw, Limits{});
  CheckInvariants(raw, m);
  const ParsedMessage q =
      ParseMessage("Content-Type: multipart/mixed; boundary=\"abc\n\n--abc\n\npart\n", Limits{});
  ASSERT_TRUE(q.body.IsMultipart());  // the value runs to the end of the field
  EXPECT_EQ(q.body.children.size(), 1u);
}

TEST(MessageTest, NulBytesAreData) {
  constexpr char kRaw[] =
      "Subject: a\0b\nContent-Type: multipart/mixed; "
      "boundary=\"x\0y\"\n\n--x\0y\n\n\0\0\n--x\0y--\n";
  const std::string raw(kRaw, sizeof(kRaw) - 1);
  const ParsedMessage m = ParseMessage(raw, Limits{});
  CheckInvariants(raw, m);
  ASSERT_TRUE(m.body.IsMultipart());
  EXPECT_EQ(m.body.children[0].size, 2u);
  EXPECT_EQ(RenderEnvelope(m.envelope).substr(0, 13),
            "(NIL {3}\r\na\x80"
            "b");
}

TEST(MessageTest, GarbageNeverBreaksTheInvariants) {
  // A deterministic byte soup made of the characters MIME cares about.
  constexpr char kAlphabet[] = "-\r\n:;=\"()<>@,\\ \tabX*'%?\x80\0";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  uint32_t state = 12345;
  for (int round = 0; round < 300; ++round) {
    std::string raw =
        "Content-Type: multipart/mixed; boundary=ab\nFrom: a@b\n\n--ab\nContent-Type: message/"
        "rfc822\n\n";
    const size_t len = 50 + round * 7;
    for (size_t i = 0; i < len; ++i) {
      state = state * 1103515245 + 12345;
      raw.push_back(alphabet[(state >> 16) % alphabet.size()]);
      if ((state >> 8) % 17 == 0) raw += "\n--ab";
    }
    const ParsedMessage m = ParseMessage(raw, Limits{});
    CheckInvariants(raw, m);
    if (testing::Test::HasFailure()) FAIL() << "round " << round;
  }
}

}  // namespace
}  // namespace tern::mime
