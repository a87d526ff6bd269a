#include "services/lmtp/protocol/trace.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/lmtp/protocol/command.h"

namespace tern::lmtp::protocol {
namespace {

absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TraceInfo Info() {
  return TraceInfo{
      .reverse_path = "alice@example.org",
      .helo = "client.example",
      .peer_ip = "192.0.2.1",
      .by = "mx.tern.example",
      .with = "LMTP",
      .id = "k3Jd9.1",
      .recipient = "bob@example.org",
      .time = Utc(2026, 11, 23, 16, 50, 0),
  };
}

// The physical lines of a header block, CRLF removed; a failure for a bare CR or LF or a
// missing final CRLF.
std::vector<std::string> Lines(std::string_view block) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < block.size()) {
    const size_t crlf = block.find("\r\n", start);
    if (crlf == std::string_view::npos) {
      ADD_FAILURE() << "header block does not end with CRLF";
      break;
    }
    const std::string line(block.substr(start, crlf - start));
    EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << "bare CR or LF";
    lines.push_back(line);
    start = crlf + 2;
  }
  return lines;
}

// The block with its folds undone (each fold replaced one space).
std::string Unfold(std::string_view block) {
  std::string out(block);
  for (size_t at = out.find("\r\n\t"); at != std::string::npos; at = out.find("\r\n\t", at)) {
    out.replace(at, 3, " ");
  }
  return out;
}

// The Received field written on one line, as the folded one must unfold to.
std::string Unfolded(const TraceInfo& info, std::string_view from_token, std::string_view literal) {
  std::string out = "Received: from " + std::string(from_token) + " (" + std::string(literal) +
                    ") by " + info.by + " (Tern) with " + info.with + " id " + info.id;
  if (info.recipient) out += " for <" + *info.recipient + ">";
  return out + "; " + Rfc5322Date(info.time);
}

// The shape every trace block must have (RFC 5322 2.1.1, 2.2.3): Return-Path then Received,
// continuation lines starting with a tab, lines at most 78 characters unless a single word is
// longer, never more than 998.
void CheckShape(std::string_view block) {
  const std::vector<std::string> lines = Lines(block);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0].substr(0, 14), "Return-Path: <");
  EXPECT_EQ(lines[0].back(), '>');
  EXPECT_EQ(lines[1].substr(0, 10), "Received: ");
  for (size_t i = 2; i < lines.size(); ++i) {
    ASSERT_FALSE(lines[i].empty());
    EXPECT_EQ(lines[i][0], '\t') << lines[i];
    EXPECT_NE(lines[i].find_first_not_of(" \t"), std::string::npos) << "whitespace-only line";
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    EXPECT_LE(line.size(), 998u);
    if (line.size() > 78) {
      // Folding could not help: the line holds one word after its start.
      const std::string rest = line.substr(i == 1 ? 10 : 1);
      EXPECT_EQ(rest.find(' '), std::string::npos) << "could have been folded: " << line;
    }
  }
}

TEST(LmtpTraceTest, Format) {
  const std::string block = TraceHeaders(Info());
  EXPECT_EQ(block,
            "Return-Path: <alice@example.org>\r\n"
            "Received: from client.example ([192.0.2.1]) by mx.tern.example (Tern)\r\n"
            "\twith LMTP id k3Jd9.1 for <bob@example.org>; Mon, 23 Nov 2026 16:50:00 +0000\r\n");
  CheckShape(block);
}

TEST(LmtpTraceTest, NullReversePath) {
  TraceInfo info = Info();
  info.reverse_path = "";
  EXPECT_EQ(Lines(TraceHeaders(info))[0], "Return-Path: <>");
}

// RFC 5321 4.1.3 / 4.4: TCP-info is an address literal, "IPv6:" tagged for IPv6.
TEST(LmtpTraceTest, Ipv6Literal) {
  TraceInfo info = Info();
  info.peer_ip = "2001:db8::1";
  const std::string block = TraceHeaders(info);
  EXPECT_NE(block.find("from client.example ([IPv6:2001:db8::1])"), std::string::npos) << block;
  EXPECT_EQ(Unfold(block.substr(block.find("Received:"))),
            Unfolded(info, "client.example", "[IPv6:2001:db8::1]") + "\r\n");
  CheckShape(block);
  info.peer_ip = "::ffff:192.0.2.1";
  EXPECT_NE(TraceHeaders(info).find("([IPv6:::ffff:192.0.2.1])"), std::string::npos);
}

// RFC 5321 7.2: no "for" clause unless there is exactly one recipient.
TEST(LmtpTraceTest, NoRecipient) {
  TraceInfo info = Info();
  info.recipient.reset();
  const std::string block = TraceHeaders(info);
  EXPECT_EQ(block.find(" for "), std::string::npos);
  EXPECT_NE(block.find("id k3Jd9.1; Mon, 23 Nov 2026"), std::string::npos) << block;
  CheckShape(block);
}

// Folding keeps the field's meaning: unfolding (CRLF TAB -> SP here, since each fold replaced
// one space) gives the one-line form back, for all sorts of lengths.
TEST(LmtpTraceTest, FoldingInvariants) {
  for (size_t helo_len = 1; helo_len < 140; helo_len += 7) {
    for (const std::string_view ip : {"192.0.2.1", "2001:db8:1234:5678:9abc:def0:1234:5678"}) {
      for (const bool one_recipient : {false, true}) {
        TraceInfo info = Info();
        info.helo = std::string(helo_len, 'h');
        info.peer_ip = std::string(ip);
        info.id = std::string(helo_len % 40 + 1, 'i');
        if (one_recipient) {
          info.recipient = std::string(helo_len % 60 + 1, 'r') + "@example.org";
        } else {
          info.recipient.reset();
        }
        const std::string block = TraceHeaders(info);
        SCOPED_TRACE(block);
        CheckShape(block);
        const std::string literal = ip.find(':') == std::string_view::npos
                                        ? "[" + std::string(ip) + "]"
                                        : "[IPv6:" + std::string(ip) + "]";
        EXPECT_EQ(Unfold(block.substr(block.find("Received:"))),
                  Unfolded(info, info.helo, literal) + "\r\n");
      }
    }
  }
}

// A long HELO and an IPv6 literal: the "from" clause is folded inside, not left at 100+.
TEST(LmtpTraceTest, LongClauseFoldedBetweenWords) {
  TraceInfo info = Info();
  info.helo = std::string(50, 'h') + ".example";
  info.peer_ip = "2001:db8:1234:5678:9abc:def0:1234:5678";
  const std::string block = TraceHeaders(info);
  for (const std::string& line : Lines(block)) {
    EXPECT_LE(line.size(), 78u) << line;
  }
  CheckShape(block);
}

// The HELO argument comes from the client: it is cut to a domain's length (so the line stays
// within 998 octets) and anything but a domain or literal's characters is replaced.
TEST(LmtpTraceTest, HeloSanitized) {
  TraceInfo info = Info();
  info.helo = std::string(2000, 'a');
  const std::string block = TraceHeaders(info);
  CheckShape(block);
  EXPECT_NE(Unfold(block).find("from " + std::string(255, 'a') + " ("), std::string::npos);
  EXPECT_EQ(block.find(std::string(256, 'a')), std::string::npos);

  info.helo = "bad host;name(x)";
  EXPECT_NE(Unfold(TraceHeaders(info)).find("from bad_host_name_x_ ("), std::string::npos);
  info.helo = "";
  EXPECT_NE(Unfold(TraceHeaders(info)).find("from unknown ("), std::string::npos);
  info.helo = "[192.0.2.1]";
  EXPECT_NE(Unfold(TraceHeaders(info)).find("from [192.0.2.1] ("), std::string::npos);
  info.helo = "[IPv6:2001:db8::1]";
  EXPECT_NE(Unfold(TraceHeaders(info)).find("from [IPv6:2001:db8::1] ("), std::string::npos);
}

// RFC 6531 3.7.3: U-labels in trace fields only in an SMTPUTF8 transaction.
TEST(LmtpTraceTest, NonAsciiHeloOnlyWithSmtputf8) {
  TraceInfo info = Info();
  info.helo = "m\xc3\xbcnchen.example";
  info.with = "LMTP";
  EXPECT_NE(TraceHeaders(info).find("from m__nchen.example ("), std::string::npos);
  info.with = "UTF8LMTP";
  EXPECT_NE(TraceHeaders(info).find("from m\xc3\xbcnchen.example ("), std::string::npos);
  info.helo = "\xff\xfe.example";
  EXPECT_NE(TraceHeaders(info).find("from __.example ("), std::string::npos);
  // A character cut at the length limit is dropped whole.
  info.helo = std::string(254, 'a') + "\xc3\xbc";
  const std::string block = TraceHeaders(info);
  EXPECT_NE(Unfold(block).find("from " + std::string(254, 'a') + " ("), std::string::npos);
  EXPECT_TRUE(ValidUtf8(block));
}

TEST(LmtpTraceTest, ControlCharactersNeverBreakTheField) {
  TraceInfo info = Info();
  info.reverse_path = "a\r\nX-Injected: 1@example.org";
  info.id = "id\r\n\tmore";
  info.recipient = "b\n@example.org";
  info.by = "host\r\nX: y";
  info.peer_ip = "192.0.2.1\r\n";
  const std::string block = TraceHeaders(info);
  const std::vector<std::string> lines = Lines(block);
  EXPECT_EQ(lines[0], "Return-Path: <a??X-Injected: 1@example.org>");
  // Only the two fields: nothing injected starts a line of its own.
  for (size_t i = 2; i < lines.size(); ++i) EXPECT_EQ(lines[i][0], '\t') << lines[i];
  EXPECT_NE(Unfold(block).find(" id id???more"), std::string::npos) << block;
  CheckShape(block);
}

// RFC 3848 and RFC 6531 4.3: the registered "with" protocol types.
TEST(LmtpTraceTest, WithProtocol) {
  struct Case {
    bool lmtp, esmtp, tls, smtputf8;
    std::string_view keyword;
  };
  const Case cases[] = {
      {true, false, false, false, "LMTP"},    {true, true, false, false, "LMTP"},
      {true, false, true, false, "LMTPS"},    {true, true, true, false, "LMTPS"},
      {false, true, false, false, "ESMTP"},   {false, true, true, false, "ESMTPS"},
      {false, false, false, false, "SMTP"},   {false, false, true, false, "SMTP"},
      {false, true, false, true, "UTF8SMTP"}, {false, true, true, true, "UTF8SMTPS"},
      {true, true, false, true, "UTF8LMTP"},  {true, false, true, true, "UTF8LMTPS"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.keyword);
    EXPECT_EQ(WithProtocol(c.lmtp, c.esmtp, c.tls, c.smtputf8), c.keyword);
  }
}

// RFC 5322 3.3: day-name "," day month year time zone, in UTC.
TEST(LmtpTraceTest, Rfc5322Date) {
  EXPECT_EQ(Rfc5322Date(Utc(2026, 11, 23, 16, 50, 0)), "Mon, 23 Nov 2026 16:50:00 +0000");
  EXPECT_EQ(Rfc5322Date(Utc(2026, 3, 1, 0, 0, 5)), "Sun, 01 Mar 2026 00:00:05 +0000");
  EXPECT_EQ(Rfc5322Date(absl::UnixEpoch()), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(Rfc5322Date(Utc(2024, 2, 29, 23, 59, 59) + absl::Milliseconds(999)),
            "Thu, 29 Feb 2024 23:59:59 +0000");
}

}  // namespace
}  // namespace tern::lmtp::protocol
