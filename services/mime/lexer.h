#pragma once

// Character classes and skipping shared by the MIME header parsers (RFC 5322, RFC 2045).

#include <cstddef>
#include <string_view>

namespace tern::mime::lexer {

inline bool IsLwsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// RFC 2045 5.1 token character.
inline bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// Skips white space, line breaks and (nested) comments; RFC 2045 allows comments in all
// the MIME header fields.
inline void SkipCfws(std::string_view s, size_t& i) {
  while (i < s.size()) {
    if (IsLwsp(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      int depth = 0;
      while (i < s.size()) {
        const char c = s[i++];
        if (c == '\\' && i < s.size()) {
          ++i;
        } else if (c == '(') {
          ++depth;
        } else if (c == ')' && --depth == 0) {
          break;
        }
      }
    } else {
      return;
    }
  }
}

}  // namespace tern::mime::lexer
