#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::metadata {

// Mailbox names as metad stores them (proto/tern/metadata/v1/metadata.proto header):
// UTF-8, hierarchy delimiter '/', a trailing '/' ignored, no empty components, no '*' or
// '%', no control characters, at most 1024 bytes and 32 levels. "INBOX" (any case) as the
// first component is spelled "INBOX".
absl::StatusOr<std::string> CanonicalMailboxName(std::string_view name);

// RFC 3501 6.3.8: '*' matches any characters, '%' any except the delimiter. The INBOX
// component of the pattern is case-insensitive like the name.
bool MatchesPattern(std::string_view name, std::string_view pattern);

// The names above name ("a/b/c" -> "a", "a/b").
std::vector<std::string> SuperiorNames(std::string_view name);

bool IsInferiorOf(std::string_view name, std::string_view superior);

}  // namespace tern::metadata
