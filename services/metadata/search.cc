#include "services/metadata/search.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/time/civil_time.h"
#include "services/common/strings.h"
#include "services/mime/encoded_words.h"
#include "services/mime/message.h"

namespace tern::metadata {
namespace {

constexpr int kMaxDepth = 32;

bool AnyKey(const v1::SearchKey& key, const std::function<bool(const v1::SearchKey&)>& pred,
            int depth = 0) {
  if (depth > kMaxDepth) return false;
  if (pred(key)) return true;
  switch (key.key_case()) {
    case v1::SearchKey::kAndKeys:
      for (const auto& k : key.and_keys().keys()) {
        if (AnyKey(k, pred, depth + 1)) return true;
      }
      return false;
    case v1::SearchKey::kOrKeys:
      return AnyKey(key.or_keys().first(), pred, depth + 1) ||
             AnyKey(key.or_keys().second(), pred, depth + 1);
    case v1::SearchKey::kNotKey:
      return AnyKey(key.not_key(), pred, depth + 1);
    default:
      return false;
  }
}

int Depth(const v1::SearchKey& key, int depth = 0) {
  if (depth > kMaxDepth) return depth;
  int deepest = depth;
  switch (key.key_case()) {
    case v1::SearchKey::kAndKeys:
      for (const auto& k : key.and_keys().keys()) deepest = std::max(deepest, Depth(k, depth + 1));
      break;
    case v1::SearchKey::kOrKeys:
      deepest = std::max(Depth(key.or_keys().first(), depth + 1),
                         Depth(key.or_keys().second(), depth + 1));
      break;
    case v1::SearchKey::kNotKey:
      deepest = Depth(key.not_key(), depth + 1);
      break;
    default:
      break;
  }
  return deepest;
}

int Compare(const v1::CalendarDate& a, const v1::CalendarDate& b) {
  if (a.year() != b.year()) return a.year() < b.year() ? -1 : 1;
  if (a.month() != b.month()) return a.month() < b.month() ? -1 : 1;
  if (a.day() != b.day()) return a.day() < b.day() ? -1 : 1;
  return 0;
}

bool DateMatches(const v1::DateCriterion& c, const v1::CalendarDate& d) {
  const int cmp = Compare(d, c.date());
  switch (c.comparison()) {
    case v1::DateCriterion::COMPARISON_BEFORE:
      return cmp < 0;
    case v1::DateCriterion::COMPARISON_ON:
      return cmp == 0;
    case v1::DateCriterion::COMPARISON_SINCE:
      return cmp >= 0;
    default:
      return false;
  }
}

bool InRanges(const std::vector<UidRange>& ranges, uint32_t uid) {
  for (const UidRange& r : ranges) {
    if (uid >= r.first && uid <= r.last) return true;
  }
  return false;
}

std::string HeaderValue(std::string_view raw_field) {
  const size_t colon = raw_field.find(':');
  std::string value(colon == std::string_view::npos ? raw_field : raw_field.substr(colon + 1));
  // Unfold (RFC 5322 2.2.3).
  std::string out;
  for (char c : value) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

// The decoded text of the text parts (and the raw bytes of the others) of a message.
void CollectBodyText(std::string_view raw, const mime::BodyPart& part, std::string& out) {
  if (part.IsMultipart() || (part.IsMessageRfc822() && !part.children.empty())) {
    if (part.IsMessageRfc822()) {
      for (const mime::HeaderField& f : part.children[0].headers) {
        out += mime::DecodeEncodedWords(f.value);
        out += '\n';
      }
    }
    for (const mime::BodyPart& child : part.children) CollectBodyText(raw, child, out);
    return;
  }
  if (part.offsets.body_end > raw.size() || part.offsets.header_end > part.offsets.body_end) return;
  const std::string_view body =
      raw.substr(part.offsets.header_end, part.offsets.body_end - part.offsets.header_end);
  std::string decoded = DecodeTransferEncoding(part.encoding, body);
  if (part.IsText()) {
    const std::string charset(mime::FindParam(part.params, "charset").value_or("us-ascii"));
    if (std::optional<std::string> utf8 = mime::CharsetToUtf8(charset, decoded)) decoded = *utf8;
  }
  out += decoded;
  out += '\n';
}

}  // namespace

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  auto it =
      std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                  [](char a, char b) { return absl::ascii_tolower(a) == absl::ascii_tolower(b); });
  return it != haystack.end();
}

std::optional<v1::CalendarDate> SentDate(std::string_view value) {
  // [day-of-week ","] day month year ...  (RFC 5322 3.3; obsolete forms tolerated)
  std::string s(value);
  if (const size_t comma = s.find(','); comma != std::string::npos) s = s.substr(comma + 1);
  std::vector<std::string> words;
  for (size_t i = 0; i < s.size();) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) words.push_back(s.substr(i, j - i));
    i = j;
  }
  if (words.size() < 3) return std::nullopt;
  static constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  int day = 0, year = 0, month = 0;
  if (!absl::SimpleAtoi(ToAbsl(words[0]), &day) || !absl::SimpleAtoi(ToAbsl(words[2]), &year)) {
    return std::nullopt;
  }
  const std::string m = absl::AsciiStrToLower(words[1].substr(0, 3));
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) month = i + 1;
  }
  if (month == 0 || day < 1 || day > 31) return std::nullopt;
  if (words[2].size() == 2) year += year < 50 ? 2000 : 1900;  // RFC 5322 4.3
  if (words[2].size() == 3) year += 1900;
  v1::CalendarDate d;
  d.set_year(static_cast<uint32_t>(year));
  d.set_month(static_cast<uint32_t>(month));
  d.set_day(static_cast<uint32_t>(day));
  return d;
}

std::string DecodeTransferEncoding(std::string_view encoding, std::string_view body) {
  const std::string enc = absl::AsciiStrToLower(std::string(encoding));
  if (enc == "base64") {
    std::string compact;
    for (char c : body) {
      if (absl::ascii_isalnum(c) || c == '+' || c == '/' || c == '=') compact.push_back(c);
    }
    std::string out;
    if (absl::Base64Unescape(compact, &out)) return out;
    return std::string(body);
  }
  if (enc == "quoted-printable") {
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] != '=') {
        out.push_back(body[i]);
        continue;
      }
      if (i + 1 < body.size() && (body[i + 1] == '\n' || body[i + 1] == '\r')) {  // soft break
        i += (body[i + 1] == '\r' && i + 2 < body.size() && body[i + 2] == '\n') ? 2 : 1;
        continue;
      }
      if (i + 2 < body.size() && absl::ascii_isxdigit(body[i + 1]) &&
          absl::ascii_isxdigit(body[i + 2])) {
        out.push_back(
            static_cast<char>(std::stoi(std::string(body.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
        continue;
      }
      out.push_back('=');
    }
    return out;
  }
  return std::string(body);
}

absl::StatusOr<SearchEvaluator> SearchEvaluator::Create(const v1::SearchKey& key,
                                                        std::string charset,
                                                        std::vector<UidRange> recent,
                                                        uint32_t max_uid, RawLoader loader) {
  const std::string cs = absl::AsciiStrToUpper(charset);
  if (!cs.empty() && cs != "US-ASCII" && cs != "UTF-8") {
    return absl::InvalidArgumentError("US-ASCII UTF-8");  // the BADCHARSET list
  }
  if (Depth(key) > kMaxDepth) return absl::InvalidArgumentError("search key nested too deeply");
  SearchEvaluator e;
  e.key_ = key;
  e.recent_ = std::move(recent);
  e.max_uid_ = max_uid;
  e.loader_ = std::move(loader);
  e.needs_parsed_ = AnyKey(key, [](const v1::SearchKey& k) {
    return k.has_header() ||
           (k.has_date() && k.date().field() == v1::DateCriterion::FIELD_SENT_DATE);
  });
  e.has_modseq_ = AnyKey(key, [](const v1::SearchKey& k) { return k.has_modseq(); });
  return e;
}

absl::StatusOr<bool> SearchEvaluator::Matches(const SearchRow& row) const {
  std::optional<std::string> raw;  // loaded at most once per message
  return Eval(key_, row, 0, raw);
}

absl::StatusOr<bool> SearchEvaluator::Eval(const v1::SearchKey& key, const SearchRow& row,
                                           int depth, std::optional<std::string>& raw) const {
  const auto load = [&]() -> absl::Status {
    if (raw.has_value()) return absl::OkStatus();
    if (!loader_) return absl::UnavailableError("message bodies cannot be read");
    absl::StatusOr<std::string> bytes = loader_(row.blob_id);
    if (!bytes.ok()) return bytes.status();
    raw = *std::move(bytes);
    return absl::OkStatus();
  };
  switch (key.key_case()) {
    case v1::SearchKey::KEY_NOT_SET:
    case v1::SearchKey::kAll:
      return true;
    case v1::SearchKey::kAndKeys:
      for (const v1::SearchKey& k : key.and_keys().keys()) {
        absl::StatusOr<bool> m = Eval(k, row, depth + 1, raw);
        if (!m.ok() || !*m) return m;
      }
      return true;
    case v1::SearchKey::kOrKeys: {
      absl::StatusOr<bool> a = Eval(key.or_keys().first(), row, depth + 1, raw);
      if (!a.ok() || *a) return a;
      return Eval(key.or_keys().second(), row, depth + 1, raw);
    }
    case v1::SearchKey::kNotKey: {
      absl::StatusOr<bool> m = Eval(key.not_key(), row, depth + 1, raw);
      if (!m.ok()) return m;
      return !*m;
    }
    case v1::SearchKey::kFlag:
      return ((row.flags & key.flag().flag()) != 0) == key.flag().set();
    case v1::SearchKey::kKeyword: {
      const bool has =
          std::any_of(row.keywords.begin(), row.keywords.end(), [&](const std::string& k) {
            return absl::AsciiStrToLower(k) == absl::AsciiStrToLower(key.keyword().keyword());
          });
      return has == key.keyword().set();
    }
    case v1::SearchKey::kDate: {
      const v1::DateCriterion& c = key.date();
      if (c.field() == v1::DateCriterion::FIELD_INTERNAL_DATE) {
        // The date part in the internal date's own UTC offset (RFC 3501 6.4.4).
        const absl::CivilDay day = absl::ToCivilDay(
            row.internal_date + absl::Minutes(row.tz_offset_minutes), absl::UTCTimeZone());
        v1::CalendarDate d;
        d.set_year(static_cast<uint32_t>(day.year()));
        d.set_month(static_cast<uint32_t>(day.month()));
        d.set_day(static_cast<uint32_t>(day.day()));
        return DateMatches(c, d);
      }
      if (row.parsed == nullptr || !row.parsed->envelope().has_date()) return false;
      std::optional<v1::CalendarDate> sent = SentDate(row.parsed->envelope().date());
      return sent.has_value() && DateMatches(c, *sent);
    }
    case v1::SearchKey::kSize:
      return key.size().comparison() == v1::SizeCriterion::COMPARISON_LARGER
                 ? row.size > key.size().octets()
                 : row.size < key.size().octets();
    case v1::SearchKey::kUidSet:
      return InRanges(ResolveUidSet(key.uid_set(), max_uid_), row.uid);
    case v1::SearchKey::kRecency: {
      const bool recent = InRanges(recent_, row.uid);
      switch (key.recency().kind()) {
        case v1::RecencyCriterion::KIND_RECENT:
          return recent;
        case v1::RecencyCriterion::KIND_NEW:
          return recent && (row.flags & v1::SYSTEM_FLAG_SEEN) == 0;
        default:
          return !recent;
      }
    }
    case v1::SearchKey::kModseq:
      return row.modseq >= key.modseq().modseq();
    case v1::SearchKey::kHeader: {
      const std::string name = absl::AsciiStrToLower(key.header().field_name());
      const std::string& value = key.header().value();
      bool cached = false;
      if (row.parsed != nullptr) {
        for (const std::string& n : row.parsed->cached_header_names()) cached |= n == name;
      }
      std::vector<std::string> values;
      if (cached) {
        for (const v1::HeaderField& f : row.parsed->cached_headers()) {
          if (absl::AsciiStrToLower(f.name()) == name) values.push_back(HeaderValue(f.raw()));
        }
      } else {
        if (absl::Status s = load(); !s.ok()) return s;
        const mime::ParsedMessage parsed = mime::ParseMessage(*raw, mime::Limits{.max_depth = 1});
        for (const mime::HeaderField& f : parsed.headers()) {
          if (absl::AsciiStrToLower(f.name) == name) values.push_back(f.value);
        }
      }
      for (const std::string& v : values) {
        // An empty string matches every message that has the field (RFC 3501 6.4.4).
        if (value.empty() || ContainsIgnoreCase(mime::DecodeEncodedWords(v), value)) return true;
      }
      return false;
    }
    case v1::SearchKey::kText: {
      if (absl::Status s = load(); !s.ok()) return s;
      const mime::ParsedMessage parsed = mime::ParseMessage(*raw, mime::Limits{});
      std::string text;
      if (key.text().scope() == v1::TextCriterion::SCOPE_TEXT) {
        for (const mime::HeaderField& f : parsed.headers()) {
          text += f.name;
          text += ": ";
          text += mime::DecodeEncodedWords(f.value);
          text += '\n';
        }
      }
      CollectBodyText(*raw, parsed.body, text);
      return ContainsIgnoreCase(text, key.text().value());
    }
  }
  return absl::InvalidArgumentError("unknown search key");
}

}  // namespace tern::metadata
