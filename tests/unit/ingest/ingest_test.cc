#include "services/ingest/ingest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tern::ingest {
namespace {

#ifndef TERN_TESTDATA_DIR
#define TERN_TESTDATA_DIR "/work/shared/testdata"
#endif

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using Range = std::optional<std::pair<size_t, size_t>>;

// Every range metad will serve from the cached offsets must equal what the MIME library
// computes for the same section spec (RFC 3501 6.4.5).
void CheckOffsetsAgreeWithSections(const std::string& raw, const std::string& name) {
  const mime::ParsedMessage parsed = mime::ParseMessage(raw, mime::Limits{});
  const metadata::v1::ParsedMessage proto = ToProto(parsed, raw);
  ASSERT_GE(proto.part_offsets_size(), 2) << name;
  for (const metadata::v1::PartOffsets& p : proto.part_offsets()) {
    ASSERT_LE(p.header_start(), p.body_start()) << name << " " << p.section();
    ASSERT_LE(p.body_start(), p.end()) << name << " " << p.section();
    ASSERT_LE(p.end(), raw.size()) << name << " " << p.section();
    const std::string& s = p.section();
    if (s.empty()) {
      EXPECT_EQ(mime::SectionRange(parsed, "HEADER"), Range({0, p.body_start()})) << name;
      EXPECT_EQ(mime::SectionRange(parsed, "TEXT"), Range({p.body_start(), p.end()})) << name;
      continue;
    }
    EXPECT_EQ(mime::SectionRange(parsed, s), Range({p.body_start(), p.end()})) << name << " " << s;
    if (p.has_message_body_start()) {
      EXPECT_EQ(mime::SectionRange(parsed, s + ".HEADER"),
                Range({p.body_start(), p.message_body_start()}))
          << name << " " << s;
      EXPECT_EQ(mime::SectionRange(parsed, s + ".TEXT"), Range({p.message_body_start(), p.end()}))
          << name << " " << s;
    }
  }
}

TEST(IngestTest, OffsetsAgreeWithSectionRangesOnTheWholeCorpus) {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(TERN_TESTDATA_DIR) / "mime-corpus")) {
    if (entry.path().extension() != ".txt") continue;
    CheckOffsetsAgreeWithSections(ReadFile(entry.path()), entry.path().filename().string());
    ++seen;
  }
  EXPECT_EQ(seen, 48);
}

TEST(IngestTest, NestedMessageGetsEnvelopeStructureAndHeaderCache) {
  const std::string raw =
      "From: Alice <alice@example.test>\r\n"
      "To: bob@example.test\r\n"
      "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n"
      "X-Other: not cached\r\n"
      "Content-Type: multipart/mixed; boundary=b1\r\n"
      "\r\n"
      "--b1\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "hello\r\n"
      "--b1\r\n"
      "Content-Type: message/rfc822\r\n"
      "\r\n"
      "Subject: inner\r\n"
      "\r\n"
      "inner body\r\n"
      "--b1--\r\n";
  const metadata::v1::ParsedMessage p = Ingest(raw);
  EXPECT_EQ(p.envelope().subject(), "=?UTF-8?Q?caf=C3=A9?=");  // raw, the client decodes
  ASSERT_EQ(p.envelope().from_size(), 1);
  EXPECT_EQ(p.envelope().from(0).name(), "Alice");
  EXPECT_EQ(p.envelope().from(0).host(), "example.test");
  EXPECT_EQ(p.envelope().sender(0).mailbox(), "alice");  // defaults to From (RFC 3501)
  EXPECT_EQ(p.body_structure().parts_size(), 2);
  EXPECT_EQ(p.body_structure().parts(1).envelope().subject(), "inner");
  std::vector<std::string> sections;
  for (const auto& o : p.part_offsets()) sections.push_back(o.section());
  EXPECT_EQ(sections, (std::vector<std::string>{"", "1", "2", "2.1"}));
  ASSERT_EQ(p.cached_headers_size(), 4);  // From, To, Subject, Content-Type
  EXPECT_EQ(p.cached_headers(0).raw(), "From: Alice <alice@example.test>\r\n");
  CheckOffsetsAgreeWithSections(raw, "nested");
}

// RFC 1939 11: POP3 reports every line ending as CRLF, so a message stored with bare LF (an
// IMAP APPEND from a Unix client) has a larger POP3 size than its stored size.
TEST(IngestTest, CrlfSizeCountsLineEndingsAsCrlf) {
  EXPECT_EQ(Ingest("Subject: a\r\n\r\nbody\r\n").crlf_size(), 20u);
  EXPECT_EQ(Ingest("Subject: a\n\nbody\n").crlf_size(), 20u);
  // A last line without a line ending gets the CRLF the server sends.
  EXPECT_EQ(Ingest("Subject: a\r\n\r\nbody").crlf_size(), 20u);
  // Mixed: a bare CR is a line ending too.
  EXPECT_EQ(Ingest("Subject: a\r\rbody\r\n").crlf_size(), 20u);
}

}  // namespace
}  // namespace tern::ingest
