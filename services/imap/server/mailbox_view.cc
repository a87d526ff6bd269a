#include "services/imap/server/mailbox_view.h"

#include <algorithm>

namespace tern::imap::server {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace

std::string FormatFlags(const MessageFlags& flags) {
  std::string out = "(";
  auto add = [&](std::string_view f) {
    if (out.size() > 1) out += ' ';
    out += f;
  };
  if (flags.system & kAnswered) add("\\Answered");
  if (flags.system & kFlagged) add("\\Flagged");
  if (flags.system & kDeleted) add("\\Deleted");
  if (flags.system & kSeen) add("\\Seen");
  if (flags.system & kDraft) add("\\Draft");
  if (flags.system & kRecent) add("\\Recent");
  for (const std::string& k : flags.keywords) add(k);
  out += ')';
  return out;
}

void MailboxView::Clear() { *this = MailboxView(); }

MessageFlags MailboxView::FlagsAt(uint32_t seq) const {
  const FlagSet& set = dictionary_[flag_sets_[seq - 1]];
  MessageFlags flags{.system = set.system, .keywords = {}};
  for (uint32_t k : set.keywords) flags.keywords.push_back(keywords_[k]);
  return flags;
}

std::optional<uint32_t> MailboxView::SeqOf(uint32_t uid) const {
  auto it = std::lower_bound(uids_.begin(), uids_.end(), uid);
  if (it == uids_.end() || *it != uid) return std::nullopt;
  return static_cast<uint32_t>(it - uids_.begin() + 1);
}

bool MailboxView::AddKeywords(const std::vector<std::string>& keywords) {
  bool added = false;
  for (const std::string& k : keywords) {
    if (keyword_index_.emplace(Upper(k), keywords_.size()).second) {
      keywords_.push_back(k);
      added = true;
    }
  }
  return added;
}

uint32_t MailboxView::Intern(const MessageFlags& flags) {
  AddKeywords(flags.keywords);
  FlagSet set{.system = flags.system, .keywords = {}};
  for (const std::string& k : flags.keywords) set.keywords.push_back(keyword_index_[Upper(k)]);
  std::sort(set.keywords.begin(), set.keywords.end());
  set.keywords.erase(std::unique(set.keywords.begin(), set.keywords.end()), set.keywords.end());
  auto [it, inserted] = dictionary_index_.emplace(set, static_cast<uint32_t>(dictionary_.size()));
  if (inserted) dictionary_.push_back(std::move(set));
  return it->second;
}

void MailboxView::Append(uint32_t uid, uint64_t modseq, const MessageFlags& flags) {
  uids_.push_back(uid);
  modseqs_.push_back(modseq);
  flag_sets_.push_back(Intern(flags));
  if (flags.system & kRecent) ++recent_;
}

bool MailboxView::Update(uint32_t seq, uint64_t modseq, MessageFlags flags) {
  const uint32_t old_set = flag_sets_[seq - 1];
  flags.system = (flags.system & ~kRecent) | (dictionary_[old_set].system & kRecent);
  const uint32_t new_set = Intern(flags);
  const bool changed = new_set != old_set || modseqs_[seq - 1] != modseq;
  flag_sets_[seq - 1] = new_set;
  modseqs_[seq - 1] = std::max(modseqs_[seq - 1], modseq);
  return changed;
}

void MailboxView::MarkExpunged(uint32_t uid) {
  if (!SeqOf(uid)) return;
  auto it = std::lower_bound(pending_expunges_.begin(), pending_expunges_.end(), uid);
  if (it == pending_expunges_.end() || *it != uid) pending_expunges_.insert(it, uid);
}

void MailboxView::CollectUids(uint32_t first, uint32_t last, std::vector<uint32_t>& out) const {
  for (auto it = std::lower_bound(uids_.begin(), uids_.end(), first);
       it != uids_.end() && *it <= last; ++it) {
    if (!IsExpunged(*it)) out.push_back(*it);
  }
}

void MailboxView::MarkExpungedRange(uint32_t first, uint32_t last) {
  for (auto it = std::lower_bound(uids_.begin(), uids_.end(), first);
       it != uids_.end() && *it <= last; ++it) {
    MarkExpunged(*it);
  }
}

bool MailboxView::IsExpunged(uint32_t uid) const {
  return std::binary_search(pending_expunges_.begin(), pending_expunges_.end(), uid);
}

std::vector<uint32_t> MailboxView::TakeExpunged() {
  std::vector<uint32_t> seqs;  // ascending
  for (uint32_t uid : pending_expunges_) {
    if (const std::optional<uint32_t> seq = SeqOf(uid)) seqs.push_back(*seq);
  }
  pending_expunges_.clear();
  // One compaction pass over the arrays.
  size_t out = 0;
  size_t next = 0;
  for (size_t i = 0; i < uids_.size(); ++i) {
    if (next < seqs.size() && seqs[next] == i + 1) {
      ++next;
      if (dictionary_[flag_sets_[i]].system & kRecent) --recent_;
      continue;
    }
    uids_[out] = uids_[i];
    modseqs_[out] = modseqs_[i];
    flag_sets_[out] = flag_sets_[i];
    ++out;
  }
  uids_.resize(out);
  modseqs_.resize(out);
  flag_sets_.resize(out);
  // Highest sequence number first: removing a message renumbers only the messages after
  // it, so every number is still valid when the client reads it (RFC 3501 7.4.1).
  std::reverse(seqs.begin(), seqs.end());
  return seqs;
}

bool MailboxView::SeqSetToUidRanges(const protocol::SequenceSet& set,
                                    std::vector<std::pair<uint32_t, uint32_t>>& ranges) const {
  const uint32_t n = exists();
  for (const protocol::SequenceRange& r : set.ranges) {
    uint32_t a = r.first == 0 ? n : r.first;
    uint32_t b = r.last == 0 ? n : r.last;
    if (a > b) std::swap(a, b);
    // RFC 3501 9 (seq-number): a number above EXISTS is invalid, and so is "*" when the
    // mailbox is empty.
    if ((r.first != 0 && r.first > n) || (r.last != 0 && r.last > n) || n == 0) return false;
    ranges.emplace_back(UidAt(a), UidAt(b));
  }
  return true;
}

std::vector<uint32_t> MailboxView::RecentUids() const {
  std::vector<uint32_t> out;
  if (recent_ == 0) return out;
  for (size_t i = 0; i < uids_.size(); ++i) {
    if (dictionary_[flag_sets_[i]].system & kRecent) out.push_back(uids_[i]);
  }
  return out;
}

}  // namespace tern::imap::server
