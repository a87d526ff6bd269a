#include "services/imap/server/notifier.h"


#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "services/common/redis_subscriber.h"
#include "services/common/strings.h"
#include "services/imap/server/server_context.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;

constexpr std::string_view kPrefix = "tern:mailbox:";
// Batches kept per mailbox for sessions that were busy when a change came.
constexpr size_t kKeptBatches = 32;
// A fetcher that has not published by then is presumed gone; another session takes over.
constexpr auto kFetchTimeout = std::chrono::seconds(10);

}  // namespace

std::string MailboxChannel(uint64_t mailbox_id) { return Cat(kPrefix, mailbox_id); }

ChangeNotifier::ChangeNotifier(common::RedisSubscriber* subscriber, ImapMetrics* metrics)
    : subscriber_(subscriber), metrics_(metrics) {}

bool ChangeNotifier::connected() const { return subscriber_ != nullptr && subscriber_->connected(); }

size_t ChangeNotifier::mailboxes() const {
  std::lock_guard lock(mu_);
  return mailboxes_.size();
}

void ChangeNotifier::Watch(uint64_t mailbox_id, uint64_t modseq, std::weak_ptr<Session> session) {
  bool first = false;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = mailboxes_.try_emplace(mailbox_id);
    Mailbox& m = it->second;
    if (inserted) {
      m.base = modseq;
      m.target = modseq;
      // A change committed after the session's SELECT but before this process listened
      // (the channel may even have stayed subscribed from an earlier watcher) was not
      // heard: catch up by MODSEQ once.
      m.forced = 1;
      first = true;
    }
    // Woken now if the process already knows of (or must fetch) something newer than the
    // session's SELECT: a notice it heard before this session was watching.
    if (modseq < m.End() || m.NeedsFetch()) {
      if (std::shared_ptr<Session> s = session.lock()) {
        asio::post(s->strand(), [s] { s->Notify(); });
      }
    }
    m.watchers.push_back(std::move(session));
  }
  if (first && metrics_) metrics_->watched_mailboxes.Increment();
  if (first && subscriber_ != nullptr) subscriber_->Subscribe(MailboxChannel(mailbox_id));
}

void ChangeNotifier::Unwatch(uint64_t mailbox_id, const Session* session) {
  bool last = false;
  {
    std::lock_guard lock(mu_);
    auto it = mailboxes_.find(mailbox_id);
    if (it == mailboxes_.end()) return;
    Mailbox& m = it->second;
    std::erase_if(m.watchers, [session](const std::weak_ptr<Session>& w) {
      auto s = w.lock();
      return !s || s.get() == session;
    });
    if (m.watchers.empty()) {
      mailboxes_.erase(it);
      last = true;
    } else if (m.fetching && m.fetcher == session) {
      // The fetcher left before publishing: someone else fetches.
      m.fetching = false;
      m.fetcher = nullptr;
      WakeLocked(m, nullptr);
    }
  }
  if (last && metrics_) metrics_->watched_mailboxes.Decrement();
  if (last && subscriber_ != nullptr) subscriber_->Unsubscribe(MailboxChannel(mailbox_id));
}

void ChangeNotifier::WakeLocked(Mailbox& m, const Session* except) {
  std::erase_if(m.watchers, [](const std::weak_ptr<Session>& w) { return w.expired(); });
  for (const auto& w : m.watchers) {
    std::shared_ptr<Session> s = w.lock();
    if (!s || s.get() == except) continue;
    asio::post(s->strand(), [s] { s->Notify(); });
  }
}

void ChangeNotifier::OnNotice(std::string_view channel, std::string_view payload) {
  uint64_t id = 0;
  if (!absl::StartsWith(ToAbsl(channel), ToAbsl(kPrefix)) ||
      !absl::SimpleAtoi(ToAbsl(channel.substr(kPrefix.size())), &id) || id == 0) {
    return;
  }
  if (metrics_) metrics_->notices.Increment();
  md::ChangeNotice notice;
  const bool parsed = notice.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
  std::lock_guard lock(mu_);
  auto it = mailboxes_.find(id);
  if (it == mailboxes_.end()) return;
  Mailbox& m = it->second;
  bool structural = !parsed || notice.highest_modseq() == 0;
  for (int kind : notice.kinds()) structural |= kind == md::CHANGE_KIND_MAILBOX_DELETED;
  if (structural) {
    // A deleted or re-created mailbox has no MODSEQ to wait for: fetch (and meet the error).
    ++m.forced;
  } else if (notice.highest_modseq() > m.target) {
    m.target = notice.highest_modseq();
  } else if (!m.NeedsFetch()) {
    return;  // already fetched past it
  }
  m.failed = false;
  WakeLocked(m, nullptr);
}

void ChangeNotifier::OnSubscribed(std::string_view channel) {
  uint64_t id = 0;
  if (!absl::StartsWith(ToAbsl(channel), ToAbsl(kPrefix)) ||
      !absl::SimpleAtoi(ToAbsl(channel.substr(kPrefix.size())), &id)) {
    return;
  }
  std::lock_guard lock(mu_);
  auto it = mailboxes_.find(id);
  if (it == mailboxes_.end()) return;
  Mailbox& m = it->second;
  // Notices published before this point were not heard: catch up by MODSEQ once.
  ++m.forced;
  m.failed = false;
  WakeLocked(m, nullptr);
}

void ChangeNotifier::OnDisconnected() {
  std::lock_guard lock(mu_);
  for (auto& [id, m] : mailboxes_) WakeLocked(m, nullptr);
}

ChangeNotifier::Plan ChangeNotifier::Lookup(uint64_t mailbox_id, uint64_t modseq,
                                            const Session* session, bool read_write,
                                            std::chrono::steady_clock::duration poll) {
  Plan plan;
  std::lock_guard lock(mu_);
  auto it = mailboxes_.find(mailbox_id);
  if (it == mailboxes_.end()) {
    plan.kind = Plan::kDirect;
    return plan;
  }
  Mailbox& m = it->second;
  const auto now = std::chrono::steady_clock::now();
  if (poll.count() > 0 && now - m.fetched >= poll / 2 && !m.fetching) {
    ++m.forced;
    m.failed = false;
  }
  const bool on_chain = modseq >= m.Start();
  auto collect = [&] {
    for (const auto& b : m.chain) {
      if (b->to > modseq) plan.batches.push_back(b);
    }
  };
  if (!m.NeedsFetch()) {
    if (modseq >= m.End()) {
      plan.kind = Plan::kNone;
    } else if (on_chain) {
      plan.kind = Plan::kApply;
      collect();
      if (metrics_) metrics_->fanout_applied.Increment();
    } else {
      plan.kind = Plan::kDirect;
    }
  } else if (m.failed || (!read_write && !m.fetching)) {
    plan.kind = Plan::kDirect;
  } else if (m.fetching && now - m.fetch_started < kFetchTimeout) {
    plan.kind = Plan::kWait;
  } else if (on_chain) {
    if (metrics_) metrics_->fanout_fetches.Increment();
    plan.kind = Plan::kFetch;
    plan.since = m.End();
    collect();
    m.fetching = true;
    m.fetcher = session;
    m.fetch_forced = m.forced;
    m.fetch_started = now;
  } else {
    plan.kind = Plan::kDirect;
  }
  return plan;
}

void ChangeNotifier::Append(Mailbox& m, std::shared_ptr<const ChangeBatch> batch) {
  // A batch from at most End() to beyond it keeps the chain contiguous; anything else
  // (a session that was ahead or behind) is not worth keeping.
  if (batch->to <= m.End() || batch->from > m.End()) return;
  m.chain.push_back(std::move(batch));
  while (m.chain.size() > kKeptBatches) m.chain.pop_front();
  m.failed = false;
}

void ChangeNotifier::Publish(uint64_t mailbox_id, std::shared_ptr<const ChangeBatch> batch,
                             const Session* fetcher) {
  std::lock_guard lock(mu_);
  auto it = mailboxes_.find(mailbox_id);
  if (it == mailboxes_.end()) return;
  Mailbox& m = it->second;
  const bool current = m.fetching && m.fetcher == fetcher;
  if (current) {
    m.fetching = false;
    m.fetcher = nullptr;
  }
  if (batch) {
    Append(m, std::move(batch));
    // A fetch that began after a forced catch-up covers it.
    if (current) {
      m.satisfied = std::max(m.satisfied, m.fetch_forced);
      m.fetched = std::chrono::steady_clock::now();
    }
  } else if (current) {
    m.failed = true;
  }
  WakeLocked(m, fetcher);
}

void ChangeNotifier::Offer(uint64_t mailbox_id, std::shared_ptr<const ChangeBatch> batch) {
  std::lock_guard lock(mu_);
  auto it = mailboxes_.find(mailbox_id);
  if (it == mailboxes_.end()) return;
  Append(it->second, std::move(batch));
}

}  // namespace tern::imap::server
