#include "services/mime/message.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "services/common/strings.h"
#include "services/mime/encoded_words.h"
#include "services/mime/lexer.h"

namespace tern::mime {
namespace {

using lexer::IsLwsp;
using lexer::IsTokenChar;
using lexer::SkipCfws;
using lexer::ToLowerAscii;

constexpr size_t kMaxWarnings = 64;
constexpr char kMissingMailbox[] = "MISSING_MAILBOX";
constexpr char kMissingDomain[] = "MISSING_DOMAIN";
constexpr size_t kNoLevel = std::numeric_limits<size_t>::max();

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimWsp(std::string_view s) {
  while (!s.empty() && IsWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWsp(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 5322 section 2.2: ftext is printable US-ASCII except ':'.
bool IsFieldName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
}

std::string_view ReadToken(std::string_view s, size_t& i) {
  const size_t begin = i;
  while (i < s.size() && IsTokenChar(s[i])) ++i;
  return s.substr(begin, i - begin);
}

struct Line {
  size_t start = 0;
  size_t content_end = 0;  // before CRLF / LF
  size_t next = 0;         // start of the following line
};

// The line starting at `pos`, never looking at or past `end`.
Line LineAt(std::string_view raw, size_t pos, size_t end) {
  const size_t lf = raw.substr(pos, end - pos).find('\n');
  if (lf == std::string_view::npos) return {pos, end, end};
  size_t content_end = pos + lf;
  if (content_end > pos && raw[content_end - 1] == '\r') --content_end;
  return {pos, content_end, pos + lf + 1};
}

// RFC 5322 section 2.2.3: unfolding removes each CRLF that is followed by WSP. Inside one
// field every line break is such a fold except the last, so all of them go. A lone CR is data.
std::string Unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\n' || (c == '\r' && i + 1 < v.size() && v[i + 1] == '\n')) continue;
    out.push_back(c);
  }
  // Trailing CRs too: "\r\r\n" line endings from botched conversions are common.
  std::string_view trimmed = TrimWsp(out);
  while (!trimmed.empty() && (IsWsp(trimmed.back()) || trimmed.back() == '\r')) {
    trimmed.remove_suffix(1);
  }
  return std::string(trimmed);
}

size_t CountLines(std::string_view body) {
  const auto lf = static_cast<size_t>(std::count(body.begin(), body.end(), '\n'));
  return lf + ((!body.empty() && body.back() != '\n') ? 1 : 0);
}

std::string ChildSection(const std::string& parent, size_t index) {
  return parent.empty() ? std::to_string(index) : Cat(parent, ".", index);
}

// Parses the fields of the header bytes [begin, end). Returns false when a limit stopped it.
bool ParseHeaderFields(std::string_view raw, size_t begin, size_t end, const Limits& limits,
                       std::vector<HeaderField>& fields) {
  size_t pos = begin;
  while (pos < end) {
    const size_t field_start = pos;
    const Line first = LineAt(raw, pos, end);
    size_t field_end = first.next;
    while (field_end < end && IsWsp(raw[field_end])) field_end = LineAt(raw, field_end, end).next;
    pos = field_end;
    if (IsWsp(raw[field_start])) continue;  // continuation with no field before it
    const std::string_view line = raw.substr(field_start, first.content_end - field_start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a field (e.g. mbox "From ")
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);  // obs-optional
    if (!IsFieldName(name)) continue;
    if (field_end - begin > limits.max_header_bytes || fields.size() >= limits.max_headers) {
      return false;
    }
    const size_t value_start = field_start + colon + 1;
    fields.push_back(HeaderField{std::string(name),
                                 Unfold(raw.substr(value_start, field_end - value_start)),
                                 field_start, field_end});
  }
  return true;
}

std::optional<std::string> FirstValue(const std::vector<HeaderField>& headers,
                                      std::string_view name) {
  const HeaderField* f = FindHeader(headers, name);
  if (f == nullptr) return std::nullopt;
  return f->value;
}

// A header value that is NIL when empty (Content-ID, Content-Description, ...).
std::optional<std::string> NonEmptyValue(const std::vector<HeaderField>& headers,
                                         std::string_view name) {
  std::optional<std::string> v = FirstValue(headers, name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------
// RFC 5322 address lists.

enum class TokenKind { kAtom, kQuoted, kDomainLiteral, kSpecial };

struct Token {
  TokenKind kind;
  std::string_view raw;  // as written (quotes included)
  std::string text;      // quoted strings unescaped, otherwise == raw
  bool space_before;     // white space or a comment separates it from the previous token
};

struct Comment {
  size_t before_token;  // index of the token that follows it
  std::string text;
};

// '.' is not special here: it joins dot-atoms and appears in obs-phrase ("John Q. Public").
bool IsAddressSpecial(char c) {
  return std::string_view("<>@,;:\\]").find(c) != std::string_view::npos;
}

void Tokenize(std::string_view v, std::vector<Token>& tokens, std::vector<Comment>& comments) {
  size_t i = 0;
  bool space = false;
  while (i < v.size()) {
    const char c = v[i];
    if (IsLwsp(c)) {
      space = true;
      ++i;
    } else if (c == '(') {
      std::string text;
      int depth = 0;
      while (i < v.size()) {  // unterminated: the comment runs to the end
        const char cc = v[i++];
        if (cc == '\\' && i < v.size()) {
          text.push_back(v[i++]);
          continue;
        }
        if (cc == '(' && depth++ == 0) continue;
        if (cc == ')' && --depth == 0) break;
        text.push_back(cc);
      }
      comments.push_back(Comment{tokens.size(), std::string(TrimWsp(text))});
      space = true;
    } else if (c == '"' || c == '[') {
      const char close = c == '"' ? '"' : ']';
      const size_t begin = i++;
      std::string text;
      if (c == '[') text.push_back('[');
      while (i < v.size() && v[i] != close) {  // unterminated: runs to the end
        if (v[i] == '\\' && i + 1 < v.size()) {
          if (c == '[') text.push_back('\\');
          ++i;
        }
        text.push_back(v[i++]);
      }
      if (i < v.size()) {
        if (c == '[') text.push_back(']');
        ++i;
      }
      tokens.push_back(Token{c == '"' ? TokenKind::kQuoted : TokenKind::kDomainLiteral,
                             v.substr(begin, i - begin), std::move(text), space});
      space = false;
    } else if (IsAddressSpecial(c) || c == ')') {
      tokens.push_back(Token{TokenKind::kSpecial, v.substr(i, 1), std::string(1, c), space});
      ++i;
      space = false;
    } else {
      const size_t begin = i;
      while (i < v.size() && !IsLwsp(v[i]) && !IsAddressSpecial(v[i]) && v[i] != '(' &&
             v[i] != ')' && v[i] != '"' && v[i] != '[') {
        ++i;
      }
      const std::string_view atom = v.substr(begin, i - begin);
      tokens.push_back(Token{TokenKind::kAtom, atom, std::string(atom), space});
      space = false;
    }
  }
}

class AddressParser {
 public:
  explicit AddressParser(std::string_view value) { Tokenize(value, tokens_, comments_); }

  std::vector<Address> Parse() {
    std::vector<Address> out;
    bool in_group = false;
    size_t i = 0;
    const size_t n = tokens_.size();
    while (i < n) {
      if (IsSpecial(i, ',')) {
        ++i;
        continue;
      }
      if (IsSpecial(i, ';')) {
        if (in_group) out.push_back(Address{});  // end of group
        in_group = false;
        ++i;
        continue;
      }
      size_t j = i;
      while (j < n && tokens_[j].kind != TokenKind::kSpecial) ++j;  // words
      if (IsSpecial(j, ':')) {
        if (!in_group) {  // group: display-name ":" [group-list] ";"
          Address start;
          start.mailbox = Phrase(i, j);
          out.push_back(std::move(start));
          in_group = true;
        }
        i = j + 1;
        continue;
      }
      if (IsSpecial(j, '<')) {  // name-addr
        Address a;
        if (std::string name = Phrase(i, j); !name.empty()) a.name = std::move(name);
        size_t close = j + 1;
        while (close < n && !IsSpecial(close, '>')) ++close;
        ParseAngleAddr(j + 1, close, a);
        out.push_back(std::move(a));
        i = SkipToSeparator(close < n ? close + 1 : close);
        continue;
      }
      if (IsSpecial(j, '@')) {  // addr-spec
        Address a;
        a.mailbox = OrMissing(Concat(i, j), kMissingMailbox);
        size_t end = j + 1;
        if (end < n && tokens_[end].kind != TokenKind::kSpecial) {
          ++end;
          while (end < n && tokens_[end].kind != TokenKind::kSpecial &&
                 !tokens_[end].space_before) {
            ++end;
          }
        }
        a.host = OrMissing(Concat(j + 1, end), kMissingDomain);
        a.name = CommentIn(i, end);
        out.push_back(std::move(a));
        i = SkipToSeparator(end);
        continue;
      }
      if (j > i) {  // words without '@': a local part alone
        Address a;
        a.mailbox = Concat(i, j);
        a.host = kMissingDomain;
        a.name = CommentIn(i, j);
        out.push_back(std::move(a));
      }
      i = j;
      if (i < n && !IsSpecial(i, ',') && !IsSpecial(i, ';')) ++i;  // stray special
    }
    if (in_group) out.push_back(Address{});  // unterminated group
    return out;
  }

 private:
  bool IsSpecial(size_t k, char c) const {
    return k < tokens_.size() && tokens_[k].kind == TokenKind::kSpecial && tokens_[k].raw[0] == c;
  }

  // Words joined with one space where the message had white space or a comment.
  std::string Phrase(size_t begin, size_t end) const {
    std::string out;
    for (size_t k = begin; k < end; ++k) {
      if (k > begin && tokens_[k].space_before) out.push_back(' ');
      out += tokens_[k].text;
    }
    return out;
  }

  // Tokens as written, without the white space and comments between them.
  std::string Concat(size_t begin, size_t end) const {
    std::string out;
    for (size_t k = begin; k < end && k < tokens_.size(); ++k) out.append(tokens_[k].raw);
    return out;
  }

  static std::string OrMissing(std::string s, const char* missing) {
    return s.empty() ? std::string(missing) : std::move(s);
  }

  // First comment among the tokens [begin, end], as the "a@b (Real Name)" display name.
  std::optional<std::string> CommentIn(size_t begin, size_t end) const {
    for (const Comment& c : comments_) {
      if (c.before_token >= begin && c.before_token <= end && !c.text.empty()) return c.text;
    }
    return std::nullopt;
  }

  // angle-addr contents between '<' and '>': [obs-route ":"] local-part "@" domain.
  void ParseAngleAddr(size_t begin, size_t end, Address& a) const {
    size_t p = begin;
    if (IsSpecial(p, '@')) {
      size_t colon = p;
      while (colon < end && !IsSpecial(colon, ':')) ++colon;
      if (colon < end) {
        a.adl = Concat(p, colon);
        p = colon + 1;
      }
    }
    size_t at = p;
    while (at < end && !IsSpecial(at, '@')) ++at;
    a.mailbox = OrMissing(Concat(p, at), kMissingMailbox);
    a.host = OrMissing(at < end ? Concat(at + 1, end) : std::string(), kMissingDomain);
  }

  // Junk after an address runs to the next ',' (or ';', which may close a group).
  size_t SkipToSeparator(size_t k) const {
    while (k < tokens_.size() && !IsSpecial(k, ',') && !IsSpecial(k, ';')) ++k;
    return k;
  }

  std::vector<Token> tokens_;
  std::vector<Comment> comments_;
};

// ---------------------------------------------------------------------------------------
// MIME header fields.

struct MediaType {
  bool valid = false;
  std::string type;
  std::string subtype;
  std::vector<RawParameter> params;
};

// RFC 2045 section 5.1: type "/" subtype *(";" parameter).
MediaType ParseMediaType(std::string_view value) {
  MediaType mt;
  size_t i = 0;
  SkipCfws(value, i);
  const std::string_view type = ReadToken(value, i);
  SkipCfws(value, i);
  if (type.empty() || i >= value.size() || value[i] != '/') return mt;
  ++i;
  SkipCfws(value, i);
  const std::string_view subtype = ReadToken(value, i);
  if (subtype.empty()) return mt;
  mt.valid = true;
  mt.type = std::string(type);
  mt.subtype = std::string(subtype);
  mt.params = SplitParameters(value.substr(i));
  return mt;
}

// A single token value (Content-Transfer-Encoding, Content-Disposition type) and, for the
// latter, its parameters.
std::string_view LeadingToken(std::string_view value, size_t& i) {
  SkipCfws(value, i);
  return ReadToken(value, i);
}

std::vector<std::string> ParseLanguages(std::string_view value) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < value.size()) {
    SkipCfws(value, i);
    const size_t begin = i;
    while (i < value.size() && value[i] != ',' && !IsLwsp(value[i]) && value[i] != '(') ++i;
    if (i > begin) out.emplace_back(value.substr(begin, i - begin));
    SkipCfws(value, i);
    if (i < value.size() && value[i] == ',') {
      ++i;
    } else if (i < value.size() && i == begin) {
      ++i;  // stray character
    }
  }
  return out;
}

void SetDefaultText(BodyPart& part) {
  part.type = "TEXT";
  part.subtype = "PLAIN";
  part.params = {{"CHARSET", "US-ASCII"}};
}

void SetOpaque(BodyPart& part) {
  part.type = "APPLICATION";
  part.subtype = "OCTET-STREAM";
  part.params.clear();
}

enum class Kind { kLeaf, kMultipart, kMessage };

// ---------------------------------------------------------------------------------------
// The parser.

// A delimiter line found while scanning, or the end of the input (level == kNoLevel).
struct Hit {
  size_t line_start = 0;
  size_t content_end = 0;   // where the part before it ends: the CRLF belongs to the delimiter
  size_t next = 0;          // first byte after the delimiter line
  size_t level = kNoLevel;  // index into Parser::boundaries_
  bool close = false;       // "--boundary--"
};

struct HeaderScan {
  size_t fields_end = 0;   // end of the header lines (before the blank line)
  size_t header_end = 0;   // start of the body (after the blank line)
  std::optional<Hit> hit;  // a delimiter ended the part inside its header
};

class Parser {
 public:
  Parser(std::string_view raw, const Limits& limits, ParsedMessage& out)
      : raw_(raw), limits_(limits), out_(out) {
    limits_.max_depth = std::min(limits_.max_depth, kMaxSupportedDepth);
    limits_.max_parts = std::max<size_t>(limits_.max_parts, 1);
  }

  void Run() {
    out_.size = raw_.size();
    part_count_ = 1;
    ParseEntity(out_.body, 0, 0, /*in_digest=*/false, "");
    out_.envelope = ParseEnvelope(out_.body.headers);
    Flatten(out_.body);
  }

 private:
  void Warn(std::string message) {
    if (out_.warnings.size() < kMaxWarnings) out_.warnings.push_back(std::move(message));
  }

  void LimitHit(std::string message) {
    out_.truncated = true;
    Warn(std::move(message));
  }

  Hit EndOfInput() const {
    const size_t n = raw_.size();
    return Hit{n, n, n, kNoLevel, false};
  }

  // Is the line at `line_start` a delimiter of an active multipart? `floor` is the start of
  // the part being scanned: the CRLF before the delimiter is not taken from before it.
  std::optional<Hit> MatchDelimiter(size_t line_start, size_t floor) const {
    const size_t n = raw_.size();
    if (boundaries_.empty() || line_start + 2 > n || raw_[line_start] != '-' ||
        raw_[line_start + 1] != '-') {
      return std::nullopt;
    }
    const Line line = LineAt(raw_, line_start, n);
    const std::string_view rest = raw_.substr(line_start + 2, line.content_end - line_start - 2);
    size_t best = kNoLevel;
    for (size_t k = boundaries_.size(); k-- > 0;) {  // innermost first
      const std::string& b = boundaries_[k];
      if (rest.starts_with(b) && (best == kNoLevel || b.size() > boundaries_[best].size())) {
        best = k;
      }
    }
    if (best == kNoLevel) return std::nullopt;
    size_t eol = 0;
    if (line_start >= 1 && raw_[line_start - 1] == '\n') {
      eol = (line_start >= 2 && raw_[line_start - 2] == '\r') ? 2 : 1;
    }
    Hit hit;
    hit.line_start = line_start;
    hit.content_end = std::max(floor, line_start - eol);
    hit.next = line.next;
    hit.level = best;
    hit.close = rest.substr(boundaries_[best].size()).starts_with("--");
    return hit;
  }

  // The first delimiter line at or after `from` (a line start), or the end of the input.
  // `floor` is the start of the part that the delimiter ends (see MatchDelimiter).
  Hit FindHit(size_t from, size_t floor) const {
    if (boundaries_.empty()) return EndOfInput();
    const size_t n = raw_.size();
    size_t pos = from;
    while (pos < n) {
      if (std::optional<Hit> hit = MatchDelimiter(pos, floor)) return *hit;
      const size_t lf = raw_.find('\n', pos);
      if (lf == std::string_view::npos) break;
      pos = lf + 1;
    }
    return EndOfInput();
  }

  HeaderScan ScanHeader(size_t start) const {
    const size_t n = raw_.size();
    size_t pos = start;
    while (pos < n) {
      if (std::optional<Hit> hit = MatchDelimiter(pos, start)) {
        return HeaderScan{hit->content_end, hit->content_end, hit};
      }
      const Line line = LineAt(raw_, pos, n);
      if (line.content_end == pos) return HeaderScan{pos, line.next, std::nullopt};
      pos = line.next;
    }
    return HeaderScan{n, n, std::nullopt};
  }

  // Fills the MIME fields of `part` from its header and says how its body is parsed.
  Kind ApplyMimeHeaders(BodyPart& part, bool in_digest) {
    const std::vector<HeaderField>& h = part.headers;
    Kind kind = Kind::kLeaf;
    if (const HeaderField* ct = FindHeader(h, "Content-Type"); ct == nullptr) {
      if (in_digest) {  // RFC 2046 section 5.1.5
        part.type = "MESSAGE";
        part.subtype = "RFC822";
      } else {  // RFC 2045 section 5.2
        SetDefaultText(part);
      }
    } else if (MediaType mt = ParseMediaType(ct->value); !mt.valid) {
      Warn(Cat("invalid Content-Type \"", ct->value.substr(0, 80), "\", using text/plain"));
      SetDefaultText(part);
    } else {
      part.type = std::move(mt.type);
      part.subtype = std::move(mt.subtype);
      part.params = DecodeParameters(mt.params);
    }
    if (part.IsText() && !FindParam(part.params, "charset")) {
      part.params.emplace_back("CHARSET", "US-ASCII");  // RFC 2046 section 4.1.2 default
    }
    if (EqualsIgnoreCase(part.type, "multipart")) {
      std::optional<std::string_view> boundary = FindParam(part.params, "boundary");
      if (!boundary || boundary->empty()) {
        Warn(Cat("multipart without boundary in part \"", part.offsets.section,
                 "\", using text/plain"));
        SetDefaultText(part);
      } else {
        kind = Kind::kMultipart;
      }
    } else if (part.IsMessageRfc822()) {
      kind = Kind::kMessage;
    }

    if (const HeaderField* cte = FindHeader(h, "Content-Transfer-Encoding")) {
      size_t i = 0;
      if (std::string_view token = LeadingToken(cte->value, i); !token.empty()) {
        part.encoding = std::string(token);
      }
    }
    part.id = NonEmptyValue(h, "Content-ID");
    part.description = NonEmptyValue(h, "Content-Description");
    part.md5 = NonEmptyValue(h, "Content-MD5");
    part.location = NonEmptyValue(h, "Content-Location");
    if (const HeaderField* cl = FindHeader(h, "Content-Language")) {
      part.language = ParseLanguages(cl->value);
    }
    if (const HeaderField* cd = FindHeader(h, "Content-Disposition")) {
      size_t i = 0;
      if (std::string_view token = LeadingToken(cd->value, i); !token.empty()) {
        part.disposition = std::string(token);
        part.disposition_params = DecodeParameters(SplitParameters(cd->value.substr(i)));
      }
    }
    return kind;
  }

  // Parses one entity (header and body) starting at `start`; returns the delimiter (or end of
  // input) that ended it.
  Hit ParseEntity(BodyPart& part, size_t start, size_t depth, bool in_digest,
                  const std::string& section) {
    part.offsets.section = section;
    part.offsets.header_start = start;
    const HeaderScan scan = ScanHeader(start);
    if (!ParseHeaderFields(raw_, start, scan.fields_end, limits_, part.headers)) {
      LimitHit(Cat("header of part \"", section, "\" exceeds the header limits; rest ignored"));
    }
    Kind kind = ApplyMimeHeaders(part, in_digest);
    const size_t body_start = scan.header_end;
    part.offsets.header_end = body_start;

    if (kind != Kind::kLeaf && depth >= limits_.max_depth) {
      LimitHit(Cat("part \"", section, "\" nested deeper than ", limits_.max_depth,
                   " levels; kept opaque"));
      SetOpaque(part);
      kind = Kind::kLeaf;
    }
    if (kind == Kind::kMessage && part_count_ >= limits_.max_parts) {
      LimitHit(Cat("more than ", limits_.max_parts, " parts; message/rfc822 kept opaque"));
      SetOpaque(part);
      kind = Kind::kLeaf;
    }

    Hit hit;
    if (scan.hit) {
      // A delimiter inside the header: the part has no body. A multipart has no parts then,
      // and an encapsulated message is empty.
      hit = *scan.hit;
      if (kind == Kind::kMultipart) {
        Warn(Cat("multipart part \"", section, "\" has no body, using text/plain"));
        SetDefaultText(part);
      } else if (kind == Kind::kMessage) {
        BodyPart root;
        ++part_count_;
        root.offsets = PartOffsets{section, body_start, body_start, body_start};
        SetDefaultText(root);
        part.envelope = ParseEnvelope(root.headers);
        part.children.push_back(std::move(root));
      }
    } else if (kind == Kind::kMultipart) {
      hit = ParseMultipart(part, body_start, depth);
    } else if (kind == Kind::kMessage) {
      BodyPart root;
      ++part_count_;
      hit = ParseEntity(root, body_start, depth + 1, /*in_digest=*/false, section);
      part.envelope = ParseEnvelope(root.headers);
      part.children.push_back(std::move(root));
    } else {
      hit = FindHit(body_start, body_start);
    }

    size_t body_end = std::max(body_start, hit.content_end);
    for (const BodyPart& child : part.children) {
      body_end = std::max(body_end, child.offsets.body_end);
    }
    part.offsets.body_end = body_end;
    part.size = body_end - body_start;
    if (!part.IsMultipart()) part.lines = CountLines(raw_.substr(body_start, part.size));
    return hit;
  }

  Hit ParseMultipart(BodyPart& part, size_t body_start, size_t depth) {
    const bool digest = EqualsIgnoreCase(part.subtype, "digest");
    boundaries_.emplace_back(*FindParam(part.params, "boundary"));
    const size_t level = boundaries_.size() - 1;
    Hit hit = FindHit(body_start, body_start);  // the preamble is skipped
    size_t index = 0;
    bool over_limit = false;
    while (hit.level == level && !hit.close) {
      if (part_count_ >= limits_.max_parts) {
        if (!over_limit) LimitHit(Cat("more than ", limits_.max_parts, " parts; rest skipped"));
        over_limit = true;
        hit = FindHit(hit.next, body_start);
        continue;
      }
      ++part_count_;
      BodyPart child;
      hit = ParseEntity(child, hit.next, depth + 1, digest,
                        ChildSection(part.offsets.section, ++index));
      part.children.push_back(std::move(child));
    }
    boundaries_.pop_back();
    if (hit.level == level) {
      // The epilogue runs to the enclosing delimiter, whose CRLF may be the one ending the
      // close delimiter line ("--inner--" CRLF "--outer").
      hit = FindHit(hit.next, body_start);
    } else {
      Warn(Cat("multipart part \"", part.offsets.section, "\" has no close delimiter"));
    }
    if (part.children.empty()) {
      Warn(
          Cat("multipart part \"", part.offsets.section, "\" has no body parts, using text/plain"));
      SetDefaultText(part);
    }
    return hit;
  }

  void Flatten(const BodyPart& part) {
    out_.parts.push_back(part.offsets);
    for (const BodyPart& child : part.children) Flatten(child);
  }

  std::string_view raw_;
  Limits limits_;
  ParsedMessage& out_;
  std::vector<std::string> boundaries_;  // active multipart boundaries, outermost first
  size_t part_count_ = 0;
};

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

bool BodyPart::IsMultipart() const { return EqualsIgnoreCase(type, "multipart"); }

bool BodyPart::IsMessageRfc822() const {
  return EqualsIgnoreCase(type, "message") && EqualsIgnoreCase(subtype, "rfc822");
}

bool BodyPart::IsText() const { return EqualsIgnoreCase(type, "text"); }

const HeaderField* FindHeader(const std::vector<HeaderField>& headers, std::string_view name) {
  for (const HeaderField& f : headers) {
    if (EqualsIgnoreCase(f.name, name)) return &f;
  }
  return nullptr;
}

std::optional<std::string_view> FindParam(const Params& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::vector<Address> ParseAddressList(std::string_view value) {
  return AddressParser(value).Parse();
}

Envelope ParseEnvelope(const std::vector<HeaderField>& headers) {
  Envelope e;
  e.date = FirstValue(headers, "Date");
  e.subject = FirstValue(headers, "Subject");
  auto addresses = [&](std::string_view name) {
    const HeaderField* f = FindHeader(headers, name);
    return f == nullptr ? std::vector<Address>() : ParseAddressList(f->value);
  };
  e.from = addresses("From");
  e.sender = addresses("Sender");
  e.reply_to = addresses("Reply-To");
  e.to = addresses("To");
  e.cc = addresses("Cc");
  e.bcc = addresses("Bcc");
  // RFC 3501 section 7.4.2: absent or empty Sender / Reply-To take the From value.
  if (e.sender.empty()) e.sender = e.from;
  if (e.reply_to.empty()) e.reply_to = e.from;
  e.in_reply_to = FirstValue(headers, "In-Reply-To");
  e.message_id = FirstValue(headers, "Message-ID");
  return e;
}

ParsedMessage ParseMessage(std::string_view raw, const Limits& limits) {
  ParsedMessage out;
  Parser(raw, limits, out).Run();
  return out;
}

std::optional<std::pair<size_t, size_t>> SectionRange(const ParsedMessage& message,
                                                      std::string_view spec) {
  using Range = std::pair<size_t, size_t>;
  const BodyPart& root = message.body;
  if (spec.empty()) return Range{0, message.size};

  // section-part: each number indexes the parts of `container`, which is a multipart or,
  // when it is not, has just part 1 (itself) (RFC 3501 section 6.4.5).
  const BodyPart* container = &root;
  const BodyPart* part = nullptr;
  size_t pos = 0;
  while (pos < spec.size() && spec[pos] >= '0' && spec[pos] <= '9') {
    uint64_t number = 0;
    while (pos < spec.size() && spec[pos] >= '0' && spec[pos] <= '9') {
      number = number * 10 + static_cast<uint64_t>(spec[pos] - '0');
      if (number > 1'000'000'000) return std::nullopt;
      ++pos;
    }
    if (number == 0 || container == nullptr) return std::nullopt;
    if (container->IsMultipart()) {
      if (number > container->children.size()) return std::nullopt;
      part = &container->children[number - 1];
    } else {
      if (number != 1) return std::nullopt;
      part = container;
    }
    if (part->IsMessageRfc822() && part->children.size() == 1) {
      container = &part->children[0];
    } else if (part->IsMultipart()) {
      container = part;
    } else {
      container = nullptr;
    }
    if (pos == spec.size()) return Range{part->offsets.header_end, part->offsets.body_end};
    if (spec[pos] != '.') return std::nullopt;
    ++pos;
  }

  const std::string_view text = spec.substr(pos);
  if (part == nullptr) {
    if (EqualsIgnoreCase(text, "HEADER"))
      return Range{root.offsets.header_start, root.offsets.header_end};
    if (EqualsIgnoreCase(text, "TEXT"))
      return Range{root.offsets.header_end, root.offsets.body_end};
    return std::nullopt;
  }
  if (EqualsIgnoreCase(text, "MIME"))
    return Range{part->offsets.header_start, part->offsets.header_end};
  if (!part->IsMessageRfc822() || part->children.size() != 1) return std::nullopt;
  const PartOffsets& inner = part->children[0].offsets;
  if (EqualsIgnoreCase(text, "HEADER")) return Range{inner.header_start, inner.header_end};
  if (EqualsIgnoreCase(text, "TEXT")) return Range{inner.header_end, inner.body_end};
  return std::nullopt;
}

std::string HeaderFields(std::string_view block, const std::vector<std::string>& names,
                         bool exclude) {
  std::string out;
  bool unterminated = false;
  size_t pos = 0;
  const size_t n = block.size();
  while (pos < n) {
    const Line first = LineAt(block, pos, n);
    if (first.content_end == pos) {  // the blank line ends the header
      if (unterminated) out += "\r\n";
      out.append(block.substr(pos, first.next - pos));
      return out;
    }
    size_t field_end = first.next;
    while (field_end < n && IsWsp(block[field_end])) field_end = LineAt(block, field_end, n).next;
    const std::string_view line = block.substr(pos, first.content_end - pos);
    const size_t colon = line.find(':');
    if (!IsWsp(block[pos]) && colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);
      if (IsFieldName(name)) {
        const bool listed = std::any_of(names.begin(), names.end(), [&](const std::string& want) {
          return EqualsIgnoreCase(want, name);
        });
        if (listed != exclude) {
          out.append(block.substr(pos, field_end - pos));
          unterminated = block[field_end - 1] != '\n';
        }
      }
    }
    pos = field_end;
  }
  if (unterminated) out += "\r\n";
  return out;
}

std::optional<std::string> SectionHeaderFields(std::string_view raw, const ParsedMessage& message,
                                               std::string_view part,
                                               const std::vector<std::string>& names,
                                               bool exclude) {
  const std::optional<std::pair<size_t, size_t>> range =
      SectionRange(message, part.empty() ? std::string("HEADER") : Cat(part, ".HEADER"));
  if (!range || range->second > raw.size()) return std::nullopt;
  return HeaderFields(raw.substr(range->first, range->second - range->first), names, exclude);
}

}  // namespace tern::mime
