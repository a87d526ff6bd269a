#include "services/pop3/protocol/parser.h"

#include <algorithm>
#include <utility>

namespace tern::pop3::protocol {
namespace {

constexpr size_t kMinKeyword = 3;  // RFC 2449 3: keyword = 3*4VCHAR
constexpr size_t kMaxKeyword = 4;

bool IsCtl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// RFC 5234 VCHAR: visible US-ASCII.
bool IsVchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

}  // namespace

Parser::Parser(Limits limits) : limits_(limits) {}

void Parser::Reset() {
  raw_ = false;
  overlong_ = false;
  line_.clear();
  line_.shrink_to_fit();
}

size_t Parser::MaxBuffered() const {
  // The limits count the CRLF; before its LF a line may hold its content and the CR.
  const size_t limit = raw_ ? limits_.max_raw_line : limits_.max_line;
  return limit > 0 ? limit - 1 : 0;
}

void Parser::Feed(std::string_view bytes, std::vector<Event>& out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t lf = bytes.find('\n', i);
    const size_t end = lf == std::string_view::npos ? bytes.size() : lf;
    if (overlong_) {
      // Skipping the rest of a line already reported as too long: nothing of it is kept.
      if (lf == std::string_view::npos) {
        return;
      }
      overlong_ = false;
      i = lf + 1;
      continue;
    }
    // Keep at most one byte past the limit, so that a huge chunk is never copied whole.
    const size_t room = line_.size() <= MaxBuffered() ? MaxBuffered() + 1 - line_.size() : 0;
    line_.append(bytes.substr(i, std::min(end - i, room)));
    if (line_.size() > MaxBuffered()) {
      // Too long: report it now and skip to the end of the line, so memory stays bounded by
      // the limit whatever the client sends.
      Error("line too long", out);
      line_.clear();
      line_.shrink_to_fit();
      if (lf == std::string_view::npos) {
        overlong_ = true;
        return;
      }
      i = lf + 1;
      continue;
    }
    if (lf == std::string_view::npos) {
      return;
    }
    i = lf + 1;
    if (!line_.empty() && line_.back() == '\r') {
      line_.pop_back();  // CRLF; a bare LF is accepted as well
    } else if (line_.size() == MaxBuffered()) {
      // Without a CR, the byte that room was kept for is content: one over the limit.
      Error("line too long", out);
      line_.clear();
      continue;
    }
    ProcessLine(out);
    line_.clear();
  }
}

void Parser::Error(std::string message, std::vector<Event>& out) {
  out.push_back(ParseError{std::move(message), raw_});
  raw_ = false;  // a raw line ends with its error, like with its RawLine
}

void Parser::ProcessLine(std::vector<Event>& out) {
  if (raw_) {
    raw_ = false;
    out.push_back(RawLine{line_});
    if (line_.capacity() > limits_.max_line * 2) {
      line_.shrink_to_fit();  // a long SASL line should not pin its buffer for the session
    }
    return;
  }
  ParseCommand(line_, out);
}

void Parser::ParseCommand(std::string_view line, std::vector<Event>& out) {
  // RFC 2449 3: command = keyword *(SP param). Runs of spaces, and spaces before the keyword
  // or after the last parameter, are accepted (clients written against lax servers send them).
  size_t i = line.find_first_not_of(' ');
  if (i == std::string_view::npos) {
    // RFC 1939 3: an unrecognized or syntactically invalid command gets a negative answer,
    // and with PIPELINING (RFC 2449 6.6) every line the client sends must get one.
    Error("empty command", out);
    return;
  }
  const size_t keyword_end = std::min(line.find(' ', i), line.size());
  const std::string_view keyword = line.substr(i, keyword_end - i);
  if (keyword.size() < kMinKeyword || keyword.size() > kMaxKeyword ||
      !std::all_of(keyword.begin(), keyword.end(), IsVchar)) {
    Error("invalid command keyword", out);
    return;
  }
  Command command;
  command.verb.reserve(keyword.size());
  for (const char c : keyword) {
    command.verb.push_back(ToUpperAscii(c));
  }
  i = keyword_end;

  if (command.verb == "PASS") {
    // RFC 1939 7: PASS has exactly one argument, and spaces in it are part of the password,
    // so it is everything after the single space that follows the keyword, kept verbatim
    // (leading and trailing spaces included). NUL and CR are refused: they cannot be typed
    // into a password and NUL would corrupt a SASL PLAIN message built from it.
    if (i + 1 < line.size()) {
      const std::string_view password = line.substr(i + 1);
      if (password.find('\0') != std::string_view::npos ||
          password.find('\r') != std::string_view::npos) {
        Error("invalid character in command", out);
        return;
      }
      command.args.emplace_back(password);
    }
    out.push_back(std::move(command));
    return;
  }

  // RFC 2449 3: param = 1*VCHAR. 8-bit bytes are accepted (UTF-8 user names, RFC 6856), control
  // characters are not.
  while (i < line.size()) {
    i = line.find_first_not_of(' ', i);
    if (i == std::string_view::npos) {
      break;
    }
    const size_t arg_end = std::min(line.find(' ', i), line.size());
    const std::string_view arg = line.substr(i, arg_end - i);
    if (std::any_of(arg.begin(), arg.end(), IsCtl)) {
      Error("invalid character in command", out);
      return;
    }
    command.args.emplace_back(arg);
    i = arg_end;
  }
  out.push_back(std::move(command));
}

}  // namespace tern::pop3::protocol
