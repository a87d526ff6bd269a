#include "services/pop3/protocol/encoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tern::pop3::protocol {
namespace {

using namespace std::string_literals;

std::string Ok(std::string_view text) {
  std::string out;
  AppendOk(out, text);
  return out;
}

std::string Err(std::string_view text, std::string_view code = {}) {
  std::string out;
  AppendErr(out, text, code);
  return out;
}

std::string Stuffed(std::string_view message) {
  std::string out;
  AppendDotStuffed(out, message);
  return out;
}

// Feeds `chunks` through one DotStuffer.
std::string StuffedChunks(const std::vector<std::string>& chunks) {
  DotStuffer stuffer;
  std::string out;
  for (const std::string& chunk : chunks) {
    stuffer.Append(chunk, out);
  }
  stuffer.Finish(out);
  return out;
}

std::string Top(std::string_view message, uint64_t lines) {
  std::string out;
  AppendTop(out, message, lines);
  return out;
}

// TOP the way the server streams it: each chunk through the filter, then the stuffer, and
// no more chunks once the filter is done.
std::string TopChunks(const std::vector<std::string>& chunks, uint64_t lines) {
  TopFilter filter{lines};
  DotStuffer stuffer;
  std::string out;
  for (const std::string& chunk : chunks) {
    if (filter.done()) {
      break;
    }
    stuffer.Append(filter.Take(chunk), out);
  }
  stuffer.Finish(out);
  return out;
}

// ---- reference model for the property tests ----

// The lines of a message: CRLF, LF and a bare CR each end one; a last line without an ending
// counts when it is not empty.
std::vector<std::string> Lines(std::string_view message) {
  std::vector<std::string> lines;
  std::string current;
  for (size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\r' || c == '\n') {
      lines.push_back(current);
      current.clear();
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') {
        ++i;
      }
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) {
    lines.push_back(current);
  }
  return lines;
}

std::string Render(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    out += (!line.empty() && line[0] == '.') ? "." + line : line;
    out += "\r\n";
  }
  return out + ".\r\n";
}

std::vector<std::string> TopLines(const std::vector<std::string>& lines, uint64_t n) {
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      const size_t end = i + 1 + static_cast<size_t>(std::min<uint64_t>(n, lines.size()));
      return {lines.begin(),
              lines.begin() + static_cast<std::ptrdiff_t>(std::min(end, lines.size()))};
    }
  }
  return lines;
}

// The receiving side (RFC 1939 3): CRLF-correct lines, un-stuffed, up to the terminator.
std::vector<std::string> Unstuff(std::string_view wire) {
  std::vector<std::string> lines;
  size_t i = 0;
  for (;;) {
    const size_t crlf = wire.find("\r\n", i);
    EXPECT_NE(crlf, std::string_view::npos) << "no terminator";
    if (crlf == std::string_view::npos) {
      return lines;
    }
    std::string_view line = wire.substr(i, crlf - i);
    EXPECT_EQ(line.find_first_of("\r\n"), std::string_view::npos) << "bare CR or LF";
    i = crlf + 2;
    if (line == ".") {
      EXPECT_EQ(i, wire.size()) << "bytes after the terminator";
      return lines;
    }
    if (!line.empty() && line[0] == '.') {
      EXPECT_TRUE(line.size() > 1 && line[1] == '.') << "unstuffed dot line";
      line.remove_prefix(1);
    }
    lines.emplace_back(line);
  }
}

std::string RandomMessage(std::mt19937& rng, size_t max_size) {
  static constexpr char kAlphabet[] = {'a', 'b', '.', '.', '\r', '\n', '\n', ' '};
  std::uniform_int_distribution<size_t> size_dist(0, max_size);
  std::uniform_int_distribution<size_t> char_dist(0, sizeof(kAlphabet) - 1);
  std::string s(size_dist(rng), ' ');
  for (char& c : s) {
    c = kAlphabet[char_dist(rng)];
  }
  return s;
}

std::vector<std::string> RandomSplit(std::mt19937& rng, std::string_view s) {
  std::vector<std::string> chunks;
  std::uniform_int_distribution<size_t> len(0, 5);
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = std::min(len(rng), s.size() - i);
    chunks.emplace_back(s.substr(i, n));  // empty chunks too
    i += n;
  }
  return chunks;
}

// ---- single-line responses ----

TEST(Pop3EncoderTest, Rfc1939StatusLines) {
  EXPECT_EQ(Ok("POP3 server ready"), "+OK POP3 server ready\r\n");
  EXPECT_EQ(Ok("dewey POP3 server signing off"), "+OK dewey POP3 server signing off\r\n");
  EXPECT_EQ(Ok(""), "+OK\r\n");  // RFC 1939 5 NOOP: "S: +OK"
  EXPECT_EQ(Ok("2 200"), "+OK 2 200\r\n");
  EXPECT_EQ(Err("no such message, only 2 messages in maildrop"),
            "-ERR no such message, only 2 messages in maildrop\r\n");
  std::string stat;
  AppendStat(stat, 2, 320);
  EXPECT_EQ(stat, "+OK 2 320\r\n");
}

TEST(Pop3EncoderTest, ResponseCodes) {
  // RFC 2449 8, RFC 3206 4-5.
  EXPECT_EQ(Err("maildrop already locked", code::kInUse),
            "-ERR [IN-USE] maildrop already locked\r\n");
  EXPECT_EQ(Err("wait 15 minutes", code::kLoginDelay), "-ERR [LOGIN-DELAY] wait 15 minutes\r\n");
  EXPECT_EQ(Err("try again later", code::kSysTemp), "-ERR [SYS/TEMP] try again later\r\n");
  EXPECT_EQ(Err("account disabled", code::kSysPerm), "-ERR [SYS/PERM] account disabled\r\n");
  EXPECT_EQ(Err("invalid password", code::kAuth), "-ERR [AUTH] invalid password\r\n");
  EXPECT_EQ(Err("", code::kSysTemp), "-ERR [SYS/TEMP]\r\n");
}

TEST(Pop3EncoderTest, ResponseCodeLosesBytesItMayNotHold) {
  EXPECT_EQ(Err("x", "IN]USE"), "-ERR [INUSE] x\r\n");
  EXPECT_EQ(Err("x", "SYS/ TEMP\r\n"), "-ERR [SYS/TEMP] x\r\n");
  EXPECT_EQ(Err("x", " ]\r\n"), "-ERR x\r\n");  // nothing left: no brackets
}

TEST(Pop3EncoderTest, TextNeverBreaksTheLine) {
  EXPECT_EQ(Ok("a\r\nb\rc\nd"), "+OK a  b c d\r\n");
  EXPECT_EQ(Err("a\0b"s), "-ERR a b\r\n");
  std::string cont;
  AppendContinuation(cont, "ab\r\n+OK injected");
  EXPECT_EQ(cont, "+ ab  +OK injected\r\n");
}

TEST(Pop3EncoderTest, FirstLineStaysWithin512Octets) {
  // RFC 2449 4: 512 octets including the CRLF.
  const std::string ok = Ok(std::string(1000, 'x'));
  EXPECT_EQ(ok.size(), kMaxResponseLine);
  EXPECT_EQ(ok.substr(ok.size() - 2), "\r\n");
  const std::string err = Err(std::string(1000, 'x'), code::kSysTemp);
  EXPECT_EQ(err.size(), kMaxResponseLine);
  EXPECT_EQ(err.rfind("-ERR [SYS/TEMP] xxx", 0), 0u);
  // Exactly at the limit nothing is cut.
  const std::string exact(512 - 6, 'y');
  EXPECT_EQ(Ok(exact), "+OK " + exact + "\r\n");
}

TEST(Pop3EncoderTest, CutKeepsUtf8CharactersWhole) {
  // "+OK " leaves 506 bytes of room; "a" and 252 two-byte characters take 505, and the 253rd
  // character would end at 507: it is left out whole.
  std::string text = "a";
  for (int i = 0; i < 300; ++i) {
    text += "\xc3\xa4";
  }
  const std::string ok = Ok(text);
  EXPECT_EQ(ok.size(), 4u + 1 + 2 * 252 + 2);
  EXPECT_EQ(ok.substr(ok.size() - 4), "\xc3\xa4\r\n");
}

TEST(Pop3EncoderTest, GreetingWithApopTimestamp) {
  // RFC 1939 7 APOP example.
  std::string out;
  AppendGreeting(out, "POP3 server ready", "<1896.697170952@dbc.mtview.ca.us>");
  EXPECT_EQ(out, "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
  out.clear();
  AppendGreeting(out, "POP3 server ready", "");
  EXPECT_EQ(out, "+OK POP3 server ready\r\n");
  out.clear();
  // A long text gives way to the timestamp.
  AppendGreeting(out, std::string(600, 'x'), "<1.2@host>");
  EXPECT_LE(out.size(), kMaxResponseLine);
  EXPECT_EQ(out.substr(out.size() - 12), "<1.2@host>\r\n");
}

TEST(Pop3EncoderTest, SaslContinuation) {
  // RFC 5034 4: "+" SP base64; an empty challenge is "+ ".
  std::string out;
  AppendContinuation(out, "");
  EXPECT_EQ(out, "+ \r\n");
  out.clear();
  AppendContinuation(out, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+");
  EXPECT_EQ(out, "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n");
}

// ---- multi-line responses ----

TEST(Pop3EncoderTest, Rfc2449CapaExample) {
  std::string out;
  AppendCapabilities(out,
                     {"TOP", "USER", "SASL CRAM-MD5 KERBEROS_V4", "RESP-CODES", "LOGIN-DELAY 900",
                      "PIPELINING", "EXPIRE 60", "UIDL", "IMPLEMENTATION Shlemazle-Plotz-v302"});
  EXPECT_EQ(out,
            "+OK Capability list follows\r\n"
            "TOP\r\n"
            "USER\r\n"
            "SASL CRAM-MD5 KERBEROS_V4\r\n"
            "RESP-CODES\r\n"
            "LOGIN-DELAY 900\r\n"
            "PIPELINING\r\n"
            "EXPIRE 60\r\n"
            "UIDL\r\n"
            "IMPLEMENTATION Shlemazle-Plotz-v302\r\n"
            ".\r\n");
}

TEST(Pop3EncoderTest, CapabilitiesCannotBreakTheList) {
  std::string out;
  AppendCapabilities(out, {"STLS", "", "X\r\n.", ".", "UIDL"});
  EXPECT_EQ(out, "+OK Capability list follows\r\nSTLS\r\nX  .\r\n..\r\nUIDL\r\n.\r\n");
}

TEST(Pop3EncoderTest, Rfc1939ScanAndUniqueIdListings) {
  std::string list;
  AppendOk(list, "2 messages (320 octets)");
  AppendScanLine(list, 1, 120);
  AppendScanLine(list, 2, 200);
  AppendTerminator(list);
  EXPECT_EQ(list, "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n");

  std::string uidl;
  AppendOk(uidl, "");
  AppendUidLine(uidl, 1, "whqtswO00WBw418f9t5JxYwZ");
  AppendUidLine(uidl, 2, "QhdPYR:00WBw1Ph7x7");
  AppendTerminator(uidl);
  EXPECT_EQ(uidl, "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n");
}

TEST(Pop3EncoderTest, UniqueIdKeepsOnlyPrintableAscii) {
  std::string out;
  AppendUidLine(out, 7, "ab c\r\nd\xff");
  EXPECT_EQ(out, "7 abcd\r\n");
}

TEST(Pop3EncoderTest, MultiLineLineIsStuffed) {
  std::string out;
  AppendMultiLineLine(out, ".");
  AppendMultiLineLine(out, "..x");
  AppendMultiLineLine(out, "a.b");
  AppendMultiLineLine(out, "");
  EXPECT_EQ(out, "..\r\n...x\r\na.b\r\n\r\n");
}

// ---- dot-stuffing ----

TEST(Pop3DotStufferTest, EmptyMessage) {
  EXPECT_EQ(Stuffed(""), ".\r\n");
  EXPECT_EQ(StuffedChunks({"", ""}), ".\r\n");
}

TEST(Pop3DotStufferTest, DotLines) {
  // RFC 1939 3: "If any line begins with the termination octet, the line is "byte-stuffed"
  // by pre-pending the termination octet to that line of the response."
  EXPECT_EQ(Stuffed(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(Stuffed("..\r\n"), "...\r\n.\r\n");
  EXPECT_EQ(Stuffed("a\r\n.\r\nb\r\n"), "a\r\n..\r\nb\r\n.\r\n");
  EXPECT_EQ(Stuffed(".hidden\r\n..\r\n"), "..hidden\r\n...\r\n.\r\n");
  EXPECT_EQ(Stuffed("a.\r\n a\r\n"), "a.\r\n a\r\n.\r\n");  // only at the start of a line
  EXPECT_EQ(Stuffed("."), "..\r\n.\r\n");                   // a last line "." without CRLF
}

TEST(Pop3DotStufferTest, BareLineEndingsBecomeCrlf) {
  EXPECT_EQ(Stuffed("a\nb\n"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(Stuffed("a\rb\r"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(Stuffed("a\r\r\nb"), "a\r\n\r\nb\r\n.\r\n");  // bare CR, then CRLF
  EXPECT_EQ(Stuffed("a\n\rb"), "a\r\n\r\nb\r\n.\r\n");    // LF CR is two line endings
  EXPECT_EQ(Stuffed("\n.\n"), "\r\n..\r\n.\r\n");
  EXPECT_EQ(Stuffed("\r.\r"), "\r\n..\r\n.\r\n");
  EXPECT_EQ(Stuffed("\r\n"), "\r\n.\r\n");
}

TEST(Pop3DotStufferTest, MessageWithoutFinalNewline) {
  EXPECT_EQ(Stuffed("Subject: x\r\n\r\nbody"), "Subject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(Stuffed("Subject: x\r\n\r\n"), "Subject: x\r\n\r\n.\r\n");
}

TEST(Pop3DotStufferTest, CrAtChunkEndThenLf) {
  EXPECT_EQ(StuffedChunks({"a\r", "\nb"}), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(StuffedChunks({"a\r", "", "\n", "b"}), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(StuffedChunks({"a\r", "\n.b"}), "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(StuffedChunks({"a\r", "b"}), "a\r\nb\r\n.\r\n");    // a bare CR after all
  EXPECT_EQ(StuffedChunks({"a\r", "\r\n"}), "a\r\n\r\n.\r\n");  // bare CR, then CRLF
  EXPECT_EQ(StuffedChunks({"a\r"}), "a\r\n.\r\n");              // CR at the very end
}

TEST(Pop3DotStufferTest, DotsAtChunkBoundaries) {
  EXPECT_EQ(StuffedChunks({"a\r\n", ".b\r\n"}), "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(StuffedChunks({"a\n", "."}), "a\r\n..\r\n.\r\n");
  EXPECT_EQ(StuffedChunks({".", "."}), "...\r\n.\r\n");  // only the first dot starts the line
  EXPECT_EQ(StuffedChunks({"x", ".y"}), "x.y\r\n.\r\n");
  EXPECT_EQ(StuffedChunks({"a\r\n", "", ".", "\r\n"}), "a\r\n..\r\n.\r\n");
}

TEST(Pop3DotStufferTest, IsReusableAfterFinish) {
  DotStuffer stuffer;
  std::string first;
  stuffer.Append("a\r", first);
  stuffer.Finish(first);
  std::string second;
  stuffer.Append(".b", second);
  stuffer.Finish(second);
  EXPECT_EQ(first, "a\r\n.\r\n");
  EXPECT_EQ(second, "..b\r\n.\r\n");
}

TEST(Pop3DotStufferTest, EightBitAndNulPassUnchanged) {
  EXPECT_EQ(Stuffed("\xc3\xa4\0x\r\n"s), "\xc3\xa4\0x\r\n.\r\n"s);
}

TEST(Pop3DotStufferTest, EverySplitOfASampleGivesTheSameBytes) {
  const std::string message = "From: a\r\n.x\n\r\n..\r.\r\n\rend\r";
  const std::string whole = Stuffed(message);
  EXPECT_EQ(whole, Render(Lines(message)));
  for (size_t i = 0; i <= message.size(); ++i) {
    for (size_t j = i; j <= message.size(); ++j) {
      EXPECT_EQ(StuffedChunks({message.substr(0, i), message.substr(i, j - i), message.substr(j)}),
                whole)
          << "split at " << i << ", " << j;
    }
  }
}

TEST(Pop3DotStufferTest, RandomMessagesRoundTrip) {
  std::mt19937 rng(1939);
  for (int n = 0; n < 2000; ++n) {
    const std::string message = RandomMessage(rng, 40);
    const std::string whole = Stuffed(message);
    EXPECT_EQ(StuffedChunks(RandomSplit(rng, message)), whole) << message;
    EXPECT_EQ(whole, Render(Lines(message)));
    EXPECT_EQ(Unstuff(whole), Lines(message));
  }
}

TEST(Pop3DotStufferTest, NormalizedSizeCountsWhatTheClientReceives) {
  // RFC 1939 11: single-character line endings count as two octets, stuffed dots not at all.
  EXPECT_EQ(NormalizedSize(""), 0u);
  EXPECT_EQ(NormalizedSize("a\r\n.b\r\n"), 7u);
  EXPECT_EQ(NormalizedSize("a\n.b\n"), 7u);
  EXPECT_EQ(NormalizedSize("a\r.b\r"), 7u);
  EXPECT_EQ(NormalizedSize("a\r\n.b"), 7u);  // the CRLF Finish() adds
  EXPECT_EQ(NormalizedSize("\r\r\n"), 4u);
  std::mt19937 rng(11);
  for (int n = 0; n < 2000; ++n) {
    const std::string message = RandomMessage(rng, 40);
    uint64_t received = 0;
    for (const std::string& line : Unstuff(Stuffed(message))) {
      received += line.size() + 2;
    }
    EXPECT_EQ(NormalizedSize(message), received) << message;
  }
}

// ---- TOP ----

constexpr std::string_view kMessage =
    "From: a@example.com\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "line 1\r\n"
    ".line 2\r\n"
    "line 3\r\n";

TEST(Pop3TopFilterTest, HeaderBlankLineAndBodyLines) {
  // RFC 1939 7: "the headers of the message, the blank line separating the headers from the
  // body, and then the number of lines of the indicated message's body".
  EXPECT_EQ(Top(kMessage, 2),
            "From: a@example.com\r\nSubject: hi\r\n\r\nline 1\r\n..line 2\r\n.\r\n");
}

TEST(Pop3TopFilterTest, ZeroLinesIsTheHeaderAndTheBlankLine) {
  EXPECT_EQ(Top(kMessage, 0), "From: a@example.com\r\nSubject: hi\r\n\r\n.\r\n");
}

TEST(Pop3TopFilterTest, MoreLinesThanTheBodyIsTheWholeMessage) {
  // RFC 1939 7: "if the number of lines requested by the POP3 client is greater than than the
  // number of lines in the body, then the POP3 server sends the entire message."
  EXPECT_EQ(Top(kMessage, 3), Stuffed(kMessage));
  EXPECT_EQ(Top(kMessage, 100), Stuffed(kMessage));
  EXPECT_EQ(Top(kMessage, UINT64_MAX), Stuffed(kMessage));
}

TEST(Pop3TopFilterTest, HeaderWithoutBody) {
  EXPECT_EQ(Top("Subject: x\r\n", 0), "Subject: x\r\n.\r\n");  // no blank line at all
  EXPECT_EQ(Top("Subject: x", 5), "Subject: x\r\n.\r\n");
  EXPECT_EQ(Top("Subject: x\r\n\r\n", 0), "Subject: x\r\n\r\n.\r\n");
  EXPECT_EQ(Top("Subject: x\r\n\r\n", 3), "Subject: x\r\n\r\n.\r\n");
  EXPECT_EQ(Top("", 0), ".\r\n");
}

TEST(Pop3TopFilterTest, MessageWithoutHeader) {
  EXPECT_EQ(Top("\r\nbody 1\r\nbody 2\r\n", 1), "\r\nbody 1\r\n.\r\n");
  EXPECT_EQ(Top("\nbody", 0), "\r\n.\r\n");
}

TEST(Pop3TopFilterTest, BareLineEndings) {
  EXPECT_EQ(Top("S: x\n\nl1\nl2\nl3\n", 2), "S: x\r\n\r\nl1\r\nl2\r\n.\r\n");
  EXPECT_EQ(Top("S: x\r\rl1\rl2\r", 1), "S: x\r\n\r\nl1\r\n.\r\n");
  EXPECT_EQ(Top("S: x\n\nl1\nlast", 5), "S: x\r\n\r\nl1\r\nlast\r\n.\r\n");
  EXPECT_EQ(Top("S: x\n\nl1\nlast", 1), "S: x\r\n\r\nl1\r\n.\r\n");
}

TEST(Pop3TopFilterTest, StopsReadingOnceDone) {
  TopFilter filter{1};
  EXPECT_EQ(filter.Take("H: v\r\n\r\nfirst\r\nsecond\r\n"), "H: v\r\n\r\nfirst\r\n");
  EXPECT_TRUE(filter.done());
  EXPECT_EQ(filter.Take("more\r\n"), "");
}

TEST(Pop3TopFilterTest, CrAtChunkEndOfTheLastLine) {
  {
    // CRLF split over two chunks: the LF is still sent, nothing after it.
    TopFilter filter{1};
    EXPECT_EQ(filter.Take("H: v\r\n\r\nl1\r"), "H: v\r\n\r\nl1\r");
    EXPECT_FALSE(filter.done());  // the next byte decides
    EXPECT_EQ(filter.Take("\nl2\r\n"), "\n");
    EXPECT_TRUE(filter.done());
  }
  {
    // A bare CR ended the last line: nothing of the next chunk is sent.
    TopFilter filter{1};
    EXPECT_EQ(filter.Take("H: v\r\n\r\nl1\r"), "H: v\r\n\r\nl1\r");
    EXPECT_EQ(filter.Take("l2\r\n"), "");
    EXPECT_TRUE(filter.done());
  }
  EXPECT_EQ(TopChunks({"H: v\r\n\r\nl1\r", "\nl2\r\n"}, 1), "H: v\r\n\r\nl1\r\n.\r\n");
  EXPECT_EQ(TopChunks({"H: v\r\n\r", "\nl1\r\n"}, 0), "H: v\r\n\r\n.\r\n");
  EXPECT_EQ(TopChunks({"H: v\r\n\r\nl1\r"}, 1), "H: v\r\n\r\nl1\r\n.\r\n");
}

TEST(Pop3TopFilterTest, EverySplitOfASampleGivesTheSameBytes) {
  const std::string message = "A: 1\r\nB: 2\n\r\n.l1\rl2\r\n\nl4\r";
  for (uint64_t n = 0; n <= 5; ++n) {
    const std::string whole = Top(message, n);
    EXPECT_EQ(whole, Render(TopLines(Lines(message), n))) << n;
    for (size_t i = 0; i <= message.size(); ++i) {
      for (size_t j = i; j <= message.size(); ++j) {
        EXPECT_EQ(TopChunks({message.substr(0, i), message.substr(i, j - i), message.substr(j)}, n),
                  whole)
            << "n " << n << " split at " << i << ", " << j;
      }
    }
  }
}

TEST(Pop3TopFilterTest, RandomMessagesMatchTheModel) {
  std::mt19937 rng(2449);
  for (int k = 0; k < 2000; ++k) {
    const std::string message = RandomMessage(rng, 40);
    const uint64_t n = static_cast<uint64_t>(k % 5);
    const std::string whole = Top(message, n);
    EXPECT_EQ(whole, Render(TopLines(Lines(message), n))) << message;
    EXPECT_EQ(TopChunks(RandomSplit(rng, message), n), whole) << message;
    EXPECT_EQ(Unstuff(whole), TopLines(Lines(message), n));
  }
}

}  // namespace
}  // namespace tern::pop3::protocol
