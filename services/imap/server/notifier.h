#pragma once

// IDLE fan-out: one tern-imapd process listens once per selected mailbox, however many of
// its sessions have it selected, and asks metad once per change for what changed.
//
// metad PUBLISHes a ChangeNotice on "tern:mailbox:<id>" after every committed change. The
// process SUBSCRIBEs to that channel while at least one of its sessions has the mailbox
// selected (common::RedisSubscriber counts the references). A notice raises the mailbox's
// target MODSEQ and wakes its sessions; the first to look becomes the fetcher and calls
// GetChanges once, from the process's MODSEQ for the mailbox (the end of its chain of
// batches); the others wait for that batch, which the fetcher publishes here, and apply it
// from memory. The last few batches are kept, so a session that was busy with a command
// catches up from them later without another call.
//
// Notices are hints (DESIGN.md invariant 2). Whatever was published while a channel was not
// subscribed (before SUBSCRIBE was confirmed, or while Redis was away) is caught up by
// MODSEQ: a confirmed SUBSCRIBE (after every reconnect too) forces one fetch. Sessions also
// resync on a timer (ImapSettings::poll_interval while Redis is away, resync_interval while
// it is up), so a lost notice delays an update and never loses it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::common {
class RedisSubscriber;
}

namespace tern::imap::server {

class Session;
struct ImapMetrics;

// What one GetChanges returned: the changes with MODSEQ in (from, to].
struct ChangeBatch {
  uint64_t from = 0;
  uint64_t to = 0;
  uint32_t uidnext = 0;
  std::vector<metadata::v1::GetChangesResponse> chunks;
  // The session whose call claimed \Recent (RFC 3501 2.3.2: \Recent shows in one session).
  const Session* recent_owner = nullptr;
};

class ChangeNotifier {
 public:
  // `subscriber` may be null (no Redis): sessions then only poll.
  ChangeNotifier(common::RedisSubscriber* subscriber, ImapMetrics* metrics);
  ChangeNotifier(const ChangeNotifier&) = delete;
  ChangeNotifier& operator=(const ChangeNotifier&) = delete;

  bool connected() const;

  // A session selected `mailbox_id`, its view synced at `modseq`.
  void Watch(uint64_t mailbox_id, uint64_t modseq, std::weak_ptr<Session> session);
  void Unwatch(uint64_t mailbox_id, const Session* session);

  // From the subscriber thread.
  void OnNotice(std::string_view channel, std::string_view payload);
  void OnSubscribed(std::string_view channel);
  // The subscription is down: every watching session is woken to start polling.
  void OnDisconnected();

  // How a woken session at `modseq` catches up.
  struct Plan {
    enum Kind {
      kNone,    // nothing newer than the session's view
      kApply,   // apply `batches` (from memory)
      kFetch,   // call GetChanges since `since`, Publish() the result, then apply
                // `batches` and it
      kWait,    // another session is fetching; its Publish() wakes this one again
      kDirect,  // call GetChanges for this session alone (its view predates the batches
                // kept, or the last fetch failed)
    } kind = kNone;
    std::vector<std::shared_ptr<const ChangeBatch>> batches;
    uint64_t since = 0;
  };
  // `poll`: the session's poll interval ran out (a lost notice, Redis away): unless the
  // process fetched for this mailbox within half of it, one fetch is forced, so a process
  // polls a mailbox once per interval, not once per session.
  // `read_write`: the session claims \Recent when it fetches; a read-only one (EXAMINE)
  // never fetches for the others, whose \Recent it would lose (RFC 3501 2.3.2).
  Plan Lookup(uint64_t mailbox_id, uint64_t modseq, const Session* session, bool read_write,
              std::chrono::steady_clock::duration poll = {});
  // The result of a kFetch plan (null when the call failed: the others then fetch for
  // themselves and meet the error, e.g. a deleted mailbox, on their own).
  void Publish(uint64_t mailbox_id, std::shared_ptr<const ChangeBatch> batch,
               const Session* fetcher);
  // A session's own GetChanges result (a poll, its own APPEND): kept when it extends what
  // the process knows, so its neighbours need not ask again.
  void Offer(uint64_t mailbox_id, std::shared_ptr<const ChangeBatch> batch);

  // Mailboxes with at least one watching session (one channel each).
  size_t mailboxes() const;

 private:
  struct Mailbox {
    std::vector<std::weak_ptr<Session>> watchers;
    // Highest MODSEQ announced by a notice.
    uint64_t target = 0;
    // Fetches demanded whatever the MODSEQ (a deleted mailbox, a SUBSCRIBE just confirmed:
    // anything may have been missed), and how many of them a completed fetch covered.
    uint64_t forced = 0;
    uint64_t satisfied = 0;
    // Contiguous batches, oldest first: each one's `from` is at most the previous `to`.
    std::deque<std::shared_ptr<const ChangeBatch>> chain;
    uint64_t base = 0;  // End() while the chain is empty
    bool fetching = false;
    const Session* fetcher = nullptr;
    uint64_t fetch_forced = 0;  // `forced` when the fetch began
    std::chrono::steady_clock::time_point fetch_started;
    std::chrono::steady_clock::time_point fetched;  // the last fetch that succeeded
    // The last fetch failed and nothing newer is known: everyone asks metad alone (and
    // meets the error, e.g. a deleted mailbox, on its own).
    bool failed = false;
    uint64_t End() const { return chain.empty() ? base : chain.back()->to; }
    uint64_t Start() const { return chain.empty() ? base : chain.front()->from; }
    bool NeedsFetch() const { return End() < target || satisfied < forced; }
  };
  void Append(Mailbox& m, std::shared_ptr<const ChangeBatch> batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the mailbox's sessions (all but `except`) on their strands.
  void WakeLocked(Mailbox& m, const Session* except) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  common::RedisSubscriber* const subscriber_;
  ImapMetrics* const metrics_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Mailbox> mailboxes_ ABSL_GUARDED_BY(mu_);
};

std::string MailboxChannel(uint64_t mailbox_id);

}  // namespace tern::imap::server
