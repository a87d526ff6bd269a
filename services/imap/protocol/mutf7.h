#pragma once

// Modified UTF-7 for mailbox names (RFC 3501 5.1.3).

#include <optional>
#include <string>
#include <string_view>

namespace tern::imap::protocol {

// Decodes a modified UTF-7 mailbox name to UTF-8. Returns nullopt for malformed input:
// bytes outside printable US-ASCII, an unterminated "&" shift, bad modified BASE64, non-zero
// padding bits, an odd number of UTF-16 bytes, unpaired surrogates, or a shifted sequence
// that encodes printable US-ASCII (RFC 3501 5.1.3 says such characters MUST represent
// themselves).
std::optional<std::string> DecodeMailboxName(std::string_view modified_utf7);

// Encodes a UTF-8 mailbox name as modified UTF-7. Invalid UTF-8 sequences and NUL are encoded
// as U+FFFD, so the result always decodes with DecodeMailboxName().
std::string EncodeMailboxName(std::string_view utf8);

}  // namespace tern::imap::protocol
