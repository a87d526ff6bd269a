#pragma once

// Renders ENVELOPE, BODY and BODYSTRUCTURE in RFC 3501 section 7.4.2 / section 9 syntax.
//
// Strings are quoted ("..." with \ and " escaped) unless they contain CR, LF, NUL or 8-bit
// octets; those are sent as a literal {n}CRLF<bytes>. A literal may not carry NUL (CHAR8 is
// %x01-ff), so a NUL is sent as 0x80, which is what Dovecot does. The caller writes the
// result as is; it is not CRLF-terminated.

#include <optional>
#include <string>
#include <string_view>

#include "services/mime/message.h"

namespace tern::mime {

// Appends `s` as an IMAP string (quoted or literal, see above).
void AppendImapString(std::string& out, std::string_view s);

// Appends an nstring: NIL for nullopt.
void AppendImapNString(std::string& out, const std::optional<std::string>& s);

// "(date subject (from) (sender) (reply-to) (to) (cc) (bcc) in-reply-to message-id)"; an
// empty address list is NIL.
std::string RenderEnvelope(const Envelope& envelope);

// BODYSTRUCTURE (extensible=true: with md5/disposition/language/location for single parts
// and params/disposition/language/location for multiparts) or BODY (extensible=false).
// Type, subtype, parameters and encoding are sent as stored in BodyPart (see message.h for
// the spelling of defaults). A multipart without children, which ParseMessage never
// produces, is sent with one empty text/plain part as Dovecot does, so the syntax stays valid.
std::string RenderBodyStructure(const BodyPart& part, bool extensible);

}  // namespace tern::mime
