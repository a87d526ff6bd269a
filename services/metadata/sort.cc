#include "services/metadata/sort.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/time/civil_time.h"
#include "services/common/strings.h"
#include "services/mime/encoded_words.h"

namespace tern::metadata {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (absl::ascii_tolower(s[i]) != absl::ascii_tolower(prefix[i])) return false;
  }
  return true;
}

// subj-blob = "[" *BLOBCHAR "]" *WSP; returns its length at the start of s, or 0.
size_t BlobLength(std::string_view s) {
  if (s.empty() || s[0] != '[') return 0;
  size_t i = 1;
  while (i < s.size() && s[i] != '[' && s[i] != ']') ++i;
  if (i >= s.size() || s[i] != ']') return 0;
  ++i;
  while (i < s.size() && IsWsp(s[i])) ++i;
  return i;
}

// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
size_t RefwdLength(std::string_view s) {
  size_t i = 0;
  if (StartsWithIgnoreCase(s, "re")) {
    i = 2;
  } else if (StartsWithIgnoreCase(s, "fwd")) {
    i = 3;
  } else if (StartsWithIgnoreCase(s, "fw")) {
    i = 2;
  } else {
    return 0;
  }
  while (i < s.size() && IsWsp(s[i])) ++i;
  i += BlobLength(s.substr(i));
  return i < s.size() && s[i] == ':' ? i + 1 : 0;
}

// subj-leader = (*subj-blob subj-refwd) / WSP
size_t LeaderLength(std::string_view s) {
  if (!s.empty() && IsWsp(s[0])) return 1;
  size_t i = 0;
  while (size_t b = BlobLength(s.substr(i))) i += b;
  const size_t r = RefwdLength(s.substr(i));
  return r > 0 ? i + r : 0;
}

std::string Fold(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\t' || c == '\r' || c == '\n' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  if (space && !out.empty()) out.push_back(' ');
  return out;
}

int CompareCaseMap(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const char x = absl::ascii_toupper(a[i]), y = absl::ascii_toupper(b[i]);
    if (x != y) return static_cast<unsigned char>(x) < static_cast<unsigned char>(y) ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

const v1::Address* First(const google::protobuf::RepeatedPtrField<v1::Address>& list) {
  for (const v1::Address& a : list) {
    if (a.has_host()) return &a;  // skip group markers
  }
  return nullptr;
}

std::string Mailbox(const google::protobuf::RepeatedPtrField<v1::Address>& list) {
  const v1::Address* a = First(list);
  return a != nullptr && a->has_mailbox() ? a->mailbox() : "";
}

// RFC 5957: the display name (decoded) or, when empty, the address.
std::string Display(const google::protobuf::RepeatedPtrField<v1::Address>& list) {
  const v1::Address* a = First(list);
  if (a == nullptr) return "";
  if (a->has_name() && !a->name().empty()) return mime::DecodeEncodedWords(a->name());
  return Cat(a->mailbox(), "@", a->host());
}

}  // namespace

std::string BaseSubject(std::string_view subject) {
  std::string s = Fold(mime::DecodeEncodedWords(subject));  // step (1)
  for (;;) {
    // (2) trailers: "(fwd)" or white space, repeatedly.
    for (bool again = true; again;) {
      again = false;
      if (!s.empty() && IsWsp(s.back())) {
        s.pop_back();
        again = true;
      } else if (s.size() >= 5 &&
                 StartsWithIgnoreCase(std::string_view(s).substr(s.size() - 5), "(fwd)")) {
        s.resize(s.size() - 5);
        again = true;
      }
    }
    // (3)-(5) leaders and blobs, repeatedly.
    for (bool again = true; again;) {
      again = false;
      if (size_t l = LeaderLength(s); l > 0) {
        s.erase(0, l);
        again = true;
      }
      if (size_t b = BlobLength(s); b > 0 && b < s.size()) {
        s.erase(0, b);
        again = true;
      }
    }
    // (6) "[fwd:" ... "]" around the whole subject.
    if (StartsWithIgnoreCase(s, "[fwd:") && !s.empty() && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      continue;
    }
    return s;
  }
}

std::optional<absl::Time> SentTime(std::string_view value) {
  std::string s(value);
  if (const size_t comma = s.find(','); comma != std::string::npos) s = s.substr(comma + 1);
  std::vector<std::string> w;
  for (size_t i = 0; i < s.size();) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n') ++j;
    if (j > i) w.push_back(s.substr(i, j - i));
    i = j;
  }
  std::optional<v1::CalendarDate> day = SentDate(value);
  if (!day || w.size() < 3) return std::nullopt;
  int hh = 0, mm = 0, ss = 0;
  if (w.size() >= 4) {
    const std::vector<std::string> parts = [&] {
      std::vector<std::string> p;
      size_t a = 0;
      for (size_t b; (b = w[3].find(':', a)) != std::string::npos; a = b + 1)
        p.push_back(w[3].substr(a, b - a));
      p.push_back(w[3].substr(a));
      return p;
    }();
    if (parts.size() >= 2) {
      absl::SimpleAtoi(ToAbsl(parts[0]), &hh);
      absl::SimpleAtoi(ToAbsl(parts[1]), &mm);
      if (parts.size() >= 3) absl::SimpleAtoi(ToAbsl(parts[2]), &ss);
    }
  }
  int offset_minutes = 0;  // an unknown zone is UTC (RFC 5256 2.2)
  if (w.size() >= 5) {
    const std::string& z = w[4];
    int n = 0;
    if ((z[0] == '+' || z[0] == '-') && z.size() == 5 &&
        absl::SimpleAtoi(ToAbsl(z.substr(1)), &n)) {
      offset_minutes = (n / 100 * 60 + n % 100) * (z[0] == '-' ? -1 : 1);
    } else {
      static const std::pair<const char*, int> kZones[] = {{"EST", -5}, {"EDT", -4}, {"CST", -6},
                                                           {"CDT", -5}, {"MST", -7}, {"MDT", -6},
                                                           {"PST", -8}, {"PDT", -7}};
      for (const auto& [name, hours] : kZones) {
        if (absl::AsciiStrToUpper(z) == name) offset_minutes = hours * 60;
      }
    }
  }
  const absl::CivilSecond civil(day->year(), day->month(), day->day(), hh, mm, ss);
  return absl::FromCivil(civil, absl::UTCTimeZone()) - absl::Minutes(offset_minutes);
}

std::vector<uint32_t> SortRows(std::vector<SearchRow> rows,
                               const google::protobuf::RepeatedPtrField<v1::SortCriterion>& by) {
  // Precompute each row's keys once.
  struct Keys {
    std::vector<std::string> strings;
    std::vector<int64_t> numbers;
  };
  std::vector<Keys> keys(rows.size());
  static const v1::Envelope kEmpty;
  for (size_t i = 0; i < rows.size(); ++i) {
    const v1::Envelope& env = rows[i].parsed != nullptr ? rows[i].parsed->envelope() : kEmpty;
    for (const v1::SortCriterion& c : by) {
      switch (c.key()) {
        case v1::SORT_KEY_ARRIVAL:
          keys[i].numbers.push_back(absl::ToUnixMicros(rows[i].internal_date));
          break;
        case v1::SORT_KEY_DATE: {
          std::optional<absl::Time> sent = env.has_date() ? SentTime(env.date()) : std::nullopt;
          keys[i].numbers.push_back(absl::ToUnixMicros(sent.value_or(rows[i].internal_date)));
          break;
        }
        case v1::SORT_KEY_SIZE:
          keys[i].numbers.push_back(static_cast<int64_t>(rows[i].size));
          break;
        case v1::SORT_KEY_SUBJECT:
          keys[i].strings.push_back(BaseSubject(env.subject()));
          break;
        case v1::SORT_KEY_FROM:
          keys[i].strings.push_back(Mailbox(env.from()));
          break;
        case v1::SORT_KEY_TO:
          keys[i].strings.push_back(Mailbox(env.to()));
          break;
        case v1::SORT_KEY_CC:
          keys[i].strings.push_back(Mailbox(env.cc()));
          break;
        case v1::SORT_KEY_DISPLAYFROM:
          keys[i].strings.push_back(Display(env.from()));
          break;
        case v1::SORT_KEY_DISPLAYTO:
          keys[i].strings.push_back(Display(env.to()));
          break;
        default:
          break;
      }
    }
  }
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    size_t si = 0, ni = 0;
    for (const v1::SortCriterion& c : by) {
      int cmp = 0;
      const bool numeric = c.key() == v1::SORT_KEY_ARRIVAL || c.key() == v1::SORT_KEY_DATE ||
                           c.key() == v1::SORT_KEY_SIZE;
      if (numeric) {
        const int64_t x = keys[a].numbers[ni], y = keys[b].numbers[ni];
        cmp = x < y ? -1 : (x > y ? 1 : 0);
        ++ni;
      } else if (c.key() != v1::SORT_KEY_UNSPECIFIED) {
        cmp = CompareCaseMap(keys[a].strings[si], keys[b].strings[si]);
        ++si;
      }
      if (c.reverse()) cmp = -cmp;
      if (cmp != 0) return cmp < 0;
    }
    return rows[a].uid < rows[b].uid;  // RFC 5256 3: the sequence number breaks ties
  });
  std::vector<uint32_t> out;
  out.reserve(order.size());
  for (size_t i : order) out.push_back(rows[i].uid);
  return out;
}

std::vector<v1::ThreadNode> ThreadOrderedSubject(std::vector<SearchRow> rows) {
  struct Item {
    std::string subject;
    int64_t sent;
    uint32_t uid;
  };
  std::vector<Item> items;
  items.reserve(rows.size());
  for (const SearchRow& r : rows) {
    const v1::Envelope* env = r.parsed != nullptr ? &r.parsed->envelope() : nullptr;
    std::optional<absl::Time> sent =
        env != nullptr && env->has_date() ? SentTime(env->date()) : std::nullopt;
    items.push_back({env != nullptr ? BaseSubject(env->subject()) : std::string(),
                     absl::ToUnixMicros(sent.value_or(r.internal_date)), r.uid});
  }
  // By base subject, then sent date, then UID.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (const int cmp = CompareCaseMap(a.subject, b.subject); cmp != 0) return cmp < 0;
    if (a.sent != b.sent) return a.sent < b.sent;
    return a.uid < b.uid;
  });
  std::vector<std::pair<size_t, size_t>> threads;  // [begin, end) in items
  for (size_t i = 0; i < items.size();) {
    size_t j = i + 1;
    while (j < items.size() && CompareCaseMap(items[j].subject, items[i].subject) == 0) ++j;
    threads.emplace_back(i, j);
    i = j;
  }
  // Threads by the sent date of their first message.
  std::stable_sort(threads.begin(), threads.end(), [&](const auto& a, const auto& b) {
    const Item& x = items[a.first];
    const Item& y = items[b.first];
    return x.sent != y.sent ? x.sent < y.sent : x.uid < y.uid;
  });
  std::vector<v1::ThreadNode> out;
  for (const auto& [begin, end] : threads) {
    v1::ThreadNode& root = out.emplace_back();
    root.set_uid(items[begin].uid);
    const uint32_t root_index = static_cast<uint32_t>(out.size());
    for (size_t k = begin + 1; k < end; ++k) {
      v1::ThreadNode& child = out.emplace_back();
      child.set_uid(items[k].uid);
      child.set_parent(root_index);
    }
  }
  return out;
}

}  // namespace tern::metadata
