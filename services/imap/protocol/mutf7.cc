#include "services/imap/protocol/mutf7.h"

#include <cstdint>
#include <vector>

namespace tern::imap::protocol {
namespace {

// RFC 3501 5.1.3: modified BASE64 uses "," instead of "/".
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int DecodeBase64Char(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == ',') {
    return 63;
  }
  return -1;
}

bool IsPrintableAscii(uint32_t c) { return c >= 0x20 && c <= 0x7e; }

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Decodes one UTF-8 code point at s[i], advancing i; invalid sequences (overlong forms,
// surrogates, > U+10FFFF, truncation) yield U+FFFD and advance by one byte.
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  constexpr uint32_t kReplacement = 0xfffd;
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    ++i;
    return b0;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1f;
    min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0f;
    min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    ++i;
    return kReplacement;
  }
  if (i + len > s.size()) {
    ++i;
    return kReplacement;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) {
      ++i;
      return kReplacement;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    ++i;
    return kReplacement;
  }
  i += len;
  return cp;
}

void AppendShifted(std::string& out, const std::vector<uint32_t>& code_points) {
  std::vector<uint8_t> bytes;
  for (uint32_t cp : code_points) {
    if (cp >= 0x10000) {
      cp -= 0x10000;
      const uint32_t hi = 0xd800 | (cp >> 10);
      const uint32_t lo = 0xdc00 | (cp & 0x3ff);
      bytes.push_back(static_cast<uint8_t>(hi >> 8));
      bytes.push_back(static_cast<uint8_t>(hi & 0xff));
      bytes.push_back(static_cast<uint8_t>(lo >> 8));
      bytes.push_back(static_cast<uint8_t>(lo & 0xff));
    } else {
      bytes.push_back(static_cast<uint8_t>(cp >> 8));
      bytes.push_back(static_cast<uint8_t>(cp & 0xff));
    }
  }
  out.push_back('&');
  uint32_t bits = 0;
  int nbits = 0;
  for (const uint8_t b : bytes) {
    bits = (bits << 8) | b;
    nbits += 8;
    while (nbits >= 6) {
      nbits -= 6;
      out.push_back(kAlphabet[(bits >> nbits) & 0x3f]);
    }
  }
  if (nbits > 0) {
    out.push_back(kAlphabet[(bits << (6 - nbits)) & 0x3f]);  // zero padding bits, no "="
  }
  out.push_back('-');
}

}  // namespace

std::optional<std::string> DecodeMailboxName(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (!IsPrintableAscii(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    ++i;
    const size_t dash = s.find('-', i);
    if (dash == std::string_view::npos) {
      return std::nullopt;
    }
    if (dash == i) {
      out.push_back('&');  // "&-"
      i = dash + 1;
      continue;
    }
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high_surrogate = 0;
    size_t units = 0;
    for (; i < dash; ++i) {
      const int v = DecodeBase64Char(s[i]);
      if (v < 0) {
        return std::nullopt;
      }
      bits = ((bits << 6) | static_cast<uint32_t>(v)) & 0xffffff;
      nbits += 6;
      if (nbits < 16) {
        continue;
      }
      nbits -= 16;
      const uint32_t unit = (bits >> nbits) & 0xffff;
      ++units;
      if (high_surrogate != 0) {
        if (unit < 0xdc00 || unit > 0xdfff) {
          return std::nullopt;
        }
        AppendUtf8(out, 0x10000 + ((high_surrogate - 0xd800) << 10) + (unit - 0xdc00));
        high_surrogate = 0;
      } else if (unit >= 0xd800 && unit <= 0xdbff) {
        high_surrogate = unit;
      } else if (unit >= 0xdc00 && unit <= 0xdfff) {
        return std::nullopt;
      } else if (unit == 0 || IsPrintableAscii(unit)) {
        return std::nullopt;  // printable US-ASCII MUST represent itself; no NUL
      } else {
        AppendUtf8(out, unit);
      }
    }
    // Leftover bits must be fewer than 6 and all zero, and no surrogate may be left open.
    if (units == 0 || high_surrogate != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0) {
      return std::nullopt;
    }
    i = dash + 1;
  }
  return out;
}

std::string EncodeMailboxName(std::string_view utf8) {
  std::string out;
  std::vector<uint32_t> run;
  size_t i = 0;
  while (i < utf8.size()) {
    uint32_t cp = NextCodePoint(utf8, i);
    if (cp == 0) {
      cp = 0xfffd;  // DecodeMailboxName() rejects U+0000; keep the output decodable
    }
    if (IsPrintableAscii(cp)) {
      if (!run.empty()) {
        AppendShifted(out, run);
        run.clear();
      }
      if (cp == '&') {
        out += "&-";
      } else {
        out.push_back(static_cast<char>(cp));
      }
    } else {
      run.push_back(cp);
    }
  }
  if (!run.empty()) {
    AppendShifted(out, run);
  }
  return out;
}

}  // namespace tern::imap::protocol
