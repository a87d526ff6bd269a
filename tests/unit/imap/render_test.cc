#include "services/imap/server/render.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "services/ingest/ingest.h"
#include "services/mime/imap_render.h"
#include "services/mime/message.h"

namespace tern::imap::server {
namespace {

#ifndef TERN_TESTDATA_DIR
#define TERN_TESTDATA_DIR "/work/shared/testdata"
#endif

namespace v1 = metadata::v1;

std::string Envelope(const v1::Envelope& envelope) {
  std::string out;
  AppendEnvelope(out, envelope);
  return out;
}

std::string Body(const v1::BodyStructure& body, bool extensible) {
  std::string out;
  AppendBodyStructure(out, body, extensible);
  return out;
}

// ---- A syntax checker for the rendered data (RFC 3501 9: envelope, body).

// One value of the rendered data.
struct Node {
  enum class Kind { kNil, kNumber, kString, kList };
  Kind kind = Kind::kNil;
  std::string text;  // kString: the unquoted bytes; kNumber: the digits
  std::vector<Node> items;
};

// Reads nil / number / quoted / literal / parenthesized lists. Literal lengths must match
// the bytes that follow, quoted strings may only hold TEXT-CHARs with \" and \\ escaped,
// lists are never empty (the grammar writes NIL instead), and list items are separated by
// one SP except between two lists (env-from's "(" 1*address ")" and body-type-mpart's 1*body
// have none).
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  bool ReadAll(Node& node) {
    if (!Value(node, 0)) return false;
    return pos_ == s_.size() || Fail("trailing bytes");
  }

  const std::string& error() const { return error_; }

 private:
  bool Fail(const std::string& what) {
    error_ = what + " at offset " + std::to_string(pos_);
    return false;
  }

  bool Value(Node& node, int depth) {
    if (depth > 200) return Fail("too deep");
    if (pos_ >= s_.size()) return Fail("value expected");
    const char c = s_[pos_];
    if (c == '(') return List(node, depth);
    if (c == '"') return Quoted(node);
    if (c == '{') return Literal(node);
    if (s_.substr(pos_, 3) == "NIL") {
      pos_ += 3;
      node.kind = Node::Kind::kNil;
      return true;
    }
    if (c >= '0' && c <= '9') {
      node.kind = Node::Kind::kNumber;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
        node.text.push_back(s_[pos_++]);
      return true;
    }
    return Fail("unexpected byte");
  }

  bool List(Node& node, int depth) {
    node.kind = Node::Kind::kList;
    ++pos_;  // (
    while (true) {
      if (pos_ >= s_.size()) return Fail("unterminated list");
      if (s_[pos_] == ')') {
        if (node.items.empty()) return Fail("empty list");
        ++pos_;
        return true;
      }
      if (!node.items.empty()) {
        if (s_[pos_] == ' ') {
          ++pos_;
        } else if (!(s_[pos_] == '(' && node.items.back().kind == Node::Kind::kList)) {
          return Fail("separator expected");
        }
      }
      node.items.emplace_back();
      if (!Value(node.items.back(), depth + 1)) return false;
    }
  }

  bool Quoted(Node& node) {
    node.kind = Node::Kind::kString;
    ++pos_;  // "
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\\')) return Fail("bad escape");
        node.text.push_back(s_[pos_++]);
        continue;
      }
      if (c == 0 || c == '\r' || c == '\n' || c >= 0x80) return Fail("not a TEXT-CHAR");
      node.text.push_back(static_cast<char>(c));
    }
    return Fail("unterminated quoted string");
  }

  bool Literal(Node& node) {
    node.kind = Node::Kind::kString;
    ++pos_;  // {
    size_t n = 0;
    const size_t digits = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      n = n * 10 + static_cast<size_t>(s_[pos_++] - '0');
    }
    if (pos_ == digits || s_.substr(pos_, 3) != "}\r\n") return Fail("bad literal header");
    pos_ += 3;
    if (s_.size() - pos_ < n) return Fail("literal longer than the data");
    node.text = std::string(s_.substr(pos_, n));
    if (node.text.find('\0') != std::string::npos) return Fail("NUL in literal");  // CHAR8
    pos_ += n;
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

bool IsString(const Node& n) { return n.kind == Node::Kind::kString; }
bool IsNString(const Node& n) { return IsString(n) || n.kind == Node::Kind::kNil; }
bool IsNumber(const Node& n) { return n.kind == Node::Kind::kNumber; }
bool IsList(const Node& n) { return n.kind == Node::Kind::kList; }

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return AsciiLower(x) == AsciiLower(y); });
}

void CheckEnvelopeShape(const Node& n) {
  ASSERT_TRUE(IsList(n));
  ASSERT_EQ(n.items.size(), 10u);
  for (size_t i : {0, 1, 8, 9}) EXPECT_TRUE(IsNString(n.items[i])) << i;
  for (size_t i = 2; i < 8; ++i) {
    const Node& list = n.items[i];
    if (list.kind == Node::Kind::kNil) continue;
    ASSERT_TRUE(IsList(list)) << i;
    for (const Node& address : list.items) {
      ASSERT_TRUE(IsList(address));
      ASSERT_EQ(address.items.size(), 4u);
      for (const Node& field : address.items) EXPECT_TRUE(IsNString(field));
    }
  }
}

void CheckParamsShape(const Node& n) {
  if (n.kind == Node::Kind::kNil) return;
  ASSERT_TRUE(IsList(n));
  EXPECT_EQ(n.items.size() % 2, 0u);
  for (const Node& s : n.items) EXPECT_TRUE(IsString(s));
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc starting at items[i].
void CheckDispositionLanguageLocation(const std::vector<Node>& items, size_t i) {
  ASSERT_EQ(items.size(), i + 3);
  if (items[i].kind != Node::Kind::kNil) {
    ASSERT_TRUE(IsList(items[i]));
    ASSERT_EQ(items[i].items.size(), 2u);
    EXPECT_TRUE(IsString(items[i].items[0]));
    CheckParamsShape(items[i].items[1]);
  }
  if (IsList(items[i + 1])) {
    for (const Node& tag : items[i + 1].items) EXPECT_TRUE(IsString(tag));
  } else {
    EXPECT_TRUE(IsNString(items[i + 1]));
  }
  EXPECT_TRUE(IsNString(items[i + 2]));
}

void CheckBodyShape(const Node& n, bool extensible) {
  ASSERT_TRUE(IsList(n));
  ASSERT_FALSE(n.items.empty());
  if (IsList(n.items[0])) {  // body-type-mpart
    size_t i = 0;
    while (i < n.items.size() && IsList(n.items[i])) {
      CheckBodyShape(n.items[i], extensible);
      ++i;
    }
    ASSERT_LT(i, n.items.size());
    EXPECT_TRUE(IsString(n.items[i]));  // media-subtype
    ++i;
    if (!extensible) {
      EXPECT_EQ(n.items.size(), i);
      return;
    }
    ASSERT_LT(i, n.items.size());
    CheckParamsShape(n.items[i]);
    CheckDispositionLanguageLocation(n.items, i + 1);
    return;
  }
  ASSERT_GE(n.items.size(), 7u);
  ASSERT_TRUE(IsString(n.items[0]));
  ASSERT_TRUE(IsString(n.items[1]));
  CheckParamsShape(n.items[2]);
  EXPECT_TRUE(IsNString(n.items[3]));
  EXPECT_TRUE(IsNString(n.items[4]));
  EXPECT_TRUE(IsString(n.items[5]));
  EXPECT_TRUE(IsNumber(n.items[6]));
  size_t i = 7;
  const std::string& type = n.items[0].text;
  if (EqualsIgnoreCase(type, "message") && EqualsIgnoreCase(n.items[1].text, "rfc822")) {
    ASSERT_GE(n.items.size(), 10u);
    CheckEnvelopeShape(n.items[7]);
    CheckBodyShape(n.items[8], extensible);
    EXPECT_TRUE(IsNumber(n.items[9]));
    i = 10;
  } else if (EqualsIgnoreCase(type, "text")) {
    ASSERT_GE(n.items.size(), 8u);
    EXPECT_TRUE(IsNumber(n.items[7]));
    i = 8;
  }
  if (!extensible) {
    EXPECT_EQ(n.items.size(), i);
    return;
  }
  ASSERT_LT(i, n.items.size());
  EXPECT_TRUE(IsNString(n.items[i]));  // body-fld-md5
  CheckDispositionLanguageLocation(n.items, i + 1);
}

void ExpectValidEnvelope(const std::string& rendered) {
  Node node;
  Reader reader(rendered);
  ASSERT_TRUE(reader.ReadAll(node)) << reader.error() << " in " << rendered;
  CheckEnvelopeShape(node);
}

void ExpectValidBody(const std::string& rendered, bool extensible) {
  Node node;
  Reader reader(rendered);
  ASSERT_TRUE(reader.ReadAll(node)) << reader.error() << " in " << rendered;
  CheckBodyShape(node, extensible);
}

TEST(RenderTest, SyntaxCheckerRejectsBrokenData) {
  for (const char* bad : {"(NIL", "(NIL))", "()", "(NIL  NIL)", "({3}\r\nab)", "({2}\r\nab",
                          "(\"a\r\")", "(\"a\\b\")", "(\"a\"NIL)", "(NIL)(NIL)"}) {
    Node node;
    Reader reader(bad);
    EXPECT_FALSE(reader.ReadAll(node)) << bad;
  }
  Node node;
  Reader reader("((NIL NIL \"a\" \"b\")(NIL NIL {1}\r\nc \"d\") 12)");
  ASSERT_TRUE(reader.ReadAll(node)) << reader.error();
  ASSERT_EQ(node.items.size(), 3u);
  EXPECT_EQ(node.items[1].items[2].text, "c");
}

// ---- The corpus: the proto path must render exactly what the MIME library renders.

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::filesystem::path> CorpusFiles() {
  const std::filesystem::path dir = std::filesystem::path(TERN_TESTDATA_DIR) / "mime-corpus";
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(dir)) return files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("msg_") && name.ends_with(".txt")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Bare LF -> CRLF, as the message arrives over IMAP APPEND or LMTP.
std::string ToCrlf(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
    out.push_back(s[i]);
  }
  return out;
}

// metad stores the proto serialized; render what comes back, so field presence (proto3
// optional) is exercised through the wire format too.
v1::ParsedMessage ThroughTheWire(const v1::ParsedMessage& message) {
  v1::ParsedMessage copy;
  EXPECT_TRUE(copy.ParseFromString(message.SerializeAsString()));
  return copy;
}

void ExpectCorpusMessageSameAsMime(std::string_view raw) {
  const mime::ParsedMessage parsed = mime::ParseMessage(raw, mime::Limits{});
  const v1::ParsedMessage proto = ThroughTheWire(ingest::Ingest(raw));
  const std::string envelope = Envelope(proto.envelope());
  EXPECT_EQ(envelope, mime::RenderEnvelope(parsed.envelope));
  ExpectValidEnvelope(envelope);
  for (bool extensible : {false, true}) {
    SCOPED_TRACE(extensible ? "BODYSTRUCTURE" : "BODY");
    const std::string body = Body(proto.body_structure(), extensible);
    EXPECT_EQ(body, mime::RenderBodyStructure(parsed.body, extensible));
    ExpectValidBody(body, extensible);
  }
}

TEST(RenderTest, CorpusRendersAsTheMimeLibrary) {
  const std::vector<std::filesystem::path> files = CorpusFiles();
  ASSERT_EQ(files.size(), 48u) << TERN_TESTDATA_DIR;
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const std::string raw = ReadFile(path);
    ExpectCorpusMessageSameAsMime(raw);
    ExpectCorpusMessageSameAsMime(ToCrlf(raw));
  }
}

// Structures ParseMessage does not produce from real mail but a proto can carry: the
// conversion of a hand-made mime structure renders as mime renders it.
void ExpectSameAsMime(const mime::ParsedMessage& parsed) {
  const v1::ParsedMessage proto = ThroughTheWire(ingest::ToProto(parsed, ""));
  EXPECT_EQ(Envelope(proto.envelope()), mime::RenderEnvelope(parsed.envelope));
  ExpectValidEnvelope(Envelope(proto.envelope()));
  for (bool extensible : {false, true}) {
    const std::string body = Body(proto.body_structure(), extensible);
    EXPECT_EQ(body, mime::RenderBodyStructure(parsed.body, extensible)) << extensible;
    ExpectValidBody(body, extensible);
  }
}

// ---- Hand-written protos.

TEST(RenderTest, EmptyEnvelopeIsAllNil) {
  EXPECT_EQ(Envelope(v1::Envelope{}), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  v1::Envelope e;
  e.set_subject("");  // present but empty: "", not NIL
  e.set_message_id("<a@b>");
  EXPECT_EQ(Envelope(e), "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL \"<a@b>\")");
}

TEST(RenderTest, GroupAddresses) {
  v1::Envelope e;
  e.set_date("Mon, 1 Jan 2024 00:00:00 +0000");
  v1::Address* group = e.add_to();
  group->set_mailbox("Friends");
  v1::Address* joe = e.add_to();
  joe->set_name("Joe \"Q\" Public");
  joe->set_mailbox("joe");
  joe->set_host("x.org");
  e.add_to();  // group end: every field absent
  v1::Address* c = e.add_to();
  c->set_mailbox("c");
  c->set_host("z.org");
  v1::Address* empty_group = e.add_cc();
  empty_group->set_mailbox("undisclosed-recipients");
  e.add_cc();
  const std::string rendered = Envelope(e);
  EXPECT_EQ(rendered,
            "(\"Mon, 1 Jan 2024 00:00:00 +0000\" NIL NIL NIL NIL "
            "((NIL NIL \"Friends\" NIL)(\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"x.org\")"
            "(NIL NIL NIL NIL)(NIL NIL \"c\" \"z.org\")) "
            "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)");
  ExpectValidEnvelope(rendered);

  mime::ParsedMessage m;
  m.envelope.to = mime::ParseAddressList(
      "Friends: \"Joe \\\"Q\\\" Public\" <joe@x.org>, b@y.org;, c@z.org, undisclosed:;");
  ExpectSameAsMime(m);
}

v1::BodyStructure TextPart(std::string_view subtype, uint64_t octets, uint64_t lines) {
  v1::BodyStructure part;
  part.set_type("text");
  part.set_subtype(std::string(subtype));
  v1::BodyParameter* charset = part.add_parameters();
  charset->set_name("charset");
  charset->set_value("utf-8");
  part.set_encoding("7bit");
  part.set_size_octets(octets);
  part.set_lines(lines);
  return part;
}

TEST(RenderTest, NestedMessageRfc822) {
  v1::BodyStructure root;
  root.set_type("multipart");
  root.set_subtype("mixed");
  *root.add_parts() = TextPart("plain", 7, 1);
  v1::BodyStructure* attached = root.add_parts();
  attached->set_type("message");
  attached->set_subtype("rfc822");
  attached->set_encoding("7BIT");
  attached->set_size_octets(120);
  attached->set_lines(6);
  attached->mutable_envelope()->set_subject("inner");
  v1::Address* from = attached->mutable_envelope()->add_from();
  from->set_mailbox("a");
  from->set_host("b.c");
  *attached->mutable_envelope()->mutable_sender() = attached->envelope().from();
  *attached->mutable_envelope()->mutable_reply_to() = attached->envelope().from();
  // The encapsulated message is itself multipart.
  v1::BodyStructure* inner = attached->mutable_body();
  inner->set_type("MULTIPART");
  inner->set_subtype("ALTERNATIVE");
  *inner->add_parts() = TextPart("plain", 2, 1);
  *inner->add_parts() = TextPart("html", 9, 1);
  attached->mutable_disposition()->set_type("attachment");

  const std::string body = Body(root, false);
  EXPECT_EQ(body,
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 7 1)"
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 120 "
            "(NIL \"inner\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
            "((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL) "
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 2 1)"
            "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 1) \"ALTERNATIVE\") 6) "
            "\"mixed\")");
  ExpectValidBody(body, false);

  const std::string structure = Body(root, true);
  EXPECT_EQ(structure,
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL)"
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 120 "
            "(NIL \"inner\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
            "((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL) "
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 2 1 NIL NIL NIL NIL)"
            "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 1 NIL NIL NIL NIL) "
            "\"ALTERNATIVE\" NIL NIL NIL NIL) 6 NIL (\"attachment\" NIL) NIL NIL) "
            "\"mixed\" NIL NIL NIL NIL)");
  ExpectValidBody(structure, true);
}

TEST(RenderTest, MessageRfc822WithoutEnvelopeOrBody) {
  v1::BodyStructure part;
  part.set_type("MESSAGE");
  part.set_subtype("RFC822");
  part.set_encoding("7BIT");
  part.set_size_octets(0);
  part.set_lines(0);
  EXPECT_EQ(Body(part, false),
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 0 "
            "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 0)");
  ExpectValidBody(Body(part, true), true);

  mime::ParsedMessage m;
  m.body.type = "message";
  m.body.subtype = "rfc822";
  ExpectSameAsMime(m);
  m.body.envelope.emplace();
  m.body.envelope->subject = "no body";
  m.body.children.emplace_back();
  m.body.children[0].type = "TEXT";
  m.body.children[0].subtype = "PLAIN";
  ExpectSameAsMime(m);
}

TEST(RenderTest, MultipartExtensionData) {
  v1::BodyStructure root;
  root.set_type("multipart");
  root.set_subtype("alternative");
  v1::BodyParameter* boundary = root.add_parameters();
  boundary->set_name("boundary");
  boundary->set_value("b");
  root.mutable_disposition()->set_type("inline");
  v1::BodyParameter* filename = root.mutable_disposition()->add_parameters();
  filename->set_name("filename");
  filename->set_value("x y.txt");
  root.add_language("en");
  root.add_language("de");
  root.set_location("http://example.com/x");
  v1::BodyStructure* image = root.add_parts();
  image->set_type("image");
  image->set_subtype("png");
  image->set_id("<id@x>");
  image->set_description("a picture");
  image->set_encoding("base64");
  image->set_size_octets(4);
  image->set_lines(99);  // not sent: only text/* and message/rfc822 have body-fld-lines
  image->set_md5("Q2hlY2sgSW50ZWdyaXR5IQ==");
  image->add_language("fr");

  EXPECT_EQ(Body(root, false),
            "((\"image\" \"png\" NIL \"<id@x>\" \"a picture\" \"base64\" 4) \"alternative\")");
  const std::string structure = Body(root, true);
  EXPECT_EQ(structure,
            "((\"image\" \"png\" NIL \"<id@x>\" \"a picture\" \"base64\" 4 "
            "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL (\"fr\") NIL) \"alternative\" (\"boundary\" \"b\") "
            "(\"inline\" (\"filename\" \"x y.txt\")) (\"en\" \"de\") \"http://example.com/x\")");
  ExpectValidBody(structure, true);
}

TEST(RenderTest, ChildlessMultipartGetsPlaceholderPart) {
  v1::BodyStructure root;
  root.set_type("multipart");
  root.set_subtype("mixed");
  EXPECT_EQ(Body(root, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"mixed\")");
  EXPECT_EQ(Body(root, true),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) "
            "\"mixed\" NIL NIL NIL NIL)");

  mime::ParsedMessage m;
  m.body.type = "Multipart";
  m.body.subtype = "Mixed";
  m.body.params = {{"boundary", "zz"}};
  ExpectSameAsMime(m);
}

TEST(RenderTest, TextWithoutLineCountSendsZero) {
  v1::BodyStructure part = TextPart("plain", 3, 0);
  part.clear_lines();
  EXPECT_EQ(Body(part, false), "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 3 0)");
}

TEST(RenderTest, EightBitCrLfAndNulBecomeLiterals) {
  mime::ParsedMessage m;
  m.envelope.subject = std::string("a\0b", 3);
  m.envelope.date = "caf\xC3\xA9";
  m.envelope.message_id = "tab\tand \"quote\" \\";
  m.envelope.from = {mime::Address{.name = "two\r\nlines", .mailbox = "x", .host = "y"}};
  m.body.type = "application";
  m.body.subtype = "octet-stream";
  m.body.params = {{"name", "\xE2\x82\xAC.pdf"}};
  m.body.description = "";
  m.body.md5 = "x";
  ExpectSameAsMime(m);

  v1::Envelope e;
  e.set_subject(std::string("a\0b", 3));
  e.set_date("caf\xC3\xA9");
  e.set_message_id("tab\tand \"quote\" \\");
  // A literal may not carry NUL (RFC 3501 9 CHAR8): it is sent as 0x80, as mime does.
  EXPECT_EQ(Envelope(e),
            "({5}\r\ncaf\xC3\xA9 {3}\r\na\x80"
            "b NIL NIL NIL NIL NIL NIL NIL \"tab\tand \\\"quote\\\" \\\\\")");
}

// render.cc keeps mime's quoting rule (see there), which differs from protocol::AppendString
// for controls other than CR/LF/NUL and for strings over 1024 bytes.
TEST(RenderTest, QuotesLikeMimeForControlsAndLongStrings) {
  mime::ParsedMessage m;
  m.envelope.subject = "folded\tsubject";
  m.envelope.in_reply_to = std::string(2000, 'x') + "\x7f\x01";
  m.body.type = "text";
  m.body.subtype = "plain";
  m.body.description = std::string(1025, 'd');
  ExpectSameAsMime(m);

  v1::Envelope e;
  e.set_subject("folded\tsubject");
  EXPECT_EQ(Envelope(e), "(NIL \"folded\tsubject\" NIL NIL NIL NIL NIL NIL NIL NIL)");
  e.set_subject(std::string(1500, 's'));
  EXPECT_EQ(Envelope(e),
            "(NIL \"" + std::string(1500, 's') + "\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

// All corpus structures side by side as the parts of one multipart (as when they are
// attached to one message): still valid BODY / BODYSTRUCTURE syntax.
TEST(RenderTest, CorpusStructuresNestInsideOneMultipart) {
  v1::BodyStructure root;
  root.set_type("multipart");
  root.set_subtype("mixed");
  for (const auto& path : CorpusFiles()) {
    *root.add_parts() = ingest::Ingest(ReadFile(path)).body_structure();
  }
  ASSERT_EQ(root.parts_size(), 48);
  ExpectValidBody(Body(root, false), false);
  ExpectValidBody(Body(root, true), true);
}

}  // namespace
}  // namespace tern::imap::server
