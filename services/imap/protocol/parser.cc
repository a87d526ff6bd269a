#include "services/imap/protocol/parser.h"

#include <algorithm>
#include <utility>

namespace tern::imap::protocol {
namespace {

constexpr uint64_t kMaxNumber = 4294967295u;  // RFC 3501 9: number is 32-bit unsigned

bool IsCtlOr8Bit(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u >= 0x7f;
}

char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = ToUpperAscii(c);
  }
  return out;
}

// Characters that may continue an atom. RFC 3501 9: ATOM-CHAR excludes atom-specials; we
// also take "*" and "%" (list-wildcards, sequence sets) and "]" (ASTRING-CHAR), and "\" is
// only accepted at the start (flag names), which the caller checks.
bool IsAtomChar(char c) {
  if (IsCtlOr8Bit(c) || c == ' ') {
    return false;
  }
  return c != '(' && c != ')' && c != '{' && c != '"' && c != '\\';
}

// RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">.
bool IsValidTag(std::string_view tag) {
  if (tag.empty()) {
    return false;
  }
  for (const char c : tag) {
    if (!IsAtomChar(c) || c == '+' || c == '*' || c == '%') {
      return false;
    }
  }
  return true;
}

bool IsCommandNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

bool IsValidCommandName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsCommandNameChar);
}

// Parses a literal announcement "{n}", "{n+}", "~{n}" or "~{n+}" starting at s[i] and
// ending exactly at the end of `s`. Absurd lengths saturate at kMaxNumber + 1.
bool ParseLiteralSpec(std::string_view s, size_t i, uint64_t& size, bool& non_sync, bool& binary) {
  binary = false;
  non_sync = false;
  if (i < s.size() && s[i] == '~') {
    binary = true;
    ++i;
  }
  if (i >= s.size() || s[i] != '{') {
    return false;
  }
  ++i;
  size = 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    size = std::min<uint64_t>(size * 10 + static_cast<uint64_t>(s[i] - '0'), kMaxNumber + 1);
    ++digits;
    ++i;
  }
  if (digits == 0) {
    return false;
  }
  if (i < s.size() && s[i] == '+') {
    non_sync = true;
    ++i;
  }
  return i + 1 == s.size() && s[i] == '}';
}

// Finds a literal announcement at the very end of a line that failed to parse, so the
// parser can skip the bytes of a non-synchronizing literal while resynchronizing.
bool TrailingLiteral(std::string_view line, uint64_t& size, bool& non_sync) {
  if (line.empty() || line.back() != '}') {
    return false;
  }
  const size_t open = line.rfind('{');
  if (open == std::string_view::npos) {
    return false;
  }
  bool binary = false;
  return ParseLiteralSpec(line, open, size, non_sync, binary);
}

}  // namespace

bool Value::IsNil() const {
  return kind == Kind::kAtom && text.size() == 3 && ToUpper(text) == "NIL";
}

Value Value::Atom(std::string s) {
  Value v;
  v.kind = Kind::kAtom;
  v.text = std::move(s);
  return v;
}

Value Value::Quoted(std::string s) {
  Value v;
  v.kind = Kind::kQuoted;
  v.text = std::move(s);
  return v;
}

Value Value::Literal(std::string s, bool non_sync, bool binary) {
  Value v;
  v.kind = Kind::kLiteral;
  v.text = std::move(s);
  v.non_sync = non_sync;
  v.binary = binary;
  return v;
}

Value Value::List(std::vector<Value> items) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::move(items);
  return v;
}

Parser::Parser(Limits limits) : limits_(limits) { ResetCommand(); }

void Parser::ResetCommand() {
  stack_.clear();
  stack_.emplace_back();
  items_ = 0;
  command_literal_bytes_ = 0;
  in_command_ = false;
  need_separator_ = false;
}

void Parser::Feed(std::string_view bytes, std::vector<Event>& out) {
  size_t i = 0;
  while (i < bytes.size() && state_ != State::kClosed) {
    if (state_ == State::kLiteral) {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(literal_remaining_, bytes.size() - i));
      if (!discarding_) {
        stack_.back().back().text.append(bytes.substr(i, take));
      }
      i += take;
      literal_remaining_ -= take;
      if (literal_remaining_ == 0) {
        state_ = State::kLine;
      }
      continue;
    }
    const size_t lf = bytes.find('\n', i);
    const size_t end = lf == std::string_view::npos ? bytes.size() : lf;
    if (overlong_) {
      // Skipping the rest of a line that was too long; only its end is kept, to see
      // whether it announced a literal whose bytes must be skipped too.
      KeepTail(bytes.substr(i, end - i));
      if (lf == std::string_view::npos) {
        return;
      }
      i = lf + 1;
      EndOverlongLine(out);
      continue;
    }
    line_.append(bytes.substr(i, end - i));
    // +1 leaves room for the CR of a line that is exactly max_line long.
    if (line_.size() > limits_.max_line + 1) {
      // Too long: answer BAD now and skip to the end of the line, keeping no more than a
      // tail of it (memory stays bounded by max_line whatever the client sends).
      out.push_back(ParseError{CurrentTag(), "line too long", false, false});
      tail_.clear();
      KeepTail(line_);
      line_.clear();
      line_.shrink_to_fit();
      ResetCommand();
      overlong_ = true;
      if (lf == std::string_view::npos) {
        return;
      }
      i = lf + 1;
      EndOverlongLine(out);
      continue;
    }
    if (lf == std::string_view::npos) {
      return;
    }
    i = lf + 1;
    if (!line_.empty() && line_.back() == '\r') {
      line_.pop_back();  // CRLF; a bare LF is accepted as well
    }
    if (line_.size() > limits_.max_line) {
      Recover("line too long", out);
      line_.clear();
      continue;
    }
    ProcessLine(out);
    line_.clear();
  }
}

void Parser::KeepTail(std::string_view bytes) {
  constexpr size_t kTail = 32;  // enough for " ~{4294967296+}" and a CR
  if (bytes.size() >= kTail) {
    tail_.assign(bytes.substr(bytes.size() - kTail));
  } else {
    tail_.append(bytes);
    if (tail_.size() > kTail) tail_.erase(0, tail_.size() - kTail);
  }
}

void Parser::EndOverlongLine(std::vector<Event>& out) {
  overlong_ = false;
  if (!tail_.empty() && tail_.back() == '\r') tail_.pop_back();
  discarding_ = true;
  SkipTrailingLiteral(tail_, out);
  tail_.clear();
}

void Parser::ProcessLine(std::vector<Event>& out) {
  if (discarding_) {
    SkipTrailingLiteral(line_, out);
    return;
  }
  if (!in_command_ && line_.empty()) {
    return;  // an empty line between commands carries nothing; ignore it
  }
  in_command_ = true;
  LiteralSpec literal;
  std::string error;
  switch (Tokenize(line_, literal, error)) {
    case LineResult::kComplete:
      FinishCommand(out);
      return;
    case LineResult::kError:
      Recover(std::move(error), out);
      return;
    case LineResult::kLiteral:
      break;
  }
  // max_literal bounds all literals of one command together, so many literals cannot add
  // up to more memory than one.
  if (literal.size > limits_.max_literal - std::min<uint64_t>(command_literal_bytes_, limits_.max_literal)) {
    if (literal.non_sync) {
      // The client is already sending the bytes; there is no way to resynchronize.
      Fatal("non-synchronizing literal too big", out);
      return;
    }
    // The client waits for "+" before sending the bytes, so the next line is a new command.
    out.push_back(ParseError{CurrentTag(), "literal too big", false, true});
    ResetCommand();
    return;
  }
  if (!AddValue(Value::Literal({}, literal.non_sync, literal.binary), error)) {
    Recover(std::move(error), out);
    return;
  }
  // Reserve only a little up front: the announced size is the client's word, not bytes.
  stack_.back().back().text.reserve(static_cast<size_t>(std::min<uint64_t>(literal.size, 65536)));
  if (!literal.non_sync) {
    out.push_back(NeedContinuation{static_cast<size_t>(literal.size)});
  }
  need_separator_ = true;
  command_literal_bytes_ += literal.size;
  literal_remaining_ = literal.size;
  if (literal_remaining_ > 0) {
    state_ = State::kLiteral;
  }
}

bool Parser::AddValue(Value v, std::string& error) {
  if (++items_ > limits_.max_items) {
    error = "too many items";
    return false;
  }
  stack_.back().push_back(std::move(v));
  return true;
}

Parser::LineResult Parser::Tokenize(std::string_view s, LiteralSpec& literal, std::string& error) {
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ') {
      need_separator_ = false;
      ++i;
      continue;
    }
    if (c == ')') {
      if (stack_.size() == 1) {
        error = "unexpected ')'";
        return LineResult::kError;
      }
      std::vector<Value> items = std::move(stack_.back());
      stack_.pop_back();
      stack_.back().push_back(Value::List(std::move(items)));  // counted when opened
      need_separator_ = true;
      ++i;
      continue;
    }
    if (need_separator_) {
      error = "expected space";
      return LineResult::kError;
    }
    if (c == '(') {
      if (stack_.size() > limits_.max_depth) {
        error = "lists nested too deep";
        return LineResult::kError;
      }
      if (++items_ > limits_.max_items) {
        error = "too many items";
        return LineResult::kError;
      }
      stack_.emplace_back();
      ++i;
      continue;
    }
    if (c == '"') {
      std::string text;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char q = s[i++];
        if (q == '"') {
          closed = true;
          break;
        }
        if (q == '\\') {
          // RFC 3501 9: quoted-specials are the only escapes.
          if (i >= s.size() || (s[i] != '"' && s[i] != '\\')) {
            error = "invalid escape in quoted string";
            return LineResult::kError;
          }
          q = s[i++];
        } else if (IsCtlOr8Bit(q)) {
          // QUOTED-CHAR is 7-bit TEXT-CHAR: no CR, LF, NUL or 8-bit bytes.
          error = "invalid character in quoted string";
          return LineResult::kError;
        }
        text.push_back(q);
      }
      if (!closed) {
        error = "unterminated quoted string";
        return LineResult::kError;
      }
      if (!AddValue(Value::Quoted(std::move(text)), error)) {
        return LineResult::kError;
      }
      need_separator_ = true;
      continue;
    }
    if (c == '{' || (c == '~' && i + 1 < s.size() && s[i + 1] == '{')) {
      if (!ParseLiteralSpec(s, i, literal.size, literal.non_sync, literal.binary)) {
        error = "invalid literal";
        return LineResult::kError;
      }
      return LineResult::kLiteral;
    }
    // Atom, possibly carrying section text: BODY.PEEK[HEADER.FIELDS (FROM "TO")]<0.100>.
    const size_t start = i;
    if (c == '\\') {
      ++i;  // flag: \Seen, \*
    }
    while (i < s.size()) {
      if (s[i] == '[') {
        int depth = 0;
        bool in_quote = false;
        while (i < s.size()) {
          const char b = s[i++];
          if (IsCtlOr8Bit(b)) {
            error = "invalid character in section";
            return LineResult::kError;
          }
          if (in_quote) {
            if (b == '\\' && i < s.size()) {
              ++i;
            } else if (b == '"') {
              in_quote = false;
            }
          } else if (b == '"') {
            in_quote = true;
          } else if (b == '[') {
            ++depth;
          } else if (b == ']' && --depth == 0) {
            break;
          }
        }
        if (depth != 0) {
          error = "unterminated '['";
          return LineResult::kError;
        }
      } else if (IsAtomChar(s[i])) {
        ++i;
      } else {
        break;
      }
    }
    if (i == start || (c == '\\' && i == start + 1)) {
      error = "unexpected character";
      return LineResult::kError;
    }
    if (!AddValue(Value::Atom(std::string(s.substr(start, i - start))), error)) {
      return LineResult::kError;
    }
    need_separator_ = true;
  }
  if (stack_.size() > 1) {
    error = "unterminated list";
    return LineResult::kError;
  }
  return LineResult::kComplete;
}

void Parser::FinishCommand(std::vector<Event>& out) {
  std::vector<Value>& top = stack_[0];
  if (top.empty() || !top[0].IsAtom() || !IsValidTag(top[0].text)) {
    Recover("invalid tag", out);
    return;
  }
  if (top.size() < 2 || !top[1].IsAtom() || !IsValidCommandName(top[1].text)) {
    Recover("missing or invalid command name", out);
    return;
  }
  Command command;
  command.name = ToUpper(top[1].text);
  size_t first_arg = 2;
  if (command.name == "UID") {
    if (top.size() < 3 || !top[2].IsAtom() || !IsValidCommandName(top[2].text)) {
      Recover("missing or invalid command after UID", out);
      return;
    }
    command.name += ' ';
    command.name += ToUpper(top[2].text);
    first_arg = 3;
  }
  command.tag = std::move(top[0].text);
  command.args.assign(std::make_move_iterator(top.begin() + static_cast<ptrdiff_t>(first_arg)),
                      std::make_move_iterator(top.end()));
  out.push_back(std::move(command));
  ResetCommand();
}

void Parser::Recover(std::string message, std::vector<Event>& out) {
  out.push_back(ParseError{CurrentTag(), std::move(message), false, false});
  ResetCommand();
  discarding_ = true;
  SkipTrailingLiteral(line_, out);
}

void Parser::SkipTrailingLiteral(std::string_view line, std::vector<Event>& out) {
  uint64_t size = 0;
  bool non_sync = false;
  if (!TrailingLiteral(line, size, non_sync) || !non_sync) {
    // The line ends the command (or the client waits for a "+" it will not get).
    discarding_ = false;
    return;
  }
  if (size > limits_.max_literal) {
    Fatal("non-synchronizing literal too big", out);
    return;
  }
  // Stay in discarding_: the command continues after the literal bytes.
  literal_remaining_ = size;
  if (size > 0) {
    state_ = State::kLiteral;
  }
}

void Parser::Fatal(std::string message, std::vector<Event>& out) {
  out.push_back(ParseError{CurrentTag(), std::move(message), true, false});
  state_ = State::kClosed;
  line_.clear();
  line_.shrink_to_fit();
  stack_.clear();
}

std::string Parser::CurrentTag() const {
  if (!stack_.empty() && !stack_[0].empty()) {
    const Value& first = stack_[0][0];
    return first.IsAtom() && IsValidTag(first.text) ? first.text : std::string();
  }
  if (in_command_ || discarding_) {
    return {};
  }
  // First line of a command: the tag is the first word, if it is a valid one. Only the
  // first max_line + 2 bytes are looked at, so a "line too long" error names the same tag
  // however the input was split.
  const std::string_view line = std::string_view(line_).substr(0, limits_.max_line + 2);
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) {
    return {};
  }
  const std::string_view word = line.substr(0, space);
  return IsValidTag(word) ? std::string(word) : std::string();
}

bool SequenceSet::Contains(uint32_t n, uint32_t largest) const {
  for (const SequenceRange& r : ranges) {
    const uint32_t a = r.first == 0 ? largest : r.first;
    const uint32_t b = r.last == 0 ? largest : r.last;
    if (n >= std::min(a, b) && n <= std::max(a, b)) {
      return true;
    }
  }
  return false;
}

namespace {

// seq-number = nz-number / "*"; "*" is returned as 0.
bool ParseSeqNumber(std::string_view s, uint32_t& out) {
  if (s == "*") {
    out = 0;
    return true;
  }
  if (s.empty() || s.size() > 10 || s[0] == '0') {
    return false;
  }
  uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > kMaxNumber) {
    return false;
  }
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

std::optional<SequenceSet> ParseSequenceSet(std::string_view s) {
  SequenceSet set;
  if (s == "$") {
    set.saved_result = true;
    return set;
  }
  if (s.empty()) {
    return std::nullopt;
  }
  size_t pos = 0;
  while (true) {
    const size_t comma = s.find(',', pos);
    const std::string_view element =
        s.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    SequenceRange range;
    const size_t colon = element.find(':');
    if (colon == std::string_view::npos) {
      if (!ParseSeqNumber(element, range.first)) {
        return std::nullopt;
      }
      range.last = range.first;
    } else if (!ParseSeqNumber(element.substr(0, colon), range.first) ||
               !ParseSeqNumber(element.substr(colon + 1), range.last)) {
      return std::nullopt;
    }
    set.ranges.push_back(range);
    if (comma == std::string_view::npos) {
      break;
    }
    pos = comma + 1;
  }
  return set;
}

}  // namespace tern::imap::protocol
