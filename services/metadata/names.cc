#include "services/metadata/names.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"

namespace tern::metadata {
namespace {

constexpr size_t kMaxNameBytes = 1024;
constexpr int kMaxLevels = 32;

// "inbox" and "INBOX/x" -> "INBOX", "INBOX/x".
std::string CanonicalInbox(std::string_view name) {
  const std::string_view first = name.substr(0, name.find('/'));
  if (first.size() == 5 && absl::AsciiStrToUpper(std::string(first)) == "INBOX") {
    return "INBOX" + std::string(name.substr(5));
  }
  return std::string(name);
}

// Dynamic programming over (pattern prefix, name prefix): O(|name| * |pattern|), no
// backtracking blow-up whatever the pattern.
bool Match(std::string_view name, std::string_view pattern) {
  std::vector<char> row(name.size() + 1, 0), next(name.size() + 1, 0);
  row[0] = 1;  // empty pattern matches empty name
  for (char pc : pattern) {
    std::fill(next.begin(), next.end(), 0);
    if (pc == '*' || pc == '%') {
      // next[j] = row[j] (match nothing) or next[j-1] extended by name[j-1].
      next[0] = row[0];
      for (size_t j = 1; j <= name.size(); ++j) {
        next[j] = row[j] || (next[j - 1] && (pc == '*' || name[j - 1] != '/'));
      }
    } else {
      for (size_t j = 1; j <= name.size(); ++j) next[j] = row[j - 1] && name[j - 1] == pc;
    }
    row.swap(next);
  }
  return row[name.size()] != 0;
}

}  // namespace

absl::StatusOr<std::string> CanonicalMailboxName(std::string_view name) {
  while (!name.empty() && name.back() == '/') name.remove_suffix(1);
  if (name.empty()) return absl::InvalidArgumentError("empty mailbox name");
  if (name.size() > kMaxNameBytes) return absl::InvalidArgumentError("mailbox name too long");
  int levels = 1;
  char previous = '/';
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == '*' || c == '%') {
      return absl::InvalidArgumentError("mailbox name has a character that is not allowed");
    }
    if (c == '/') {
      if (previous == '/') return absl::InvalidArgumentError("empty component in mailbox name");
      ++levels;
    }
    previous = c;
  }
  if (levels > kMaxLevels) return absl::InvalidArgumentError("mailbox name too deep");
  return CanonicalInbox(name);
}

bool MatchesPattern(std::string_view name, std::string_view pattern) {
  return Match(name, CanonicalInbox(pattern));
}

std::vector<std::string> SuperiorNames(std::string_view name) {
  std::vector<std::string> out;
  for (size_t i = name.find('/'); i != std::string_view::npos; i = name.find('/', i + 1)) {
    out.emplace_back(name.substr(0, i));
  }
  return out;
}

bool IsInferiorOf(std::string_view name, std::string_view superior) {
  return name.size() > superior.size() + 1 && name.starts_with(superior) &&
         name[superior.size()] == '/';
}

}  // namespace tern::metadata
