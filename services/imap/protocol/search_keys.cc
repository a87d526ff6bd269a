#include "services/imap/protocol/search_keys.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "services/imap/protocol/encoder.h"

namespace tern::imap::protocol {
namespace {

// RFC 7162 7: mod-sequence-valzer is "0" or a positive unsigned 63-bit integer. RFC 9051
// 6.4.4 widens LARGER/SMALLER to number64, the same range.
constexpr uint64_t kMax63 = 9223372036854775807u;

absl::Status Bad(const char* message) { return absl::InvalidArgumentError(message); }

char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = ToUpperAscii(c);
  }
  return out;
}

// 1*DIGIT, the whole of `s`, at most `max`.
bool ParseNumber(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  uint64_t value = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

// flag-keyword = atom (RFC 3501 9): no atom-specials, so no "\", "*", "%" or "]". The parser
// is more lenient about atoms (it keeps "[...]" section text inside them), so check here.
bool IsFlagKeyword(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsAtomChar);
}

// What follows a search key's name.
enum class Arg {
  kNone,
  kAstring,   // BODY, TEXT, FROM, ...: astring
  kHeader,    // HEADER header-fld-name astring
  kDate,      // BEFORE, ON, ...: date
  kNumber,    // LARGER, SMALLER: number
  kSequence,  // UID sequence-set
  kKeyword,   // KEYWORD, UNKEYWORD: flag-keyword
  kNot,       // NOT search-key
  kOr,        // OR search-key search-key
  kModseq,    // MODSEQ [entry-name entry-type-req] mod-sequence-valzer
};

struct KeySpec {
  std::string_view name;
  SearchKey::Kind kind;
  Arg arg;
  SearchKey::Flag flag = SearchKey::Flag::kSeen;
  bool set_flag = true;
  std::string_view field = {};  // kHeader shorthands
};

using K = SearchKey::Kind;
using F = SearchKey::Flag;

// RFC 3501 6.4.4 and 9 search-key; RFC 7162 3.1.5 MODSEQ.
constexpr KeySpec kKeys[] = {
    {"ALL", K::kAll, Arg::kNone},
    {"ANSWERED", K::kFlag, Arg::kNone, F::kAnswered, true},
    {"BCC", K::kHeader, Arg::kAstring, F::kSeen, true, "BCC"},
    {"BEFORE", K::kBefore, Arg::kDate},
    {"BODY", K::kBody, Arg::kAstring},
    {"CC", K::kHeader, Arg::kAstring, F::kSeen, true, "CC"},
    {"DELETED", K::kFlag, Arg::kNone, F::kDeleted, true},
    {"DRAFT", K::kFlag, Arg::kNone, F::kDraft, true},
    {"FLAGGED", K::kFlag, Arg::kNone, F::kFlagged, true},
    {"FROM", K::kHeader, Arg::kAstring, F::kSeen, true, "FROM"},
    {"HEADER", K::kHeader, Arg::kHeader},
    {"KEYWORD", K::kKeyword, Arg::kKeyword, F::kSeen, true},
    {"LARGER", K::kLarger, Arg::kNumber},
    {"MODSEQ", K::kModseq, Arg::kModseq},
    {"NEW", K::kNew, Arg::kNone},
    {"NOT", K::kNot, Arg::kNot},
    {"OLD", K::kOld, Arg::kNone},
    {"ON", K::kOn, Arg::kDate},
    {"OR", K::kOr, Arg::kOr},
    {"RECENT", K::kRecent, Arg::kNone},
    {"SEEN", K::kFlag, Arg::kNone, F::kSeen, true},
    {"SENTBEFORE", K::kSentBefore, Arg::kDate},
    {"SENTON", K::kSentOn, Arg::kDate},
    {"SENTSINCE", K::kSentSince, Arg::kDate},
    {"SINCE", K::kSince, Arg::kDate},
    {"SMALLER", K::kSmaller, Arg::kNumber},
    {"SUBJECT", K::kHeader, Arg::kAstring, F::kSeen, true, "SUBJECT"},
    {"TEXT", K::kText, Arg::kAstring},
    {"TO", K::kHeader, Arg::kAstring, F::kSeen, true, "TO"},
    {"UID", K::kUid, Arg::kSequence},
    {"UNANSWERED", K::kFlag, Arg::kNone, F::kAnswered, false},
    {"UNDELETED", K::kFlag, Arg::kNone, F::kDeleted, false},
    {"UNDRAFT", K::kFlag, Arg::kNone, F::kDraft, false},
    {"UNFLAGGED", K::kFlag, Arg::kNone, F::kFlagged, false},
    {"UNKEYWORD", K::kKeyword, Arg::kKeyword, F::kSeen, false},
    {"UNSEEN", K::kFlag, Arg::kNone, F::kSeen, false},
};

const KeySpec* FindKey(std::string_view upper) {
  for (const KeySpec& spec : kKeys) {
    if (spec.name == upper) {
      return &spec;
    }
  }
  return nullptr;
}

// The values of one command (or of one parenthesized list), read front to back.
class Cursor {
 public:
  explicit Cursor(std::span<const Value> values) : values_(values) {}

  bool AtEnd() const { return pos_ >= values_.size(); }
  const Value* Peek() const { return AtEnd() ? nullptr : &values_[pos_]; }
  const Value* Next() { return AtEnd() ? nullptr : &values_[pos_++]; }

 private:
  std::span<const Value> values_;
  size_t pos_ = 0;
};

class SearchParser {
 public:
  explicit SearchParser(size_t max_depth) : max_depth_(max_depth) {}

  // One search-key at nesting level `depth` (top-level keys are at 1).
  absl::StatusOr<SearchKey> ParseKey(Cursor& in, size_t depth) {
    if (depth > max_depth_) {
      return Bad("search criteria nested too deep");
    }
    const Value* v = in.Next();
    if (v == nullptr) {
      return Bad("missing search key");
    }
    SearchKey key;
    if (v->IsList()) {
      // "(" search-key *(SP search-key) ")": every key matches.
      if (v->list.empty()) {
        return Bad("empty search key list");
      }
      key.kind = SearchKey::Kind::kAnd;
      Cursor inner{v->list};
      while (!inner.AtEnd()) {
        absl::StatusOr<SearchKey> child = ParseKey(inner, depth + 1);
        if (!child.ok()) {
          return child.status();
        }
        key.children.push_back(*std::move(child));
      }
      return key;
    }
    if (!v->IsAtom()) {
      return Bad("invalid search key");
    }
    const KeySpec* spec = FindKey(ToUpper(v->text));
    if (spec == nullptr) {
      // sequence-set, "$" included (RFC 5182 2.1).
      std::optional<SequenceSet> set = ParseSequenceSet(v->text);
      if (!set.has_value()) {
        return Bad("unknown search key");
      }
      key.kind = SearchKey::Kind::kSequence;
      key.set = *std::move(set);
      return key;
    }
    key.kind = spec->kind;
    key.flag = spec->flag;
    key.set_flag = spec->set_flag;
    key.field = std::string(spec->field);
    if (absl::Status s = ParseArgs(*spec, in, depth, key); !s.ok()) {
      return s;
    }
    return key;
  }

 private:
  absl::Status ParseArgs(const KeySpec& spec, Cursor& in, size_t depth, SearchKey& key) {
    switch (spec.arg) {
      case Arg::kNone:
        return absl::OkStatus();
      case Arg::kAstring:
        return ReadAstring(in, key.text);
      case Arg::kHeader:
        if (absl::Status s = ReadAstring(in, key.field); !s.ok()) {
          return s;
        }
        if (key.field.empty()) {
          return Bad("empty header field name");
        }
        key.field = ToUpper(key.field);
        return ReadAstring(in, key.text);
      case Arg::kDate: {
        // date = date-text / DQUOTE date-text DQUOTE: an atom or a quoted string.
        const Value* v = in.Next();
        if (v == nullptr || (v->kind != Value::Kind::kAtom && v->kind != Value::Kind::kQuoted)) {
          return Bad("missing date");
        }
        std::optional<Date> date = ParseDate(v->text);
        if (!date.has_value()) {
          return Bad("invalid date");
        }
        key.date = *date;
        return absl::OkStatus();
      }
      case Arg::kNumber: {
        const Value* v = in.Next();
        if (v == nullptr || !v->IsAtom() || !ParseNumber(v->text, kMax63, key.number)) {
          return Bad("invalid number");
        }
        return absl::OkStatus();
      }
      case Arg::kSequence: {
        const Value* v = in.Next();
        std::optional<SequenceSet> set;
        if (v != nullptr && v->IsAtom()) {
          set = ParseSequenceSet(v->text);
        }
        if (!set.has_value()) {
          return Bad("invalid sequence set");
        }
        key.set = *std::move(set);
        return absl::OkStatus();
      }
      case Arg::kKeyword: {
        const Value* v = in.Next();
        if (v == nullptr || !v->IsAtom() || !IsFlagKeyword(v->text)) {
          return Bad("invalid keyword");
        }
        key.text = v->text;
        return absl::OkStatus();
      }
      case Arg::kNot: {
        absl::StatusOr<SearchKey> child = ParseKey(in, depth + 1);
        if (!child.ok()) {
          return child.status();
        }
        key.children.push_back(*std::move(child));
        return absl::OkStatus();
      }
      case Arg::kOr:
        for (int i = 0; i < 2; ++i) {
          absl::StatusOr<SearchKey> child = ParseKey(in, depth + 1);
          if (!child.ok()) {
            return child.status();
          }
          key.children.push_back(*std::move(child));
        }
        return absl::OkStatus();
      case Arg::kModseq:
        return ParseModseq(in, key);
    }
    return Bad("invalid search key");
  }

  // astring: atom, quoted string or literal (RFC 3501 9).
  static absl::Status ReadAstring(Cursor& in, std::string& out) {
    const Value* v = in.Next();
    if (v == nullptr || !v->IsAstring()) {
      return Bad("missing string argument");
    }
    out = v->text;
    return absl::OkStatus();
  }

  // RFC 7162 3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer, where
  // entry-name is "/flags/<flag>" and entry-type-req is priv / shared / all.
  static absl::Status ParseModseq(Cursor& in, SearchKey& key) {
    const Value* v = in.Next();
    if (v == nullptr || v->IsList()) {
      return Bad("MODSEQ needs a mod-sequence");
    }
    if (!v->IsAtom() || !ParseNumber(v->text, kMax63, key.number)) {
      if (v->IsAtom() && !v->text.empty() && v->text[0] >= '0' && v->text[0] <= '9') {
        return Bad("invalid MODSEQ mod-sequence");
      }
      const std::string prefix = ToUpper(std::string_view(v->text).substr(0, 7));
      if (prefix != "/FLAGS/" || v->text.size() == 7) {
        return Bad("invalid MODSEQ entry name");
      }
      key.field = v->text;
      const Value* type = in.Next();
      const std::string upper_type = type != nullptr && type->IsAtom() ? ToUpper(type->text) : "";
      if (upper_type != "PRIV" && upper_type != "SHARED" && upper_type != "ALL") {
        return Bad("invalid MODSEQ entry type");
      }
      const Value* number = in.Next();
      if (number == nullptr || !number->IsAtom() ||
          !ParseNumber(number->text, kMax63, key.number)) {
        return Bad("invalid MODSEQ mod-sequence");
      }
    }
    return absl::OkStatus();
  }

  const size_t max_depth_;
};

// RFC 4731 3.1 search-return-opt: MIN / MAX / ALL / COUNT, and SAVE (RFC 5182 2.2).
absl::Status ParseReturnOptions(const Value& list, SearchReturn& options) {
  if (list.list.empty()) {
    // RFC 4731 3.1: an empty list of result options is equivalent to "(ALL)".
    options.all = true;
    return absl::OkStatus();
  }
  for (const Value& v : list.list) {
    const std::string name = v.IsAtom() ? ToUpper(v.text) : "";
    if (name == "MIN") {
      options.min = true;
    } else if (name == "MAX") {
      options.max = true;
    } else if (name == "ALL") {
      options.all = true;
    } else if (name == "COUNT") {
      options.count = true;
    } else if (name == "SAVE") {
      options.save = true;
    } else {
      return Bad("unknown RETURN option");
    }
  }
  return absl::OkStatus();
}

bool IsAtomNamed(const Value* v, std::string_view upper) {
  return v != nullptr && v->IsAtom() && ToUpper(v->text) == upper;
}

}  // namespace

absl::StatusOr<SearchProgram> ParseSearch(std::span<const Value> args, size_t max_depth) {
  SearchProgram program;
  Cursor in{args};
  // RFC 4466 2.6: search = "SEARCH" [search-return-opts] SP search-program;
  // search-program = ["CHARSET" SP charset SP] search-key *(SP search-key).
  if (IsAtomNamed(in.Peek(), "RETURN")) {
    in.Next();
    const Value* list = in.Next();
    if (list == nullptr || !list->IsList()) {
      return Bad("RETURN needs a list of options");
    }
    SearchReturn options;
    if (absl::Status s = ParseReturnOptions(*list, options); !s.ok()) {
      return s;
    }
    program.return_options = options;
  }
  if (IsAtomNamed(in.Peek(), "CHARSET")) {
    in.Next();
    const Value* charset = in.Next();
    if (charset == nullptr || !charset->IsAstring()) {
      return Bad("CHARSET needs a name");
    }
    program.charset = ToUpper(charset->text);
  }
  if (in.AtEnd()) {
    return Bad("missing search key");
  }
  SearchParser parser{max_depth};
  std::vector<SearchKey> keys;
  while (!in.AtEnd()) {
    absl::StatusOr<SearchKey> key = parser.ParseKey(in, 1);
    if (!key.ok()) {
      return key.status();
    }
    keys.push_back(*std::move(key));
  }
  if (keys.size() == 1) {
    program.key = std::move(keys[0]);
  } else {
    program.key.kind = SearchKey::Kind::kAnd;
    program.key.children = std::move(keys);
  }
  return program;
}

}  // namespace tern::imap::protocol
