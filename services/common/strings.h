#pragma once

// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), so absl::StrCat does not take std::string_view. Our code uses std::string_view and
// these small helpers instead.

#include <concepts>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace tern {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view FromAbsl(absl::string_view s) { return {s.data(), s.size()}; }

namespace strings_internal {
inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) inline void Append(std::string& out,
                                                                              T v) {
  out.append(std::to_string(v));
}
}  // namespace strings_internal

// Concatenates strings, string views (std or absl), characters and integers.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

template <typename... Args>
void CatAppend(std::string& out, const Args&... args) {
  (strings_internal::Append(out, args), ...);
}

}  // namespace tern
