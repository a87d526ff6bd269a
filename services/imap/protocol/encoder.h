#pragma once

// The only place that writes IMAP protocol bytes (RFC 3501 section 9 syntax). Every function
// appends to `out`; none of them can produce invalid syntax for any input: strings become
// atoms, quoted strings or literals as their bytes require, response text loses CR and LF,
// lines end in exactly one CRLF.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::imap::protocol {

// RFC 3501 7.1 / RFC 5530 response codes, as they appear between the brackets.
namespace code {
inline constexpr std::string_view kAlert = "ALERT";
inline constexpr std::string_view kAlreadyExists = "ALREADYEXISTS";
inline constexpr std::string_view kAuthenticationFailed = "AUTHENTICATIONFAILED";
inline constexpr std::string_view kAuthorizationFailed = "AUTHORIZATIONFAILED";
inline constexpr std::string_view kCannot = "CANNOT";
inline constexpr std::string_view kClientBug = "CLIENTBUG";
inline constexpr std::string_view kContactAdmin = "CONTACTADMIN";
inline constexpr std::string_view kExpired = "EXPIRED";
inline constexpr std::string_view kHasChildren = "HASCHILDREN";
inline constexpr std::string_view kInUse = "INUSE";
inline constexpr std::string_view kLimit = "LIMIT";
inline constexpr std::string_view kNonExistent = "NONEXISTENT";
inline constexpr std::string_view kNoPerm = "NOPERM";
inline constexpr std::string_view kOverQuota = "OVERQUOTA";
inline constexpr std::string_view kParse = "PARSE";
inline constexpr std::string_view kPrivacyRequired = "PRIVACYREQUIRED";
inline constexpr std::string_view kReadOnly = "READ-ONLY";
inline constexpr std::string_view kReadWrite = "READ-WRITE";
inline constexpr std::string_view kServerBug = "SERVERBUG";
inline constexpr std::string_view kTooBig = "TOOBIG";
inline constexpr std::string_view kTryCreate = "TRYCREATE";
inline constexpr std::string_view kUnavailable = "UNAVAILABLE";
inline constexpr std::string_view kUseAttr = "USEATTR";
}  // namespace code

// Bytes allowed in an atom (RFC 3501 9 ATOM-CHAR): printable US-ASCII except
// ( ) { SP % * " \ ] and CTL.
bool IsAtomChar(char c);

// Appends `s` as an IMAP string: a quoted string when every byte is printable US-ASCII
// (0x20-0x7e: no 8-bit byte and no control character such as CR, LF, NUL or TAB) and it is
// at most 1024 bytes; a literal {n}CRLF<bytes> otherwise.
void AppendString(std::string& out, std::string_view s);
// As AppendString, but an atom when `s` is a non-empty atom that is not "NIL" in any case
// and has no "[" (astring).
void AppendAstring(std::string& out, std::string_view s);
// NIL for nullopt, else AppendString.
void AppendNString(std::string& out, const std::optional<std::string_view>& s);
// Always a literal: "{n}" CRLF bytes. NUL octets, which a literal may not carry
// (RFC 3501 9 CHAR8), are sent as 0x80.
void AppendLiteral(std::string& out, std::string_view s);
// A literal8 "~{n}" CRLF bytes (RFC 3516 4.2), for BINARY[] data that contains NUL.
void AppendLiteral8(std::string& out, std::string_view s);
// A UTF-8 mailbox name as modified UTF-7 (RFC 3501 5.1.3) astring; "INBOX" stays an atom.
void AppendMailbox(std::string& out, std::string_view utf8_name);

// Ascending, duplicate-free numbers as a compact sequence-set: {1,2,3,5,7,8} -> "1:3,5,7:8".
// Empty input gives "".
std::string FormatSequenceSet(const std::vector<uint32_t>& sorted);

// Response text (RFC 3501 9 "text" is 1*TEXT-CHAR): CR, LF and NUL become spaces, and an
// empty text is written as "completed" so the line stays valid.
void AppendText(std::string& out, std::string_view text);

enum class Status { kOk, kNo, kBad, kBye, kPreauth };
std::string_view StatusName(Status status);

// "<tag> OK [CODE] text\r\n"; code may be empty (no brackets) and may carry arguments
// ("APPENDUID 38505 3955"). Tag "*" for untagged status responses.
void AppendStatus(std::string& out, std::string_view tag, Status status, std::string_view code,
                  std::string_view text);
// "+ text\r\n" (continuation request, RFC 3501 7.5); text may be base64 for SASL.
void AppendContinuation(std::string& out, std::string_view text);

// Date-time of INTERNALDATE (RFC 3501 9 date-time): "17-Jul-1996 02:44:25 -0700", quoted,
// for the instant `unix_seconds` shown at UTC offset `utc_offset_minutes`.
void AppendDateTime(std::string& out, int64_t unix_seconds, int utc_offset_minutes);

}  // namespace tern::imap::protocol
