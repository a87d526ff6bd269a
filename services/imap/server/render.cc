#include "services/imap/server/render.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "services/imap/protocol/encoder.h"

namespace tern::imap::server {
namespace {

namespace v1 = metadata::v1;

// A multipart without parts or a message/rfc822 without its body has no valid rendering
// (body-type-mpart needs 1*body, body-type-msg a body). ingest never stores either, but a
// proto may carry one; like mime::RenderBodyStructure (and Dovecot) we send one empty
// text/plain part so the response stays parseable.
constexpr std::string_view kEmptyBody =
    R"(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0))";
constexpr std::string_view kEmptyBodyStructure =
    R"(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL))";

// Strings follow mime::AppendImapString's rule rather than protocol::AppendString's, because
// the output must be byte-identical to mime's rendering of the same message (render.h): a
// literal only for CR, LF, NUL or 8-bit bytes, everything else quoted whatever its length,
// TAB and other controls included (valid: RFC 3501 9 QUOTED-CHAR is any TEXT-CHAR, i.e.
// CHAR minus CR and LF). protocol::AppendString sends controls and strings over 1024 bytes as
// literals; unfolded header values often hold a TAB (corpus msg_27's Subject), so the two
// rules differ on real mail. Literals themselves (and NUL -> 0x80) are still the encoder's.
bool NeedsLiteral(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
      return true;
    }
  }
  return false;
}

void AppendString(std::string& out, std::string_view s) {
  if (NeedsLiteral(s)) {
    protocol::AppendLiteral(out, s);
    return;
  }
  out.push_back('"');
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');  // RFC 3501 9: "\" quoted-specials
    }
    out.push_back(c);
  }
  out.push_back('"');
}

// An nstring from a proto3 optional bytes field: NIL when the field is absent.
void AppendOptional(std::string& out, bool present, const std::string& value) {
  if (present) {
    AppendString(out, value);
  } else {
    out += "NIL";
  }
}

void AppendNumber(std::string& out, uint64_t n) {
  out.push_back(' ');
  out += std::to_string(n);
}

void AppendAddress(std::string& out, const v1::Address& a) {
  out.push_back('(');
  AppendOptional(out, a.has_name(), a.name());
  out.push_back(' ');
  AppendOptional(out, a.has_adl(), a.adl());
  out.push_back(' ');
  AppendOptional(out, a.has_mailbox(), a.mailbox());
  out.push_back(' ');
  AppendOptional(out, a.has_host(), a.host());
  out.push_back(')');
}

// env-from etc.: "(" 1*address ")" / nil (RFC 3501 9). There is no SP between addresses.
// Group markers are ordinary address structures, so they need no special case here.
void AppendAddressList(std::string& out,
                       const google::protobuf::RepeatedPtrField<v1::Address>& list) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  for (const v1::Address& a : list) {
    AppendAddress(out, a);
  }
  out.push_back(')');
}

// body-fld-param: "(" string SP string *(SP string SP string) ")" / nil
void AppendParams(std::string& out,
                  const google::protobuf::RepeatedPtrField<v1::BodyParameter>& params) {
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  bool first = true;
  for (const v1::BodyParameter& p : params) {
    if (!first) {
      out.push_back(' ');
    }
    first = false;
    AppendString(out, p.name());
    out.push_back(' ');
    AppendString(out, p.value());
  }
  out.push_back(')');
}

// SP body-fld-dsp SP body-fld-lang SP body-fld-loc: the tail shared by body-ext-1part and
// body-ext-mpart. All three are always written, NIL when absent, as mime does.
void AppendDispositionLanguageLocation(std::string& out, const v1::BodyStructure& body) {
  out.push_back(' ');
  if (body.has_disposition()) {
    out.push_back('(');
    AppendString(out, body.disposition().type());
    out.push_back(' ');
    AppendParams(out, body.disposition().parameters());
    out.push_back(')');
  } else {
    out += "NIL";
  }
  out.push_back(' ');
  if (body.language().empty()) {
    out += "NIL";
  } else {
    out.push_back('(');
    bool first = true;
    for (const std::string& tag : body.language()) {
      if (!first) {
        out.push_back(' ');
      }
      first = false;
      AppendString(out, tag);
    }
    out.push_back(')');
  }
  out.push_back(' ');
  AppendOptional(out, body.has_location(), body.location());
}

void AppendBody(std::string& out, const v1::BodyStructure& body, bool extensible) {
  out.push_back('(');
  // IMAP compares media types case-insensitively; the stored spelling is the message's.
  if (absl::EqualsIgnoreCase(body.type(), "multipart")) {
    // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    if (body.parts().empty()) {
      out += extensible ? kEmptyBodyStructure : kEmptyBody;
    }
    for (const v1::BodyStructure& part : body.parts()) {
      AppendBody(out, part, extensible);
    }
    out.push_back(' ');
    AppendString(out, body.subtype());
    if (extensible) {
      // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
      out.push_back(' ');
      AppendParams(out, body.parameters());
      AppendDispositionLanguageLocation(out, body);
    }
    out.push_back(')');
    return;
  }
  // body-type-1part: media type, then body-fields.
  AppendString(out, body.type());
  out.push_back(' ');
  AppendString(out, body.subtype());
  out.push_back(' ');
  AppendParams(out, body.parameters());
  out.push_back(' ');
  AppendOptional(out, body.has_id(), body.id());
  out.push_back(' ');
  AppendOptional(out, body.has_description(), body.description());
  out.push_back(' ');
  // ingest always stores the encoding ("7BIT" when the header is absent); an empty value is
  // sent as "" like mime would, not guessed.
  AppendString(out, body.encoding());
  AppendNumber(out, body.size_octets());
  if (absl::EqualsIgnoreCase(body.type(), "message") &&
      absl::EqualsIgnoreCase(body.subtype(), "rfc822")) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    out.push_back(' ');
    if (body.has_body()) {
      // An absent envelope is the default message: every field NIL.
      AppendEnvelope(out, body.envelope());
      out.push_back(' ');
      AppendBody(out, body.body(), extensible);
    } else {
      AppendEnvelope(out, v1::Envelope::default_instance());
      out.push_back(' ');
      out += extensible ? kEmptyBodyStructure : kEmptyBody;
    }
    AppendNumber(out, body.lines());
  } else if (absl::EqualsIgnoreCase(body.type(), "text")) {
    // body-type-text = media-text SP body-fields SP body-fld-lines; the grammar requires the
    // count, so an absent one is sent as 0.
    AppendNumber(out, body.lines());
  }
  if (extensible) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out.push_back(' ');
    AppendOptional(out, body.has_md5(), body.md5());
    AppendDispositionLanguageLocation(out, body);
  }
  out.push_back(')');
}

}  // namespace

void AppendEnvelope(std::string& out, const metadata::v1::Envelope& envelope) {
  out.push_back('(');
  AppendOptional(out, envelope.has_date(), envelope.date());
  out.push_back(' ');
  AppendOptional(out, envelope.has_subject(), envelope.subject());
  for (const auto* list : {&envelope.from(), &envelope.sender(), &envelope.reply_to(),
                           &envelope.to(), &envelope.cc(), &envelope.bcc()}) {
    out.push_back(' ');
    AppendAddressList(out, *list);
  }
  out.push_back(' ');
  AppendOptional(out, envelope.has_in_reply_to(), envelope.in_reply_to());
  out.push_back(' ');
  AppendOptional(out, envelope.has_message_id(), envelope.message_id());
  out.push_back(')');
}

void AppendBodyStructure(std::string& out, const metadata::v1::BodyStructure& body,
                         bool extensible) {
  AppendBody(out, body, extensible);
}

}  // namespace tern::imap::server
