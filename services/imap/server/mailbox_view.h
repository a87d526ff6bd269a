#pragma once

// One session's view of its selected mailbox (RFC 3501 2.3.1.2): the messages the client
// has been told about, in sequence-number order, with their UID, MODSEQ and flags. The view
// changes only when the session reports the change to the client (EXISTS, EXPUNGE, FETCH),
// so sequence numbers always mean what the client last heard. Expunges learned while the
// client may not hear them (during FETCH, STORE, SEARCH: RFC 3501 7.4.1) are kept pending:
// the message keeps its sequence number until TakeExpunged() reports it.
//
// Flags are interned: each message holds an index into a dictionary of distinct flag sets,
// and keywords are held once per mailbox, so a large mailbox costs about 16 bytes per
// message.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/imap/protocol/parser.h"

namespace tern::imap::server {

// System flag bits, as in tern.metadata.v1.SystemFlag.
inline constexpr uint32_t kSeen = 1;
inline constexpr uint32_t kAnswered = 2;
inline constexpr uint32_t kFlagged = 4;
inline constexpr uint32_t kDeleted = 8;
inline constexpr uint32_t kDraft = 16;
inline constexpr uint32_t kRecent = 32;

struct MessageFlags {
  uint32_t system = 0;
  std::vector<std::string> keywords;  // in the spelling the mailbox first saw
  friend bool operator==(const MessageFlags&, const MessageFlags&) = default;
};

// "(\Seen \Recent $Forwarded)": the flag-list of a FETCH FLAGS response.
std::string FormatFlags(const MessageFlags& flags);

class MailboxView {
 public:
  void Clear();

  uint32_t exists() const { return static_cast<uint32_t>(uids_.size()); }
  uint32_t recent() const { return recent_; }
  uint32_t UidAt(uint32_t seq) const { return uids_[seq - 1]; }
  uint64_t ModseqAt(uint32_t seq) const { return modseqs_[seq - 1]; }
  MessageFlags FlagsAt(uint32_t seq) const;
  // The sequence number of `uid`, if the client knows the message.
  std::optional<uint32_t> SeqOf(uint32_t uid) const;
  uint32_t last_uid() const { return uids_.empty() ? 0 : uids_.back(); }

  // Adds a message the client is about to hear of (EXISTS). `uid` must exceed last_uid().
  void Append(uint32_t uid, uint64_t modseq, const MessageFlags& flags);
  // Records new flags and MODSEQ for the message at `seq`; true if either changed.
  // \Recent is kept as it was (metad never changes it after the select).
  bool Update(uint32_t seq, uint64_t modseq, MessageFlags flags);

  // Notes that `uid` was expunged; it stays in the view until TakeExpunged().
  void MarkExpunged(uint32_t uid);
  // Appends the UIDs in view within [first, last] that are not pending expunge.
  void CollectUids(uint32_t first, uint32_t last, std::vector<uint32_t>& out) const;
  // MarkExpunged for every UID in view within [first, last].
  void MarkExpungedRange(uint32_t first, uint32_t last);
  bool IsExpunged(uint32_t uid) const;
  bool has_pending_expunges() const { return !pending_expunges_.empty(); }
  // Removes every pending expunged message and returns the EXPUNGE responses to send, in
  // the order to send them: each number is valid at the moment it is sent.
  std::vector<uint32_t> TakeExpunged();

  // The keywords defined in the mailbox (for the FLAGS response), in first-seen order.
  const std::vector<std::string>& keywords() const { return keywords_; }
  // Adds keywords to the table (they become part of FLAGS); returns true if any was new.
  bool AddKeywords(const std::vector<std::string>& keywords);

  // Sequence set (message numbers) to UID ranges for metad: m:n -> uid(m):uid(n), "*" is the
  // last message. Returns false if the set names a number above exists() or uses "*" in an
  // empty mailbox (RFC 3501 9: such numbers are invalid).
  bool SeqSetToUidRanges(const protocol::SequenceSet& set,
                         std::vector<std::pair<uint32_t, uint32_t>>& ranges) const;
  // Every UID in view that is \Recent for this session.
  std::vector<uint32_t> RecentUids() const;

 private:
  struct FlagSet {
    uint32_t system = 0;
    std::vector<uint32_t> keywords;  // indexes into keywords_, ascending
    auto operator<=>(const FlagSet&) const = default;
  };
  uint32_t Intern(const MessageFlags& flags);

  std::vector<uint32_t> uids_;
  std::vector<uint64_t> modseqs_;
  std::vector<uint32_t> flag_sets_;  // per message: index into dictionary_
  std::vector<FlagSet> dictionary_;
  std::map<FlagSet, uint32_t> dictionary_index_;
  std::vector<std::string> keywords_;
  std::map<std::string, uint32_t> keyword_index_;  // upper-cased keyword -> index
  std::vector<uint32_t> pending_expunges_;         // UIDs, ascending
  uint32_t recent_ = 0;
};

}  // namespace tern::imap::server
