#pragma once

// Header text decoding: RFC 2047 encoded words and RFC 2231 parameter values.
//
// Pure functions, no I/O, no globals. Charset support is deliberately small: UTF-8, US-ASCII
// and ISO-8859-1 (with their IANA aliases) are converted to UTF-8. Words in other charsets
// are decoded only when the charset is a known ASCII superset (ISO-8859-*, windows-125x,
// KOI8, EUC, GB*, Big5, ...) and the decoded octets are all 7-bit, which is exact for those
// charsets; anything else is left as it was written so no information is lost.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::mime {

// MIME parameters (Content-Type, Content-Disposition) in header order: (attribute, value).
// Attribute names keep the spelling of the message; compare them case-insensitively.
using Params = std::vector<std::pair<std::string, std::string>>;

// Converts `bytes` in `charset` to UTF-8, or nullopt when the charset is not supported or
// the bytes are not valid in it (see the file comment for what is supported).
std::optional<std::string> CharsetToUtf8(std::string_view charset, std::string_view bytes);

// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

// Decodes RFC 2047 encoded words ("=?charset?B|Q?text?=", with an optional RFC 2231
// "*language" suffix on the charset) into UTF-8. Text outside encoded words is copied as is.
// Linear white space between two adjacent encoded words that were decoded is dropped
// (RFC 2047 section 6.2); adjacent words in the same charset are joined before conversion,
// so a multi-octet character split across two words survives. A word that cannot be decoded
// (bad base64, unsupported charset, invalid octets for its charset) is kept verbatim together
// with the white space around it. Words are recognised anywhere, not only where RFC 2047
// section 5 allows them: real mailers put them inside quoted strings and next to other text,
// and this function serves SEARCH/SORT, where finding the text matters more than syntax.
std::string DecodeEncodedWords(std::string_view text);

// A parameter as written: name including any RFC 2231 "*N" / "*" suffix, value unquoted
// (quoted-pairs resolved) but not otherwise decoded.
struct RawParameter {
  std::string name;
  std::string value;
};

// Splits the parameter part of a structured MIME header value, i.e. everything from the first
// ';' on ("; charset=us-ascii; name=\"a b\""). Anything before the first ';' is ignored, so the
// whole remainder after the media type may be passed. Tolerant: comments are skipped, a
// missing closing quote ends the value at the end of the text, a parameter without '=' is
// dropped, an unquoted value runs up to the next ';' or white space.
std::vector<RawParameter> SplitParameters(std::string_view text);

// Applies RFC 2231 to split parameters:
//  - continuations (name*0, name*1, ... and name*0*, name*1*, ...) are joined in index
//    order (a gap in the indexes is tolerated; the present segments are joined) and placed
//    where the first segment of that name appeared;
//  - an extended value (name* or name*N*) is percent-decoded and converted from its charset
//    to UTF-8 with CharsetToUtf8 (an empty charset is accepted when the octets are valid
//    UTF-8); the result is reported under the plain name and replaces a plain parameter of
//    the same name (RFC 2231 values are the precise ones, the plain one is a fallback for
//    old readers);
//  - when the charset cannot be converted, nothing is lost: the value is reported under
//    "name*" in RFC 2231 form ("charset'language'percent-encoded"), as older Dovecot
//    versions do, next to any plain parameter of the same name.
// Names that merely contain '*' in another position are kept as they are.
Params DecodeParameters(const std::vector<RawParameter>& raw);

// Percent-decoding as used by RFC 2231 extended values; a '%' not followed by two hex digits
// is kept literally.
std::string PercentDecode(std::string_view text);

}  // namespace tern::mime
