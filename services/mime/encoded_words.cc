#include "services/mime/encoded_words.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "services/mime/lexer.h"

namespace tern::mime {
namespace {

using lexer::IsLwsp;
using lexer::IsTokenChar;
using lexer::SkipCfws;
using lexer::ToLowerAscii;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool AllSevenBit(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Lower case without '-' and '_', so "ISO_8859-1", "iso-8859-1" and "ISO8859_1" compare equal.
std::string NormalizeCharset(std::string_view charset) {
  std::string out;
  out.reserve(charset.size());
  for (char c : charset) {
    if (c == '-' || c == '_') continue;
    out.push_back(ToLowerAscii(c));
  }
  return out;
}

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

// IANA names and aliases, normalized as above.
bool IsUtf8Charset(std::string_view c) { return IsOneOf(c, {"utf8"}); }

bool IsAsciiCharset(std::string_view c) {
  return IsOneOf(c, {"usascii", "ascii", "us", "ansix3.41968", "ansix3.41986", "iso646us",
                     "iso646.irv:1991", "isoir6", "cp367", "ibm367", "csascii"});
}

bool IsLatin1Charset(std::string_view c) {
  return IsOneOf(c, {"iso88591", "iso88591:1987", "latin1", "l1", "isoir100", "cp819", "ibm819",
                     "csisolatin1"});
}

// Charsets in which every octet below 0x80 is the US-ASCII character (so 7-bit text in them
// is exactly ASCII). ISO-2022-*, UTF-7, UTF-16/32 and Shift_JIS are deliberately absent.
bool IsAsciiSuperset(std::string_view c) {
  if (c.starts_with("iso8859") || c.starts_with("windows125") || c.starts_with("cp125")) {
    return true;
  }
  return IsOneOf(c, {"koi8r", "koi8u", "gb2312", "gbk", "gb18030", "big5", "big5hkscs", "eucjp",
                     "euckr", "euctw", "tis620", "macintosh", "cp850", "cp437", "viscii"});
}

std::string Latin1ToUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// RFC 2047 section 4.1 "B" encoding (RFC 4648 base64). Padding may be missing; anything
// outside the alphabet makes the word undecodable.
std::optional<std::string> DecodeBase64(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size(); ++i) {
    const char c = in[i];
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  for (; i < in.size(); ++i) {
    if (in[i] != '=') return std::nullopt;
  }
  if (bits >= 6) return std::nullopt;  // a lone sextet cannot encode an octet
  return out;
}

// RFC 2047 section 4.2 "Q" encoding. Lenient: a '=' without two hex digits is kept.
std::string DecodeQ(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '_') {
      out.push_back(' ');
    } else if (c == '=' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
               HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Finds the next occurrence of one of `chars` at or after a position, remembering the last
// answer. Queries mostly move forward; a query a little behind the remembered one only scans
// up to it. This keeps DecodeEncodedWords linear even on input full of "=?" that never closes.
class NextOf {
 public:
  NextOf(std::string_view text, std::string_view chars) : text_(text), chars_(chars) {}
  size_t From(size_t pos) {
    if (valid_ && pos < from_) {
      const size_t r = text_.substr(0, from_).find_first_of(chars_, pos);
      return r != std::string_view::npos ? r : cached_;
    }
    if (!valid_ || cached_ < pos) {
      cached_ = text_.find_first_of(chars_, pos);
      from_ = pos;
      valid_ = true;
    }
    return cached_;
  }

 private:
  std::string_view text_;
  std::string_view chars_;
  size_t from_ = 0;
  size_t cached_ = 0;
  bool valid_ = false;
};

struct Segment {
  bool is_word = false;
  std::string_view original;
  std::string charset;  // normalized, language suffix removed
  std::string bytes;    // decoded octets of a word
};

constexpr size_t kMaxCharsetLength = 64;

// Parses the encoded word starting at text[pos] ("=?"). On success returns the word segment
// and sets *end past its "?=".
std::optional<Segment> ParseEncodedWord(std::string_view text, size_t pos, NextOf& question,
                                        NextOf& space, size_t* end) {
  const size_t charset_begin = pos + 2;
  const size_t q1 = question.From(charset_begin);
  if (q1 == std::string_view::npos || q1 == charset_begin ||
      q1 - charset_begin > kMaxCharsetLength) {
    return std::nullopt;
  }
  std::string_view charset = text.substr(charset_begin, q1 - charset_begin);
  for (char c : charset) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7F) {
      return std::nullopt;
    }
  }
  if (q1 + 2 >= text.size() || text[q1 + 2] != '?') return std::nullopt;
  const char encoding = ToLowerAscii(text[q1 + 1]);
  if (encoding != 'b' && encoding != 'q') return std::nullopt;
  const size_t payload_begin = q1 + 3;
  // The encoded text ends at the next '?', which must be followed by '='; it may not
  // contain white space (RFC 2047 section 2).
  const size_t q3 = question.From(payload_begin);
  if (q3 == std::string_view::npos || q3 + 1 >= text.size() || text[q3 + 1] != '=') {
    return std::nullopt;
  }
  const size_t ws = space.From(payload_begin);
  if (ws != std::string_view::npos && ws < q3) return std::nullopt;
  const std::string_view payload = text.substr(payload_begin, q3 - payload_begin);

  Segment word;
  word.is_word = true;
  word.original = text.substr(pos, q3 + 2 - pos);
  // RFC 2231 section 5: "charset*language".
  if (const size_t star = charset.find('*'); star != std::string_view::npos) {
    charset = charset.substr(0, star);
  }
  word.charset = NormalizeCharset(charset);
  if (encoding == 'b') {
    std::optional<std::string> bytes = DecodeBase64(payload);
    if (!bytes) return std::nullopt;
    word.bytes = std::move(*bytes);
  } else {
    word.bytes = DecodeQ(payload);
  }
  *end = q3 + 2;
  return word;
}

bool AllLwsp(std::string_view s) { return std::all_of(s.begin(), s.end(), IsLwsp); }

// RFC 2231 attribute-char: token characters except '*', '\'' and '%'.
bool IsAttributeChar(char c) { return IsTokenChar(c) && c != '*' && c != '\'' && c != '%'; }

std::string PercentEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : bytes) {
    if (IsAttributeChar(c)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

constexpr int kMaxSegmentIndex = 9999;

struct Segment2231 {
  int index = 0;
  bool extended = false;
  std::string value;
};

// All parameters sharing one (case-insensitive) name.
struct ParamGroup {
  std::string name;                       // spelling of the first occurrence
  std::vector<std::string> plain_values;  // "name=value"
  std::vector<Segment2231> segments;      // "name*=...", "name*N=...", "name*N*=..."
};

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

ParamGroup& GroupFor(std::vector<ParamGroup>& groups, std::string_view name) {
  for (ParamGroup& g : groups) {
    if (EqualsNoCase(g.name, name)) return g;
  }
  groups.push_back(ParamGroup{std::string(name), {}, {}});
  return groups.back();
}

// Recognises "base*", "base*N" and "base*N*"; returns false for any other name.
bool ParseRfc2231Name(std::string_view name, std::string_view* base, Segment2231* seg) {
  const size_t star = name.find('*');
  if (star == std::string_view::npos || star == 0) return false;
  *base = name.substr(0, star);
  std::string_view rest = name.substr(star + 1);
  if (rest.empty()) {
    seg->index = 0;
    seg->extended = true;
    return true;
  }
  int index = 0;
  size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
    index = index * 10 + (rest[digits] - '0');
    if (index > kMaxSegmentIndex) return false;
    ++digits;
  }
  if (digits == 0) return false;
  rest = rest.substr(digits);
  if (rest.empty()) {
    seg->extended = false;
  } else if (rest == "*") {
    seg->extended = true;
  } else {
    return false;
  }
  seg->index = index;
  return true;
}

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += static_cast<size_t>(len);
  }
  return true;
}

std::optional<std::string> CharsetToUtf8(std::string_view charset, std::string_view bytes) {
  const std::string c = NormalizeCharset(charset);
  if (IsUtf8Charset(c)) {
    if (IsValidUtf8(bytes)) return std::string(bytes);
    return std::nullopt;
  }
  if (IsLatin1Charset(c)) return Latin1ToUtf8(bytes);
  if (IsAsciiCharset(c) || IsAsciiSuperset(c)) {
    if (AllSevenBit(bytes)) return std::string(bytes);
    return std::nullopt;
  }
  return std::nullopt;
}

std::string DecodeEncodedWords(std::string_view text) {
  if (text.find("=?") == std::string_view::npos) return std::string(text);

  // Split into literal text and encoded words.
  std::vector<Segment> segments;
  NextOf question(text, "?");
  NextOf space(text, " \t\r\n");
  size_t literal_begin = 0;
  size_t search = 0;
  while (true) {
    const size_t pos = text.find("=?", search);
    if (pos == std::string_view::npos) break;
    size_t end = 0;
    std::optional<Segment> word = ParseEncodedWord(text, pos, question, space, &end);
    if (!word) {
      search = pos + 1;
      continue;
    }
    if (pos > literal_begin) {
      segments.push_back(Segment{false, text.substr(literal_begin, pos - literal_begin), {}, {}});
    }
    segments.push_back(std::move(*word));
    literal_begin = end;
    search = end;
  }
  if (literal_begin < text.size()) {
    segments.push_back(Segment{false, text.substr(literal_begin), {}, {}});
  }

  std::string out;
  out.reserve(text.size());
  size_t k = 0;
  while (k < segments.size()) {
    if (!segments[k].is_word) {
      out.append(segments[k].original);
      ++k;
      continue;
    }
    // A run of words separated by nothing or by linear white space only.
    std::vector<size_t> run = {k};
    size_t m = k + 1;
    while (m < segments.size()) {
      if (segments[m].is_word) {
        run.push_back(m);
        ++m;
      } else if (AllLwsp(segments[m].original) && m + 1 < segments.size() &&
                 segments[m + 1].is_word) {
        run.push_back(m + 1);
        m += 2;
      } else {
        break;
      }
    }
    // Convert consecutive words of one charset together (a character may be split across
    // words); fall back to word by word when the joined octets do not convert.
    std::vector<std::optional<std::string>> decoded(run.size());
    for (size_t a = 0; a < run.size();) {
      size_t b = a;
      std::string joined;
      while (b < run.size() && segments[run[b]].charset == segments[run[a]].charset) {
        joined += segments[run[b]].bytes;
        ++b;
      }
      if (std::optional<std::string> utf8 = CharsetToUtf8(segments[run[a]].charset, joined)) {
        decoded[a] = std::move(*utf8);
        for (size_t c = a + 1; c < b; ++c) decoded[c] = std::string();
      } else {
        for (size_t c = a; c < b; ++c) {
          decoded[c] = CharsetToUtf8(segments[run[c]].charset, segments[run[c]].bytes);
        }
      }
      a = b;
    }
    for (size_t r = 0; r < run.size(); ++r) {
      if (r > 0 && run[r] - run[r - 1] == 2) {
        // RFC 2047 section 6.2: white space between two encoded words is not displayed.
        if (!decoded[r - 1] || !decoded[r]) out.append(segments[run[r] - 1].original);
      }
      out.append(decoded[r] ? std::string_view(*decoded[r]) : segments[run[r]].original);
    }
    k = m;
  }
  return out;
}

std::vector<RawParameter> SplitParameters(std::string_view text) {
  std::vector<RawParameter> out;
  size_t i = 0;
  while (true) {
    i = text.find(';', i);
    if (i == std::string_view::npos) break;
    ++i;
    SkipCfws(text, i);
    const size_t name_begin = i;
    while (i < text.size() && IsTokenChar(text[i])) ++i;
    std::string name(text.substr(name_begin, i - name_begin));
    SkipCfws(text, i);
    if (name.empty() || i >= text.size() || text[i] != '=') continue;
    ++i;
    SkipCfws(text, i);
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value.push_back(text[i]);
        ++i;
      }
      if (i < text.size()) ++i;  // closing quote
    } else {
      const size_t value_begin = i;
      while (i < text.size() && text[i] != ';' && !IsLwsp(text[i])) ++i;
      value.assign(text.substr(value_begin, i - value_begin));
    }
    out.push_back(RawParameter{std::move(name), std::move(value)});
  }
  return out;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Params DecodeParameters(const std::vector<RawParameter>& raw) {
  std::vector<ParamGroup> groups;
  for (const RawParameter& p : raw) {
    std::string_view base;
    Segment2231 seg;
    if (ParseRfc2231Name(p.name, &base, &seg)) {
      seg.value = p.value;
      GroupFor(groups, base).segments.push_back(std::move(seg));
    } else {
      GroupFor(groups, p.name).plain_values.push_back(p.value);
    }
  }

  Params out;
  for (ParamGroup& g : groups) {
    if (g.segments.empty()) {
      for (std::string& v : g.plain_values) out.emplace_back(g.name, std::move(v));
      continue;
    }
    std::stable_sort(g.segments.begin(), g.segments.end(),
                     [](const Segment2231& a, const Segment2231& b) { return a.index < b.index; });
    // A repeated index keeps its first occurrence.
    g.segments.erase(
        std::unique(g.segments.begin(), g.segments.end(),
                    [](const Segment2231& a, const Segment2231& b) { return a.index == b.index; }),
        g.segments.end());
    const bool extended = std::any_of(g.segments.begin(), g.segments.end(),
                                      [](const Segment2231& s) { return s.extended; });
    if (!extended) {
      std::string joined;
      for (const Segment2231& s : g.segments) joined += s.value;
      out.emplace_back(g.name, std::move(joined));
      continue;
    }
    // RFC 2231 section 4.1: only the first segment carries charset'language'.
    std::string charset;
    std::string language;
    std::string bytes;
    std::string encoded;
    for (size_t i = 0; i < g.segments.size(); ++i) {
      std::string_view v = g.segments[i].value;
      if (!g.segments[i].extended) {
        bytes += v;
        encoded += PercentEncode(v);
        continue;
      }
      if (i == 0) {
        const size_t q1 = v.find('\'');
        const size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
        if (q2 != std::string_view::npos) {
          charset.assign(v.substr(0, q1));
          language.assign(v.substr(q1 + 1, q2 - q1 - 1));
          v = v.substr(q2 + 1);
        }
      }
      bytes += PercentDecode(v);
      encoded += v;
    }
    std::optional<std::string> utf8;
    if (charset.empty()) {
      if (IsValidUtf8(bytes)) utf8 = bytes;
    } else {
      utf8 = CharsetToUtf8(charset, bytes);
    }
    if (utf8) {
      out.emplace_back(g.name, std::move(*utf8));
    } else {
      for (std::string& v : g.plain_values) out.emplace_back(g.name, std::move(v));
      out.emplace_back(g.name + "*", charset + "'" + language + "'" + encoded);
    }
  }
  return out;
}

}  // namespace tern::mime
