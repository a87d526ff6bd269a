#pragma once

// Change notices from Redis (metad PUBLISHes a ChangeNotice on "tern:mailbox:<id>" after
// every committed change) fanned in to the sessions that have that mailbox selected.
// One subscriber connection per process, on its own thread (hiredis' blocking API): it
// PSUBSCRIBEs to every mailbox channel and wakes the watching sessions on their strands.
// Notices are hints (DESIGN.md invariant 2): after a reconnect every watching session is
// woken to resync by MODSEQ, and sessions also poll (ImapSettings::poll_interval while the
// subscription is down, resync_interval while it is up), so a
// lost notice delays an update and never loses it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace tern::imap::server {

class Session;
struct ImapMetrics;

class ChangeNotifier {
 public:
  ChangeNotifier(std::string redis_address, ImapMetrics* metrics);
  ~ChangeNotifier();
  ChangeNotifier(const ChangeNotifier&) = delete;
  ChangeNotifier& operator=(const ChangeNotifier&) = delete;

  void Start();
  void Stop();
  bool connected() const { return connected_; }

  void Watch(uint64_t mailbox_id, std::weak_ptr<Session> session);
  void Unwatch(uint64_t mailbox_id, const Session* session);
  // Wakes every session watching mailbox_id (or every session, for 0).
  void Wake(uint64_t mailbox_id);

 private:
  void Loop();

  const std::string address_;
  ImapMetrics* const metrics_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::vector<std::weak_ptr<Session>>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tern::imap::server
