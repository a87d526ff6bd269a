#include "services/metadata/sort.h"

#include <algorithm>
#include <map>

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

std::string BaseSubject(std::string_view subject, bool* reply_or_forward) {
  bool reply = false;
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
        reply = reply || !IsWsp(s[0]) || l > 1;
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
      reply = true;
      continue;
    }
    if (reply_or_forward != nullptr) *reply_or_forward = reply;
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

std::vector<std::string> MessageIds(std::string_view value) {
  std::vector<std::string> out;
  for (size_t i = value.find('<'); i != std::string_view::npos; i = value.find('<', i + 1)) {
    const size_t end = value.find('>', i);
    if (end == std::string_view::npos) break;
    std::string id;
    for (char ch : value.substr(i + 1, end - i - 1)) {
      if (ch != '"' && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') id.push_back(ch);
    }
    // A valid msg-id has an '@' between non-empty parts (RFC 5322 3.6.4).
    const size_t at = id.find('@');
    if (at != std::string::npos && at > 0 && at + 1 < id.size()) out.push_back("<" + id + ">");
    i = end;
  }
  return out;
}

namespace {

struct ThreadTree {
  struct Node {
    int message = -1;  // index into the messages, -1 for a dummy
    int parent = -1;
    std::vector<int> children;
  };
  std::vector<Node> nodes;

  bool IsAncestor(int maybe_ancestor, int node) const {
    for (int n = node; n != -1; n = nodes[n].parent) {
      if (n == maybe_ancestor) return true;
    }
    return false;
  }
  void Unlink(int child) {
    const int p = nodes[child].parent;
    if (p == -1) return;
    auto& siblings = nodes[p].children;
    siblings.erase(std::find(siblings.begin(), siblings.end(), child));
    nodes[child].parent = -1;
  }
  // Links child under parent unless that would make a loop.
  void Link(int parent, int child) {
    if (parent == child || IsAncestor(child, parent)) return;
    Unlink(child);
    nodes[child].parent = parent;
    nodes[parent].children.push_back(child);
  }
  int Add(int message) {
    nodes.push_back(Node{message, -1, {}});
    return static_cast<int>(nodes.size()) - 1;
  }
};

struct ThreadMessage {
  uint32_t uid;
  int64_t sent;
  std::string subject;  // base subject
  bool reply;
};

}  // namespace

std::vector<v1::ThreadNode> ThreadReferences(std::vector<SearchRow> rows) {
  std::vector<ThreadMessage> messages;
  ThreadTree tree;
  std::map<std::string, int> by_id;
  const auto node_for = [&](const std::string& id) {
    auto it = by_id.find(id);
    if (it != by_id.end()) return it->second;
    const int n = tree.Add(-1);
    by_id[id] = n;
    return n;
  };
  // (1) Links from Message-ID, References and In-Reply-To, in UID order.
  for (const SearchRow& row : rows) {
    const v1::Envelope* env = row.parsed != nullptr ? &row.parsed->envelope() : nullptr;
    std::optional<absl::Time> sent =
        env != nullptr && env->has_date() ? SentTime(env->date()) : std::nullopt;
    bool reply = false;
    std::string subject = env != nullptr ? BaseSubject(env->subject(), &reply) : std::string();
    messages.push_back(
        {row.uid, absl::ToUnixMicros(sent.value_or(row.internal_date)), std::move(subject), reply});
    const int index = static_cast<int>(messages.size()) - 1;
    std::vector<std::string> own =
        env != nullptr ? MessageIds(env->message_id()) : std::vector<std::string>();
    int node = -1;
    if (!own.empty()) {
      node = node_for(own[0]);
      if (tree.nodes[node].message != -1) node = tree.Add(-1);  // duplicate id: a unique one
    } else {
      node = tree.Add(-1);
    }
    tree.nodes[node].message = index;
    std::vector<std::string> refs;
    if (row.parsed != nullptr) {
      for (const v1::HeaderField& f : row.parsed->cached_headers()) {
        if (absl::AsciiStrToLower(f.name()) == "references") {
          const std::string raw = f.raw();
          refs = MessageIds(raw.substr(std::min(raw.size(), raw.find(':') + 1)));
          break;
        }
      }
    }
    if (refs.empty() && env != nullptr && env->has_in_reply_to()) {
      std::vector<std::string> irt = MessageIds(env->in_reply_to());
      if (!irt.empty()) refs.push_back(irt[0]);
    }
    // (A) chain the references, keeping links that already exist.
    for (size_t i = 0; i + 1 < refs.size(); ++i) {
      const int parent = node_for(refs[i]);
      const int child = node_for(refs[i + 1]);
      if (tree.nodes[child].parent == -1) tree.Link(parent, child);
    }
    // (B) the last reference is this message's parent.
    if (refs.empty()) {
      tree.Unlink(node);
    } else {
      tree.Link(node_for(refs.back()), node);
    }
  }
  const auto sent_of = [&](int n) -> std::pair<int64_t, uint32_t> {
    // A dummy sorts by its first child (children are sorted first).
    while (tree.nodes[n].message == -1 && !tree.nodes[n].children.empty())
      n = tree.nodes[n].children[0];
    if (tree.nodes[n].message == -1) return {0, 0};
    const ThreadMessage& m = messages[tree.nodes[n].message];
    return {m.sent, m.uid};
  };
  const auto sort_children = [&](auto& self, int n) -> void {
    for (int c : tree.nodes[n].children) self(self, c);
    std::stable_sort(tree.nodes[n].children.begin(), tree.nodes[n].children.end(),
                     [&](int a, int b) { return sent_of(a) < sent_of(b); });
  };
  // (2) The root holds every parentless node.
  const int root = tree.Add(-1);
  for (int n = 0; n < root; ++n) {
    if (tree.nodes[n].parent == -1) {
      tree.nodes[n].parent = root;
      tree.nodes[root].children.push_back(n);
    }
  }
  // (3) Prune dummies.
  const auto prune = [&](auto& self, int n) -> void {
    std::vector<int> kept;
    for (int c : tree.nodes[n].children) {
      self(self, c);
      const ThreadTree::Node& child = tree.nodes[c];
      if (child.message != -1) {
        kept.push_back(c);
      } else if (child.children.empty()) {
        // an empty dummy disappears
      } else if (n != root || child.children.size() == 1) {
        for (int g : child.children) {
          tree.nodes[g].parent = n;
          kept.push_back(g);
        }
      } else {
        kept.push_back(c);
      }
    }
    tree.nodes[n].children = kept;
  };
  prune(prune, root);
  // (4) Sort the top level by sent date.
  for (int c : tree.nodes[root].children) sort_children(sort_children, c);
  std::stable_sort(tree.nodes[root].children.begin(), tree.nodes[root].children.end(),
                   [&](int a, int b) { return sent_of(a) < sent_of(b); });
  // (5) Merge threads with the same base subject.
  const auto thread_subject = [&](int n) -> const ThreadMessage* {
    if (tree.nodes[n].message == -1) {
      if (tree.nodes[n].children.empty()) return nullptr;
      n = tree.nodes[n].children[0];
    }
    return tree.nodes[n].message == -1 ? nullptr : &messages[tree.nodes[n].message];
  };
  std::map<std::string, int> subjects;
  const auto key = [](const std::string& s) { return absl::AsciiStrToLower(s); };
  for (int c : tree.nodes[root].children) {
    const ThreadMessage* m = thread_subject(c);
    if (m == nullptr || m->subject.empty()) continue;
    auto [it, added] = subjects.emplace(key(m->subject), c);
    if (added) continue;
    const int t = it->second;
    const bool current_dummy = tree.nodes[c].message == -1;
    const bool table_dummy = tree.nodes[t].message == -1;
    const bool table_reply = !table_dummy && messages[tree.nodes[t].message].reply;
    if (!table_dummy && (current_dummy || (table_reply && !m->reply))) it->second = c;
  }
  std::vector<int> top = tree.nodes[root].children;
  std::vector<int> merged_top;
  for (int c : top) {
    if (tree.nodes[c].parent != root) continue;  // merged under a dummy already
    const ThreadMessage* m = thread_subject(c);
    if (m == nullptr || m->subject.empty()) {
      merged_top.push_back(c);
      continue;
    }
    int& t = subjects[key(m->subject)];
    if (t == c) {
      merged_top.push_back(c);
      continue;
    }
    ThreadTree::Node& current = tree.nodes[c];
    ThreadTree::Node& table = tree.nodes[t];
    const bool current_reply = current.message != -1 && messages[current.message].reply;
    const bool table_reply = table.message != -1 && messages[table.message].reply;
    if (current.message == -1 && table.message == -1) {
      for (int g : current.children) {
        tree.nodes[g].parent = t;
        tree.nodes[t].children.push_back(g);
      }
      current.children.clear();
    } else if (table.message == -1 || (current_reply && !table_reply)) {
      current.parent = t;
      tree.nodes[t].children.push_back(c);
    } else {
      const int dummy = tree.Add(-1);
      tree.nodes[dummy].parent = root;
      tree.nodes[dummy].children = {t, c};
      tree.nodes[t].parent = dummy;
      tree.nodes[c].parent = dummy;
      // The dummy takes the table message's place (or this one's, if that comes later).
      auto at = std::find(merged_top.begin(), merged_top.end(), t);
      if (at != merged_top.end()) {
        *at = dummy;
      } else {
        merged_top.push_back(dummy);
      }
      t = dummy;
    }
  }
  tree.nodes[root].children = merged_top;
  // (6) Siblings by sent date everywhere.
  sort_children(sort_children, root);
  // Flat pre-order encoding; dummies become uid 0.
  std::vector<v1::ThreadNode> out;
  const auto emit = [&](auto& self, int n, uint32_t parent) -> void {
    v1::ThreadNode& node = out.emplace_back();
    node.set_uid(tree.nodes[n].message == -1 ? 0 : messages[tree.nodes[n].message].uid);
    node.set_parent(parent);
    const uint32_t index = static_cast<uint32_t>(out.size());
    for (int c : tree.nodes[n].children) self(self, c, index);
  };
  for (int c : tree.nodes[root].children) emit(emit, c, 0);
  return out;
}

}  // namespace tern::metadata
