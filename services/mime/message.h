#pragma once

// Pure RFC 5322 / RFC 2045-2049 message parser: header fields, ENVELOPE and BODYSTRUCTURE
// data (RFC 3501 section 7.4.2) and the byte offsets that BODY[section] (RFC 3501 section
// 6.4.5) needs. No I/O, no globals; Abseil and the standard library only.
//
// Every input yields a best-effort structure, as Dovecot and Cyrus do: malformed mail is
// repaired the way those servers repair it, limits cut the structure short instead of
// failing, and ParsedMessage::truncated/warnings say when that happened.
//
// Choices where the RFCs leave room (each also noted where it is implemented):
//  - Line endings: CRLF and bare LF both end a line; a lone CR is data. Offsets and sizes are
//    bytes of the input as stored (no CRLF conversion).
//  - The header ends at the first empty line or at the end of the part. A line that is not a
//    continuation and has no valid "name:" stays in the header but is not a field (Dovecot
//    and Cyrus do the same; the mbox "From " line of imported mail is such a line).
//  - Content-Type absent: TEXT/PLAIN; CHARSET=US-ASCII (RFC 2045 section 5.2), or
//    MESSAGE/RFC822 inside multipart/digest (RFC 2046 section 5.1.5). Syntactically invalid
//    (e.g. "text" without subtype): TEXT/PLAIN; CHARSET=US-ASCII, as RFC 2045 section 5.2
//    recommends. A multipart without a boundary parameter, or whose boundary never occurs
//    as a delimiter, is such an invalid type too: it becomes TEXT/PLAIN; CHARSET=US-ASCII,
//    which keeps its bytes readable as BODY[1] instead of hiding them behind an empty part.
//  - Defaulted values are spelled as in RFC 3501's examples ("TEXT" "PLAIN" ("CHARSET"
//    "US-ASCII") "7BIT"); values taken from the message keep the message's spelling (as
//    Dovecot does; IMAP compares these strings case-insensitively). A text/* part without a
//    charset parameter gets ("CHARSET" "US-ASCII") appended (RFC 2046 section 4.1.2 default,
//    as Dovecot reports it).
//  - Multipart delimiters (RFC 2046 section 5.1.1): a line that begins with "--" boundary;
//    what follows the boundary is not checked ("it is sufficient that the boundary appear in
//    its entirety following the CRLF"). Boundaries of all enclosing multiparts are active: a
//    line matching an outer one ends the inner multiparts (missing close delimiters are
//    tolerated). When several match, the longest wins, and the innermost among equals, so
//    nested multiparts may reuse their parent's boundary. The CRLF before a delimiter
//    belongs to the delimiter. Every delimiter starts a part, even an empty one.
//  - Header fields used for ENVELOPE and the MIME fields: the first occurrence wins.
//  - Limits: nesting deeper than max_depth (clamped to kMaxSupportedDepth, the recursion
//    bound) and parts beyond max_parts are not descended into: such a multipart or
//    message/rfc822 part is reported as an opaque APPLICATION/OCTET-STREAM leaf (a multipart
//    with no parts at all becomes TEXT/PLAIN as above). Header bytes beyond max_header_bytes
//    or fields beyond max_headers in one header are not parsed into fields.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "services/mime/encoded_words.h"

namespace tern::mime {

// Nesting is parsed recursively; this bounds the C++ stack whatever Limits says.
inline constexpr size_t kMaxSupportedDepth = 256;

struct Limits {
  size_t max_depth = 32;              // multipart and message/rfc822 nesting levels
  size_t max_parts = 10000;           // body parts in the whole message, the root included
  size_t max_header_bytes = 1 << 20;  // per header section
  size_t max_headers = 10000;         // fields per header section
};

struct HeaderField {
  std::string name;   // as written, white space before the colon removed
  std::string value;  // unfolded (RFC 5322 section 2.2.3), leading/trailing SP/HTAB removed
  size_t start = 0;   // offset of the field's first byte in the raw message
  size_t end = 0;     // offset just past the field's last line ending (folding included)
};

// One RFC 3501 address structure. Group syntax: start of group has mailbox = group name and
// host = nullopt; end of group has mailbox and host nullopt. For an address without a local
// part or a domain the parser fills in "MISSING_MAILBOX" / "MISSING_DOMAIN" (Dovecot's
// choice), because a NIL host would turn it into a group marker.
struct Address {
  std::optional<std::string> name;     // display name, unquoted, encoded words kept raw
  std::optional<std::string> adl;      // obsolete source route ("@a,@b")
  std::optional<std::string> mailbox;  // local part as written (quotes kept)
  std::optional<std::string> host;

  bool IsGroupStart() const { return !host.has_value() && mailbox.has_value(); }
  bool IsGroupEnd() const { return !host.has_value() && !mailbox.has_value(); }
  friend bool operator==(const Address&, const Address&) = default;
};

// RFC 3501 section 7.4.2 ENVELOPE. Strings are header values unfolded but not RFC 2047
// decoded (the client decodes). Absent header: nullopt; present but empty: "". sender and
// reply_to already carry the from value when their header is absent or empty.
struct Envelope {
  std::optional<std::string> date;
  std::optional<std::string> subject;
  std::vector<Address> from;
  std::vector<Address> sender;
  std::vector<Address> reply_to;
  std::vector<Address> to;
  std::vector<Address> cc;
  std::vector<Address> bcc;
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;

  friend bool operator==(const Envelope&, const Envelope&) = default;
};

// Byte offsets of one body part in the raw message. [header_start, header_end) is the MIME
// header including its blank line (for a message root: the RFC 5322 header), [header_end,
// body_end) the body. The part's whole extent is [header_start, body_end).
struct PartOffsets {
  // RFC 3501 part number of the part: "1", "2.1.3". A message root (the top level, or the
  // encapsulated message of a message/rfc822 part) carries the number of its message:
  // "" for the top level, the message/rfc822 part's number for an encapsulated one; its
  // header is that message's HEADER and its body that message's TEXT.
  std::string section;
  size_t header_start = 0;
  size_t header_end = 0;
  size_t body_end = 0;

  size_t body_start() const { return header_end; }
  friend bool operator==(const PartOffsets&, const PartOffsets&) = default;
};

struct BodyPart {
  std::string type;  // "text", "multipart", ... as written; "TEXT" when defaulted
  std::string subtype;
  Params params;  // Content-Type parameters, RFC 2231 applied (see DecodeParameters)
  std::optional<std::string> id;           // Content-ID
  std::optional<std::string> description;  // Content-Description, not RFC 2047 decoded
  std::string encoding = "7BIT";           // Content-Transfer-Encoding as written
  size_t size = 0;                         // body octets as stored
  // Body lines: LF count, plus one for a final line without LF.
  size_t lines = 0;
  std::optional<std::string> md5;          // Content-MD5
  std::optional<std::string> disposition;  // Content-Disposition type
  Params disposition_params;
  std::vector<std::string> language;    // Content-Language tags
  std::optional<std::string> location;  // Content-Location
  std::vector<HeaderField> headers;     // this part's header fields in order
  // multipart/*: the parts (never empty). message/rfc822: exactly one element, the root of
  // the encapsulated message (its headers are the encapsulated RFC 5322 header).
  std::vector<BodyPart> children;
  std::optional<Envelope> envelope;  // message/rfc822: the encapsulated message's ENVELOPE
  PartOffsets offsets;

  bool IsMultipart() const;
  bool IsMessageRfc822() const;
  bool IsText() const;
};

struct ParsedMessage {
  size_t size = 0;  // bytes of the raw message
  Envelope envelope;
  BodyPart body;                      // the root; body.headers are the message's header fields
  std::vector<PartOffsets> parts;     // every BodyPart of the tree, depth first, root first
  bool truncated = false;             // a limit was hit; the structure covers less than the input
  std::vector<std::string> warnings;  // what was repaired or cut (bounded in number)

  const std::vector<HeaderField>& headers() const { return body.headers; }
};

// Parses a complete message. Never fails, never reads outside `raw`, and runs in time
// linear in raw.size() times the (bounded) nesting depth.
ParsedMessage ParseMessage(std::string_view raw, const Limits& limits);

// The [begin, end) byte range of an RFC 3501 section-spec in the raw message: "" (whole
// message), "HEADER", "TEXT", "1", "1.2", "1.MIME", "2.HEADER", "2.TEXT" (letters in any
// case). HEADER/TEXT after a part number require a message/rfc822 part. HEADER.FIELDS is
// answered by SectionHeaderFields. nullopt for a malformed spec or a part that does not exist.
std::optional<std::pair<size_t, size_t>> SectionRange(const ParsedMessage& message,
                                                      std::string_view section_spec);

// BODY[HEADER.FIELDS (names)] / BODY[HEADER.FIELDS.NOT (names)] over one header section
// (e.g. the bytes of SectionRange "HEADER"): the exact bytes of the fields whose name is
// (exclude=false) or is not (exclude=true) in `names`, case-insensitively, folding kept and
// in message order, followed by the header's blank line (RFC 3501 section 6.4.5: included
// unless the header has none). Lines that are not fields belong to neither subset. A last
// field cut off without a line ending gets CRLF.
std::string HeaderFields(std::string_view header_block, const std::vector<std::string>& names,
                         bool exclude);

// HeaderFields for the header of the message ("" part) or of the message/rfc822 part
// `part` ("2", "1.3"); nullopt when that section has no such header.
std::optional<std::string> SectionHeaderFields(std::string_view raw, const ParsedMessage& message,
                                               std::string_view part,
                                               const std::vector<std::string>& names, bool exclude);

// RFC 5322 section 3.4 address-list / mailbox-list parsing, tolerant of real-world damage
// (missing brackets, unterminated quotes and comments, stray specials). A display name comes
// from the phrase, or, for a bare addr-spec, from a trailing comment ("a@b (Real Name)").
std::vector<Address> ParseAddressList(std::string_view value);

// The ENVELOPE of a header.
Envelope ParseEnvelope(const std::vector<HeaderField>& headers);

// First field called `name` (case-insensitive), or nullptr.
const HeaderField* FindHeader(const std::vector<HeaderField>& headers, std::string_view name);

// Value of the first parameter called `name` (case-insensitive).
std::optional<std::string_view> FindParam(const Params& params, std::string_view name);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace tern::mime
