#include "services/pop3/protocol/encoder.h"

#include <algorithm>

namespace tern::pop3::protocol {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr size_t kMaxCode = 64;

bool IsLineBreaking(char c) { return c == '\r' || c == '\n' || c == '\0'; }

// The longest prefix of `text` of at most `max` bytes that does not end inside a UTF-8
// sequence.
std::string_view CutText(std::string_view text, size_t max) {
  if (text.size() <= max) {
    return text;
  }
  size_t end = max;
  // Back off over continuation bytes (10xxxxxx) to the lead byte, which starts a character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return text.substr(0, end);
}

// "<status>[ [code]][ text]\r\n" within kMaxResponseLine.
void AppendStatusLine(std::string& out, std::string_view status, std::string_view code,
                      std::string_view text) {
  const size_t start = out.size();
  out.append(status);
  if (!code.empty()) {
    // RFC 2449 3: resp-code = "[" resp-level *("/" resp-level) "]", rchar = printable
    // US-ASCII except "/" and "]"; "/" separates the levels.
    std::string clean;
    for (const char c : code) {
      const auto u = static_cast<unsigned char>(c);
      if (u > 0x20 && u < 0x7f && c != ']') {
        clean.push_back(c);
      }
    }
    // Codes are short constants; one that is not is dropped rather than let it push the
    // line past kMaxResponseLine.
    if (!clean.empty() && clean.size() <= kMaxCode) {
      out.append(" [").append(clean).append("]");
    }
  }
  if (!text.empty()) {
    out.push_back(' ');
    const size_t used = out.size() - start + kCrlf.size();
    AppendText(out, CutText(text, kMaxResponseLine > used ? kMaxResponseLine - used : 0));
  }
  out.append(kCrlf);
}

}  // namespace

void AppendText(std::string& out, std::string_view text) {
  for (const char c : text) {
    out.push_back(IsLineBreaking(c) ? ' ' : c);
  }
}

void AppendOk(std::string& out, std::string_view text) { AppendStatusLine(out, "+OK", {}, text); }

void AppendErr(std::string& out, std::string_view text, std::string_view code) {
  AppendStatusLine(out, "-ERR", code, text);
}

void AppendGreeting(std::string& out, std::string_view text, std::string_view timestamp) {
  if (timestamp.empty()) {
    AppendOk(out, text);
    return;
  }
  // The timestamp is kept whole (APOP needs it exactly); the text gives way.
  const size_t room = kMaxResponseLine - std::min(kMaxResponseLine, timestamp.size() + 8);
  std::string line(CutText(text, room));
  if (!line.empty()) {
    line.push_back(' ');
  }
  line.append(timestamp);
  AppendOk(out, line);
}

void AppendContinuation(std::string& out, std::string_view base64) {
  // RFC 5034 4: "a line consisting of a "+" character, followed by a single space and a
  // string encoded using Base64"; an empty challenge is "+" and the space.
  out.append("+ ");
  AppendText(out, base64);
  out.append(kCrlf);
}

void AppendMultiLineLine(std::string& out, std::string_view line) {
  if (!line.empty() && line.front() == '.') {
    out.push_back('.');  // RFC 1939 3: byte-stuff the termination octet
  }
  AppendText(out, line);
  out.append(kCrlf);
}

void AppendTerminator(std::string& out) { out.append(".\r\n"); }

void AppendCapabilities(std::string& out, const std::vector<std::string>& capabilities) {
  AppendOk(out, "Capability list follows");
  for (const std::string& capability : capabilities) {
    if (!capability.empty()) {
      AppendMultiLineLine(out, capability);
    }
  }
  AppendTerminator(out);
}

void AppendStat(std::string& out, uint64_t count, uint64_t octets) {
  out.append("+OK ").append(std::to_string(count)).append(" ").append(std::to_string(octets));
  out.append(kCrlf);
}

void AppendScanLine(std::string& out, uint32_t number, uint64_t octets) {
  out.append(std::to_string(number)).append(" ").append(std::to_string(octets)).append(kCrlf);
}

void AppendUidLine(std::string& out, uint32_t number, std::string_view unique_id) {
  out.append(std::to_string(number)).append(" ");
  // RFC 1939 7: unique-id = 1*70 of 0x21-0x7E.
  for (const char c : unique_id) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f) {
      out.push_back(c);
    }
  }
  out.append(kCrlf);
}

void DotStuffer::Append(std::string_view chunk, std::string& out) {
  size_t i = 0;
  while (i < chunk.size()) {
    if (pending_cr_) {
      // The CR ends a line whether or not an LF follows: CRLF stays CRLF, a bare CR becomes
      // CRLF.
      pending_cr_ = false;
      out.append(kCrlf);
      at_line_start_ = true;
      if (chunk[i] == '\n') {
        ++i;
        continue;
      }
    }
    const size_t end = std::min(chunk.find_first_of("\r\n", i), chunk.size());
    if (end > i) {
      if (at_line_start_ && chunk[i] == '.') {
        out.push_back('.');  // RFC 1939 3: byte-stuff the termination octet
      }
      out.append(chunk.substr(i, end - i));
      at_line_start_ = false;
      i = end;
      continue;
    }
    if (chunk[i] == '\r') {
      pending_cr_ = true;  // decided by the next byte, which may be in the next chunk
    } else {
      out.append(kCrlf);  // a bare LF
      at_line_start_ = true;
    }
    ++i;
  }
}

void DotStuffer::Finish(std::string& out) {
  if (pending_cr_ || !at_line_start_) {
    // A trailing CR, or a last line without a line ending: the terminator must start a line.
    out.append(kCrlf);
  }
  AppendTerminator(out);
  pending_cr_ = false;
  at_line_start_ = true;
}

bool TopFilter::EndLine() {
  const bool blank = at_line_start_;
  at_line_start_ = true;
  if (in_header_) {
    if (!blank) {
      return false;
    }
    in_header_ = false;  // the blank line is sent; then `remaining_` body lines
    return remaining_ == 0;
  }
  --remaining_;  // > 0: Take() stops at 0
  return remaining_ == 0;
}

std::string_view TopFilter::Take(std::string_view chunk) {
  if (done_) {
    return {};
  }
  for (size_t i = 0; i < chunk.size(); ++i) {
    const char c = chunk[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        // The LF of a CRLF whose CR already ended the line.
        if (stop_after_cr_) {
          done_ = true;
          return chunk.substr(0, i + 1);
        }
        continue;
      }
      if (stop_after_cr_) {
        done_ = true;  // the last line ended with a bare CR
        return chunk.substr(0, i);
      }
    }
    if (c == '\r') {
      pending_cr_ = true;
      stop_after_cr_ = EndLine();
    } else if (c == '\n') {
      if (EndLine()) {
        done_ = true;
        return chunk.substr(0, i + 1);
      }
    } else {
      at_line_start_ = false;
    }
  }
  return chunk;
}

uint64_t NormalizedSize(std::string_view message) {
  uint64_t size = 0;
  bool at_line_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\r' || c == '\n') {
      size += kCrlf.size();
      at_line_start = true;
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') {
        ++i;
      }
    } else {
      ++size;
      at_line_start = false;
    }
  }
  return at_line_start ? size : size + kCrlf.size();
}

void AppendDotStuffed(std::string& out, std::string_view message) {
  DotStuffer stuffer;
  stuffer.Append(message, out);
  stuffer.Finish(out);
}

void AppendTop(std::string& out, std::string_view message, uint64_t body_lines) {
  TopFilter filter{body_lines};
  DotStuffer stuffer;
  stuffer.Append(filter.Take(message), out);
  stuffer.Finish(out);
}

}  // namespace tern::pop3::protocol
