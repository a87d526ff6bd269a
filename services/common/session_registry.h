#pragma once

// The cluster's session registry in Redis (DESIGN.md: Redis carries session affinity). Each
// logged-in IMAP or POP3 session registers who it is (user, protocol, front-end instance,
// client address, start time, the metad replica its user hashes to) under a lease that its
// front-end renews; a front-end that dies without unregistering ages out with the lease.
// The registry serves:
//   - cluster-wide per-user session limits (Register refuses the session over the limit),
//   - `ternctl sessions list` and `ternctl sessions kick USER` (through tern-authd's admin
//     RPCs, which use the free functions below): a kick leaves a tombstone for each session
//     and PUBLISHes its id on "tern:kick"; the owning front-end ends the session on the
//     message, or at its next renewal when the message was lost.
// Redis is a hint (invariant 2): when it is unreachable sessions are admitted without the
// limit and re-registered by the next renewal once it is back (after a Redis restart too).
//
// Keys:
//   tern:sess:<id>                 hash: user protocol instance client started(ms) metad
//   tern:usess:<protocol>:<user>   zset: session id -> lease expiry (ms, Redis clock)
//   tern:sessions                  zset: every session id -> lease expiry
//   tern:kicked:<id>               tombstone of a kicked session

#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/redis_client.h"

namespace tern::common {

class RedisSubscriber;

inline constexpr char kKickChannel[] = "tern:kick";

struct RegisteredSession {
  std::string id;
  std::string user;      // canonical address
  std::string protocol;  // "imap", "pop3"
  std::string instance;  // the front-end process
  std::string client;    // the client's address ("ip:port"), from PROXY when behind a proxy
  int64_t started_ms = 0;
  std::string metad;     // the metad endpoint the user hashes to
};

class SessionRegistry {
 public:
  struct Options {
    std::string redis_address;  // empty: no registry (no limit, nothing listed)
    absl::Duration lease = absl::Seconds(30);
    int max_per_user = 0;       // 0: no limit
  };
  enum class Admission { kAdmitted, kOverLimit };

  explicit SessionRegistry(Options options);
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // The renewal thread; kicks arrive through `subscriber` (may be null: renewal only).
  void Start(RedisSubscriber* subscriber);
  void Stop();

  // Registers a session; `kick` ends it (called on a registry thread: post to the session's
  // strand). Runs the Redis round trip on the registry's worker, never on the caller's
  // event loop. Both arguments must outlive the co_await (pass named locals).
  asio::awaitable<Admission> Register(const RegisteredSession& session,
                                      const std::function<void()>& kick);
  void Unregister(const std::string& id);
  // Unregister, finished when Redis has forgotten the session: a session that ends on the
  // client's request (LOGOUT, QUIT) frees its place before the client hears the answer, so
  // an immediate new login is never refused for it.
  asio::awaitable<void> Release(const std::string& id);

  // A message on kKickChannel: a session id.
  void OnKick(std::string_view id);
  int max_per_user() const { return options_.max_per_user; }
  size_t local_sessions() const;

 private:
  struct Entry {
    RegisteredSession session;
    std::function<void()> kick;
  };
  Admission RegisterNow(const RegisteredSession& session);
  void UnregisterNow(const RegisteredSession& session);
  void RenewLoop();
  void Renew();
  void KickLocal(const std::string& id);

  const Options options_;
  RedisClient redis_;
  asio::thread_pool worker_{1};
  RedisSubscriber* subscriber_ = nullptr;
  std::thread renewer_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  mutable std::mutex mu_;
  std::map<std::string, Entry> local_ ABSL_GUARDED_BY(mu_);
};

// The `kick` of Register for a session object with strand() and Kick(): runs Kick on the
// session's strand if the session still exists.
template <typename S>
std::function<void()> KickOnStrand(std::weak_ptr<S> session) {
  return [session] {
    if (std::shared_ptr<S> s = session.lock()) asio::post(s->strand(), [s] { s->Kick(); });
  };
}

// ---- the admin side (tern-authd) ----

// Every live session, oldest first; `user` (canonical address) filters when not empty.
absl::StatusOr<std::vector<RegisteredSession>> ListSessions(RedisClient& redis,
                                                            const std::string& user,
                                                            size_t limit);
// Kicks every live session of `user` (all protocols); returns the sessions kicked.
absl::StatusOr<std::vector<RegisteredSession>> KickSessions(RedisClient& redis,
                                                            const std::string& user);

}  // namespace tern::common
