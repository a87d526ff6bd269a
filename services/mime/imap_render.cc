#include "services/mime/imap_render.h"

#include "services/common/strings.h"

namespace tern::mime {
namespace {

// Dovecot's answer for a multipart without parts: one empty text/plain part.
constexpr char kEmptyBody[] = R"(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0))";
constexpr char kEmptyBodyStructure[] =
    R"(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL))";

bool NeedsLiteral(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) return true;
  }
  return false;
}

void AppendAddress(std::string& out, const Address& a) {
  out.push_back('(');
  AppendImapNString(out, a.name);
  out.push_back(' ');
  AppendImapNString(out, a.adl);
  out.push_back(' ');
  AppendImapNString(out, a.mailbox);
  out.push_back(' ');
  AppendImapNString(out, a.host);
  out.push_back(')');
}

// env-from etc.: "(" 1*address ")" / nil. The grammar has no SP between addresses.
void AppendAddressList(std::string& out, const std::vector<Address>& list) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  for (const Address& a : list) AppendAddress(out, a);
  out.push_back(')');
}

void AppendEnvelope(std::string& out, const Envelope& e) {
  out.push_back('(');
  AppendImapNString(out, e.date);
  out.push_back(' ');
  AppendImapNString(out, e.subject);
  for (const std::vector<Address>* list : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
    out.push_back(' ');
    AppendAddressList(out, *list);
  }
  out.push_back(' ');
  AppendImapNString(out, e.in_reply_to);
  out.push_back(' ');
  AppendImapNString(out, e.message_id);
  out.push_back(')');
}

// body-fld-param: "(" string SP string *(SP string SP string) ")" / nil
void AppendParams(std::string& out, const Params& params) {
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  bool first = true;
  for (const auto& [name, value] : params) {
    if (!first) out.push_back(' ');
    first = false;
    AppendImapString(out, name);
    out.push_back(' ');
    AppendImapString(out, value);
  }
  out.push_back(')');
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc, common to both extension data forms.
void AppendDispositionLanguageLocation(std::string& out, const BodyPart& part) {
  out.push_back(' ');
  if (part.disposition) {
    out.push_back('(');
    AppendImapString(out, *part.disposition);
    out.push_back(' ');
    AppendParams(out, part.disposition_params);
    out.push_back(')');
  } else {
    out += "NIL";
  }
  out.push_back(' ');
  if (part.language.empty()) {
    out += "NIL";
  } else {
    out.push_back('(');
    for (size_t i = 0; i < part.language.size(); ++i) {
      if (i > 0) out.push_back(' ');
      AppendImapString(out, part.language[i]);
    }
    out.push_back(')');
  }
  out.push_back(' ');
  AppendImapNString(out, part.location);
}

void AppendBody(std::string& out, const BodyPart& part, bool extensible) {
  out.push_back('(');
  if (part.IsMultipart()) {
    // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    if (part.children.empty()) {
      out += extensible ? kEmptyBodyStructure : kEmptyBody;
    }
    for (const BodyPart& child : part.children) AppendBody(out, child, extensible);
    out.push_back(' ');
    AppendImapString(out, part.subtype);
    if (extensible) {
      out.push_back(' ');
      AppendParams(out, part.params);
      AppendDispositionLanguageLocation(out, part);
    }
    out.push_back(')');
    return;
  }
  // body-type-1part: media type, then body-fields.
  AppendImapString(out, part.type);
  out.push_back(' ');
  AppendImapString(out, part.subtype);
  out.push_back(' ');
  AppendParams(out, part.params);
  out.push_back(' ');
  AppendImapNString(out, part.id);
  out.push_back(' ');
  AppendImapNString(out, part.description);
  out.push_back(' ');
  AppendImapString(out, part.encoding);
  CatAppend(out, " ", part.size);
  if (part.IsMessageRfc822()) {
    // body-type-msg: ... SP envelope SP body SP body-fld-lines
    out.push_back(' ');
    if (part.children.size() == 1) {
      AppendEnvelope(out, part.envelope ? *part.envelope : Envelope{});
      out.push_back(' ');
      AppendBody(out, part.children[0], extensible);
    } else {  // not produced by ParseMessage; keeps the syntax valid
      AppendEnvelope(out, Envelope{});
      out.push_back(' ');
      out += extensible ? kEmptyBodyStructure : kEmptyBody;
    }
    CatAppend(out, " ", part.lines);
  } else if (part.IsText()) {
    CatAppend(out, " ", part.lines);  // body-type-text
  }
  if (extensible) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out.push_back(' ');
    AppendImapNString(out, part.md5);
    AppendDispositionLanguageLocation(out, part);
  }
  out.push_back(')');
}

}  // namespace

void AppendImapString(std::string& out, std::string_view s) {
  if (NeedsLiteral(s)) {
    CatAppend(out, "{", s.size(), "}\r\n");
    for (char c : s) out.push_back(c == '\0' ? '\x80' : c);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendImapNString(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    AppendImapString(out, *s);
  } else {
    out += "NIL";
  }
}

std::string RenderEnvelope(const Envelope& envelope) {
  std::string out;
  AppendEnvelope(out, envelope);
  return out;
}

std::string RenderBodyStructure(const BodyPart& part, bool extensible) {
  std::string out;
  AppendBody(out, part, extensible);
  return out;
}

}  // namespace tern::mime
