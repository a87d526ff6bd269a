#include "services/imap/protocol/fetch_items.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "services/imap/protocol/encoder.h"

namespace tern::imap::protocol {
namespace {

constexpr uint64_t kMaxNumber = 4294967295u;  // RFC 3501 9: number is 32-bit unsigned
// RFC 7162 7: mod-sequence-value is a positive unsigned 63-bit integer.
constexpr uint64_t kMaxModSequence = 9223372036854775807u;

absl::Status Bad(const char* message) { return absl::InvalidArgumentError(message); }

char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = ToUpperAscii(c);
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// An unquoted header-fld-name inside BODY[HEADER.FIELDS (...)] is an atom (ASTRING-CHAR
// without "]", which ends the section): the encoder's IsAtomChar.
bool Consume(std::string_view& in, char c) {
  if (!in.empty() && in.front() == c) {
    in.remove_prefix(1);
    return true;
  }
  return false;
}

// 1*DIGIT at the start of `in`, at most `max`. False when there is no digit or the value is
// too large; on success the digits are consumed.
bool ParseDigits(std::string_view& in, uint64_t max, uint64_t& out) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < in.size() && IsDigit(in[i])) {
    const auto digit = static_cast<uint64_t>(in[i] - '0');
    if (value > (max - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) {
    return false;
  }
  in.remove_prefix(i);
  out = value;
  return true;
}

// nz-number (RFC 3501 9): digit-nz *DIGIT, 32 bits.
bool ParseNzNumber(std::string_view& in, uint32_t& out) {
  if (in.empty() || in.front() == '0') {
    return false;
  }
  uint64_t value = 0;
  if (!ParseDigits(in, kMaxNumber, value)) {
    return false;
  }
  out = static_cast<uint32_t>(value);
  return true;
}

// section-part = nz-number *("." nz-number). A "." followed by a letter starts the
// section-text and is left in `in`.
absl::Status ParsePart(std::string_view& in, std::vector<uint32_t>& part) {
  while (true) {
    uint32_t n = 0;
    if (!ParseNzNumber(in, n)) {
      return Bad("invalid section part number");
    }
    part.push_back(n);
    if (in.size() < 2 || in[0] != '.' || !IsDigit(in[1])) {
      return absl::OkStatus();
    }
    in.remove_prefix(1);
  }
}

// header-fld-name = astring, as an atom or a quoted string. A literal cannot appear here:
// the parser keeps the section text inside one atom.
absl::Status ParseFieldName(std::string_view& in, std::string& name) {
  name.clear();
  if (Consume(in, '"')) {
    while (true) {
      if (in.empty()) {
        return Bad("unterminated header field name");
      }
      char c = in.front();
      in.remove_prefix(1);
      if (c == '"') {
        break;
      }
      if (c == '\\') {
        // RFC 3501 9: quoted-specials are the only escapes.
        if (in.empty() || (in.front() != '"' && in.front() != '\\')) {
          return Bad("invalid escape in header field name");
        }
        c = in.front();
        in.remove_prefix(1);
      } else if (const auto u = static_cast<unsigned char>(c); u < 0x20 || u >= 0x7f) {
        return Bad("invalid header field name");
      }
      name.push_back(c);
    }
  } else {
    size_t i = 0;
    while (i < in.size() && IsAtomChar(in[i])) {
      ++i;
    }
    name.assign(in.substr(0, i));
    in.remove_prefix(i);
  }
  if (name.empty()) {
    // RFC 5322 3.6.8: field-name = 1*ftext; an empty name can name no field.
    return Bad("invalid header field name");
  }
  return absl::OkStatus();
}

// header-list = "(" header-fld-name *(SP header-fld-name) ")", after the SP that follows
// HEADER.FIELDS [.NOT].
absl::Status ParseHeaderList(std::string_view& in, std::vector<std::string>& fields) {
  if (!Consume(in, ' ') || !Consume(in, '(')) {
    return Bad("HEADER.FIELDS needs a list of field names");
  }
  if (!in.empty() && in.front() == ')') {
    return Bad("empty HEADER.FIELDS list");
  }
  std::string name;
  while (true) {
    if (absl::Status s = ParseFieldName(in, name); !s.ok()) {
      return s;
    }
    fields.push_back(ToUpper(name));
    if (Consume(in, ')')) {
      return absl::OkStatus();
    }
    if (!Consume(in, ' ')) {
      return Bad("invalid HEADER.FIELDS list");
    }
  }
}

// section-text = section-msgtext / "MIME"; section-msgtext = "HEADER" /
// "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT". MIME only follows a part number
// (RFC 3501 9 section-spec).
absl::Status ParseSectionText(std::string_view& in, bool after_part, Section& section) {
  size_t i = 0;
  while (i < in.size() && (IsLetter(in[i]) || in[i] == '.')) {
    ++i;
  }
  const std::string keyword = ToUpper(in.substr(0, i));
  in.remove_prefix(i);
  if (keyword == "HEADER") {
    section.text = Section::Text::kHeader;
  } else if (keyword == "TEXT") {
    section.text = Section::Text::kText;
  } else if (keyword == "MIME") {
    if (!after_part) {
      return Bad("MIME needs a part number");
    }
    section.text = Section::Text::kMime;
  } else if (keyword == "HEADER.FIELDS" || keyword == "HEADER.FIELDS.NOT") {
    section.text =
        keyword == "HEADER.FIELDS" ? Section::Text::kHeaderFields : Section::Text::kHeaderFieldsNot;
    return ParseHeaderList(in, section.fields);
  } else {
    return Bad("invalid section");
  }
  return absl::OkStatus();
}

// section-spec (RFC 3501 9), up to the closing "]".
absl::Status ParseSectionSpec(std::string_view& in, Section& section) {
  if (in.empty() || in.front() == ']') {
    return absl::OkStatus();  // BODY[]: the whole message
  }
  if (IsDigit(in.front())) {
    if (absl::Status s = ParsePart(in, section.part); !s.ok()) {
      return s;
    }
    if (!Consume(in, '.')) {
      return absl::OkStatus();
    }
    return ParseSectionText(in, /*after_part=*/true, section);
  }
  return ParseSectionText(in, /*after_part=*/false, section);
}

// partial = "<" number "." nz-number ">" (RFC 3501 9 fetch-att), ending the atom.
absl::Status ParsePartial(std::string_view in, Partial& partial) {
  uint64_t offset = 0;
  if (!Consume(in, '<') || !ParseDigits(in, kMaxNumber, offset) || !Consume(in, '.')) {
    return Bad("invalid partial");
  }
  if (in.size() >= 2 && in[0] == '0' && !IsDigit(in[1])) {
    return Bad("partial length must not be 0");
  }
  uint32_t length = 0;
  if (!ParseNzNumber(in, length) || !Consume(in, '>') || !in.empty()) {
    return Bad("invalid partial");
  }
  partial.offset = static_cast<uint32_t>(offset);
  partial.length = length;
  return absl::OkStatus();
}

struct SimpleItem {
  std::string_view name;
  FetchItem::Kind kind;
};

constexpr SimpleItem kSimpleItems[] = {
    {"FLAGS", FetchItem::Kind::kFlags},
    {"INTERNALDATE", FetchItem::Kind::kInternalDate},
    {"RFC822", FetchItem::Kind::kRfc822},
    {"RFC822.HEADER", FetchItem::Kind::kRfc822Header},
    {"RFC822.TEXT", FetchItem::Kind::kRfc822Text},
    {"RFC822.SIZE", FetchItem::Kind::kRfc822Size},
    {"ENVELOPE", FetchItem::Kind::kEnvelope},
    {"BODY", FetchItem::Kind::kBody},
    {"BODYSTRUCTURE", FetchItem::Kind::kBodyStructure},
    {"UID", FetchItem::Kind::kUid},
    {"MODSEQ", FetchItem::Kind::kModseq},  // RFC 7162 3.1.4.2
};

bool IsMacro(std::string_view upper) {
  return upper == "ALL" || upper == "FAST" || upper == "FULL";
}

// One fetch-att given as an atom (section text and partial included).
absl::StatusOr<FetchItem> ParseItem(std::string_view text) {
  FetchItem item;
  const size_t open = text.find('[');
  if (open == std::string_view::npos) {
    const std::string upper = ToUpper(text);
    for (const SimpleItem& simple : kSimpleItems) {
      if (upper == simple.name) {
        item.kind = simple.kind;
        return item;
      }
    }
    if (IsMacro(upper)) {
      // RFC 3501 6.4.5: macros are not to be used with other data items or in a list.
      return Bad("fetch macro inside a list");
    }
    return Bad("unknown fetch item");
  }

  const std::string name = ToUpper(text.substr(0, open));
  bool binary = false;
  bool partial_allowed = true;
  if (name == "BODY" || name == "BODY.PEEK") {
    item.kind = FetchItem::Kind::kBodySection;
    item.peek = name == "BODY.PEEK";
  } else if (name == "BINARY" || name == "BINARY.PEEK") {
    item.kind = FetchItem::Kind::kBinary;
    item.peek = name == "BINARY.PEEK";
    binary = true;
  } else if (name == "BINARY.SIZE") {
    // RFC 3516 (RFC 9051 9): "BINARY.SIZE" section-binary, no partial.
    item.kind = FetchItem::Kind::kBinarySize;
    binary = true;
    partial_allowed = false;
  } else {
    return Bad("unknown fetch item");
  }

  std::string_view in = text.substr(open + 1);
  if (binary) {
    // RFC 3516: section-binary = "[" [section-part] "]"; no HEADER, TEXT or MIME.
    if (!in.empty() && IsDigit(in.front())) {
      if (absl::Status s = ParsePart(in, item.section.part); !s.ok()) {
        return s;
      }
    }
    if (!in.empty() && in.front() != ']') {
      return Bad("BINARY section takes part numbers only");
    }
  } else if (absl::Status s = ParseSectionSpec(in, item.section); !s.ok()) {
    return s;
  }
  if (!Consume(in, ']')) {
    return Bad("invalid section");
  }
  if (!in.empty()) {
    if (!partial_allowed) {
      return Bad("BINARY.SIZE takes no partial");
    }
    Partial partial;
    if (absl::Status s = ParsePartial(in, partial); !s.ok()) {
      return s;
    }
    item.partial = partial;
  }
  return item;
}

void AddItem(FetchRequest& request, FetchItem item) {
  if (std::find(request.items.begin(), request.items.end(), item) == request.items.end()) {
    request.items.push_back(std::move(item));
  }
}

void AddKind(FetchRequest& request, FetchItem::Kind kind) {
  FetchItem item;
  item.kind = kind;
  AddItem(request, std::move(item));
}

// fetch-modifier (RFC 4466 2.4): "(" fetch-modifier *(SP fetch-modifier) ")".
absl::Status ParseModifiers(const Value& modifiers, FetchRequest& request) {
  if (!modifiers.IsList()) {
    return Bad("FETCH modifiers must be a list");
  }
  if (modifiers.list.empty()) {
    return Bad("empty list of FETCH modifiers");
  }
  const std::vector<Value>& list = modifiers.list;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsAtom()) {
      return Bad("invalid FETCH modifier");
    }
    const std::string name = ToUpper(list[i].text);
    if (name == "CHANGEDSINCE") {
      // RFC 7162 3.1.4.1: CHANGEDSINCE mod-sequence-value (1 <= n < 2^63).
      if (request.changed_since.has_value()) {
        return Bad("duplicate CHANGEDSINCE");
      }
      if (i + 1 >= list.size() || !list[i + 1].IsAtom()) {
        return Bad("CHANGEDSINCE needs a mod-sequence");
      }
      std::string_view digits = list[++i].text;
      uint64_t value = 0;
      if (!ParseDigits(digits, kMaxModSequence, value) || !digits.empty() || value == 0) {
        return Bad("invalid CHANGEDSINCE mod-sequence");
      }
      request.changed_since = value;
    } else if (name == "VANISHED") {
      if (request.vanished) {
        return Bad("duplicate VANISHED");
      }
      request.vanished = true;
    } else {
      return Bad("unknown FETCH modifier");
    }
  }
  if (request.vanished && !request.changed_since.has_value()) {
    // RFC 7162 3.2.6: VANISHED without CHANGEDSINCE MUST be answered with BAD.
    return Bad("VANISHED needs CHANGEDSINCE");
  }
  if (request.changed_since.has_value()) {
    // RFC 7162 3.1.4.1: CHANGEDSINCE implicitly adds the MODSEQ data item.
    AddKind(request, FetchItem::Kind::kModseq);
  }
  return absl::OkStatus();
}

void AppendFieldName(std::string& out, std::string_view name) {
  if (!name.empty() && std::all_of(name.begin(), name.end(), IsAtomChar)) {
    out.append(name);
    return;
  }
  out.push_back('"');
  for (const char c : name) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string Section::ToString() const {
  std::string out;
  for (size_t i = 0; i < part.size(); ++i) {
    if (i > 0) {
      out.push_back('.');
    }
    out.append(std::to_string(part[i]));
  }
  if (text == Text::kNone) {
    return out;
  }
  if (!part.empty()) {
    out.push_back('.');
  }
  switch (text) {
    case Text::kNone:
      break;
    case Text::kHeader:
      out.append("HEADER");
      break;
    case Text::kText:
      out.append("TEXT");
      break;
    case Text::kMime:
      out.append("MIME");
      break;
    case Text::kHeaderFields:
    case Text::kHeaderFieldsNot:
      out.append(text == Text::kHeaderFields ? "HEADER.FIELDS (" : "HEADER.FIELDS.NOT (");
      for (size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) {
          out.push_back(' ');
        }
        AppendFieldName(out, fields[i]);
      }
      out.push_back(')');
      break;
  }
  return out;
}

bool FetchItem::SetsSeen() const {
  switch (kind) {
    case Kind::kRfc822:
    case Kind::kRfc822Text:
      return true;
    case Kind::kBodySection:
    case Kind::kBinary:
      return !peek;
    default:
      return false;
  }
}

bool FetchRequest::Has(FetchItem::Kind kind) const {
  return std::any_of(items.begin(), items.end(),
                     [kind](const FetchItem& item) { return item.kind == kind; });
}

absl::StatusOr<FetchRequest> ParseFetchItems(const Value& items, const Value* modifiers) {
  FetchRequest request;
  if (items.IsAtom()) {
    const std::string upper = ToUpper(items.text);
    // RFC 3501 6.4.5: the macros ALL, FAST and FULL.
    if (IsMacro(upper)) {
      AddKind(request, FetchItem::Kind::kFlags);
      AddKind(request, FetchItem::Kind::kInternalDate);
      AddKind(request, FetchItem::Kind::kRfc822Size);
      if (upper != "FAST") {
        AddKind(request, FetchItem::Kind::kEnvelope);
      }
      if (upper == "FULL") {
        AddKind(request, FetchItem::Kind::kBody);
      }
    } else {
      absl::StatusOr<FetchItem> item = ParseItem(items.text);
      if (!item.ok()) {
        return item.status();
      }
      AddItem(request, *std::move(item));
    }
  } else if (items.IsList()) {
    if (items.list.empty()) {
      return Bad("empty list of fetch items");
    }
    for (const Value& value : items.list) {
      if (!value.IsAtom()) {
        return Bad("invalid fetch item");
      }
      absl::StatusOr<FetchItem> item = ParseItem(value.text);
      if (!item.ok()) {
        return item.status();
      }
      AddItem(request, *std::move(item));
    }
  } else {
    return Bad("invalid fetch items");
  }
  if (modifiers != nullptr) {
    if (absl::Status s = ParseModifiers(*modifiers, request); !s.ok()) {
      return s;
    }
  }
  return request;
}

}  // namespace tern::imap::protocol
