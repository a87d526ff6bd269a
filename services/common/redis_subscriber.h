#pragma once

// A process's one Redis pub/sub connection (DESIGN.md: one hiredis connection per purpose per
// process). Channels are reference-counted: the first Subscribe(channel) sends SUBSCRIBE, the
// last Unsubscribe(channel) UNSUBSCRIBE, so a front-end listens once per selected mailbox
// however many of its sessions have it selected. The connection runs on its own thread
// (poll(2) over the Redis socket and an eventfd that carries subscription changes) and
// reconnects on its own; a PING every few seconds notices a dead peer (a partition, not
// only a closed socket).
//
// Notices are hints (invariant 2): whatever was published while a channel was not yet or no
// longer subscribed is lost, which is why `on_subscribed` runs once SUBSCRIBE is confirmed
// (after a reconnect too): the owner then catches up by MODSEQ.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"

namespace tern::common {

class RedisSubscriber {
 public:
  struct Handlers {
    // A message on a subscribed channel; runs on the subscriber thread.
    std::function<void(std::string_view channel, std::string_view payload)> on_message;
    // SUBSCRIBE to `channel` confirmed; anything published before may have been missed.
    std::function<void(std::string_view channel)> on_subscribed;
    // The connection went down (notices stop until on_subscribed again).
    std::function<void()> on_disconnected;
  };

  RedisSubscriber(std::string address, std::string name, Handlers handlers);
  ~RedisSubscriber();
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  void Start();
  void Stop();
  bool connected() const { return connected_; }

  void Subscribe(const std::string& channel);
  void Unsubscribe(const std::string& channel);
  // Channels currently wanted (for tests and metrics).
  size_t channels() const;

 private:
  void Loop();
  void Signal();

  const std::string address_;
  const std::string name_;  // for logs, e.g. "imap notices"
  const Handlers handlers_;
  const int event_fd_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, int> wanted_ ABSL_GUARDED_BY(mu_);  // channel -> references
};

}  // namespace tern::common
