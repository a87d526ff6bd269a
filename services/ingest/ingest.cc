#include "services/ingest/ingest.h"

#include <set>

#include "absl/strings/ascii.h"
#include "services/pop3/protocol/encoder.h"

namespace tern::ingest {
namespace {

namespace v1 = metadata::v1;

void SetAddresses(const std::vector<mime::Address>& in,
                  google::protobuf::RepeatedPtrField<v1::Address>* out) {
  for (const mime::Address& a : in) {
    v1::Address* p = out->Add();
    if (a.name) p->set_name(*a.name);
    if (a.adl) p->set_adl(*a.adl);
    if (a.mailbox) p->set_mailbox(*a.mailbox);
    if (a.host) p->set_host(*a.host);
  }
}

v1::Envelope EnvelopeOf(const mime::Envelope& e) {
  v1::Envelope out;
  if (e.date) out.set_date(*e.date);
  if (e.subject) out.set_subject(*e.subject);
  SetAddresses(e.from, out.mutable_from());
  SetAddresses(e.sender, out.mutable_sender());
  SetAddresses(e.reply_to, out.mutable_reply_to());
  SetAddresses(e.to, out.mutable_to());
  SetAddresses(e.cc, out.mutable_cc());
  SetAddresses(e.bcc, out.mutable_bcc());
  if (e.in_reply_to) out.set_in_reply_to(*e.in_reply_to);
  if (e.message_id) out.set_message_id(*e.message_id);
  return out;
}

void SetParams(const mime::Params& in, google::protobuf::RepeatedPtrField<v1::BodyParameter>* out) {
  for (const auto& [name, value] : in) {
    v1::BodyParameter* p = out->Add();
    p->set_name(name);
    p->set_value(value);
  }
}

v1::BodyStructure StructureOf(const mime::BodyPart& part) {
  v1::BodyStructure out;
  out.set_type(part.type);
  out.set_subtype(part.subtype);
  SetParams(part.params, out.mutable_parameters());
  if (part.disposition) {
    out.mutable_disposition()->set_type(*part.disposition);
    SetParams(part.disposition_params, out.mutable_disposition()->mutable_parameters());
  }
  for (const std::string& l : part.language) out.add_language(l);
  if (part.location) out.set_location(*part.location);
  if (part.IsMultipart()) {
    for (const mime::BodyPart& child : part.children) *out.add_parts() = StructureOf(child);
    return out;
  }
  if (part.id) out.set_id(*part.id);
  if (part.description) out.set_description(*part.description);
  out.set_encoding(part.encoding);
  out.set_size_octets(part.size);
  if (part.md5) out.set_md5(*part.md5);
  if (part.IsText()) out.set_lines(part.lines);
  if (part.IsMessageRfc822()) {
    out.set_lines(part.lines);
    if (part.envelope) *out.mutable_envelope() = EnvelopeOf(*part.envelope);
    if (!part.children.empty()) *out.mutable_body() = StructureOf(part.children[0]);
  }
  return out;
}

std::string Child(const std::string& number, size_t i) {
  return number.empty() ? std::to_string(i + 1) : number + "." + std::to_string(i + 1);
}

// IMAP part numbers (RFC 3501 6.4.5) and their byte ranges, per proto PartOffsets.
void Offsets(const mime::BodyPart& part, const std::string& number,
             google::protobuf::RepeatedPtrField<v1::PartOffsets>* out);

// The body of a message (the top level or an encapsulated one) numbered below `number`.
void MessageBody(const mime::BodyPart& root, const std::string& number,
                 google::protobuf::RepeatedPtrField<v1::PartOffsets>* out) {
  if (root.IsMultipart()) {
    for (size_t i = 0; i < root.children.size(); ++i)
      Offsets(root.children[i], Child(number, i), out);
    return;
  }
  // A non-multipart message's body is part 1, with no MIME header of its own.
  v1::PartOffsets* p = out->Add();
  p->set_section(Child(number, 0));
  p->set_header_start(root.offsets.header_end);
  p->set_body_start(root.offsets.header_end);
  p->set_end(root.offsets.body_end);
  if (root.IsMessageRfc822() && !root.children.empty()) {
    p->set_message_body_start(root.children[0].offsets.header_end);
    MessageBody(root.children[0], p->section(), out);
  }
}

void Offsets(const mime::BodyPart& part, const std::string& number,
             google::protobuf::RepeatedPtrField<v1::PartOffsets>* out) {
  v1::PartOffsets* p = out->Add();
  p->set_section(number);
  p->set_header_start(part.offsets.header_start);
  p->set_body_start(part.offsets.header_end);
  p->set_end(part.offsets.body_end);
  if (part.IsMultipart()) {
    for (size_t i = 0; i < part.children.size(); ++i)
      Offsets(part.children[i], Child(number, i), out);
  } else if (part.IsMessageRfc822() && !part.children.empty()) {
    p->set_message_body_start(part.children[0].offsets.header_end);
    MessageBody(part.children[0], number, out);
  }
}

}  // namespace

const std::vector<std::string>& DefaultCachedHeaders() {
  static const std::vector<std::string> kNames = {
      "from",    "sender",   "reply-to",   "to",          "cc",         "bcc",
      "subject", "date",     "message-id", "in-reply-to", "references", "content-type",
      "list-id", "priority", "x-priority", "importance"};
  return kNames;
}

v1::ParsedMessage ToProto(const mime::ParsedMessage& parsed, std::string_view raw) {
  v1::ParsedMessage out;
  *out.mutable_envelope() = EnvelopeOf(parsed.envelope);
  *out.mutable_body_structure() = StructureOf(parsed.body);
  v1::PartOffsets* top = out.add_part_offsets();
  top->set_section("");
  top->set_header_start(0);
  top->set_body_start(parsed.body.offsets.header_end);
  top->set_end(parsed.size);
  MessageBody(parsed.body, "", out.mutable_part_offsets());
  const std::set<std::string> cached(DefaultCachedHeaders().begin(), DefaultCachedHeaders().end());
  for (const mime::HeaderField& f : parsed.headers()) {
    if (!cached.contains(absl::AsciiStrToLower(f.name))) continue;
    v1::HeaderField* h = out.add_cached_headers();
    h->set_name(f.name);
    // The exact bytes, folding and line ending included, as BODY[HEADER.FIELDS] returns them.
    if (f.end <= raw.size() && f.start <= f.end)
      h->set_raw(std::string(raw.substr(f.start, f.end - f.start)));
  }
  for (const std::string& n : DefaultCachedHeaders()) out.add_cached_header_names(n);
  // What POP3 STAT/LIST report (RFC 1939 11): a message stored with bare LF is sent, and
  // counted, with CRLF.
  out.set_crlf_size(pop3::protocol::NormalizedSize(raw));
  return out;
}

v1::ParsedMessage Ingest(std::string_view raw, const mime::Limits& limits) {
  return ToProto(mime::ParseMessage(raw, limits), raw);
}

}  // namespace tern::ingest
