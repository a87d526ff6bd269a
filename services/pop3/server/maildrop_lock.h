#pragma once

// Exclusive access to a maildrop across the whole cluster (RFC 1939 8: one POP3 session per
// maildrop at a time). The lock is a lease in Redis, "tern:pop3:lock:<user id>" holding the
// session's holder id, renewed while the session lives and released at QUIT; a crashed
// front-end's lock simply expires. When Redis cannot be reached the lease is taken in
// PostgreSQL through metad (AcquireMaildropLock) instead of refusing service, and the log
// says which one is in use.
//
// A session follows the backends as they come and go: a Redis lease whose renewal finds
// Redis gone is carried over to PostgreSQL, and a PostgreSQL lease moves back to Redis once
// it answers again. A session that finds the lock taken by someone else in the backend it
// moves to has lost it. Until the next renewal (lease / 3) two sessions could each hold the
// lock in a different backend; the session renews once more right before it deletes
// anything (UPDATE state), so only one of them can expunge.

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/common/grpc_client.h"
#include "services/common/redis_client.h"
#include "services/pop3/server/server_context.h"

namespace tern::pop3::server {

class MaildropLocks {
 public:
  MaildropLocks(ServerContext& server, const std::string& redis_address,
                std::chrono::seconds lease);
  ~MaildropLocks();

  enum class Backend { kNone, kRedis, kPostgres };
  enum class Result {
    kHeld,         // acquired or renewed
    kInUse,        // another session holds it: -ERR [IN-USE]
    kUnavailable,  // neither Redis nor metad answered: -ERR [SYS/TEMP]
    kLost,         // (renewal) another session took it, or the lease ran out
  };

  // One session's lock.
  struct Lock {
    uint64_t user_id = 0;
    std::string holder;  // "<instance>/<session id>"
    Backend backend = Backend::kNone;
    std::chrono::steady_clock::time_point valid_until;
  };

  std::chrono::seconds lease() const { return lease_; }
  std::chrono::steady_clock::duration renew_every() const { return lease_ / 3; }

  asio::awaitable<Result> Acquire(Lock& lock, const common::CallMeta& meta);
  asio::awaitable<Result> Renew(Lock& lock, const common::CallMeta& meta);
  asio::awaitable<void> Release(Lock& lock, const common::CallMeta& meta);

  // RFC 2449 8.1.1 LOGIN-DELAY: true when the user logged in less than `delay` ago (and
  // records this login). Without Redis the delay is not enforced.
  asio::awaitable<bool> TooSoon(uint64_t user_id, std::chrono::seconds delay);

 private:
  // Runs a Redis command on the lock thread: its integer reply, or nullopt when Redis
  // could not be reached (or answered an error).
  asio::awaitable<std::optional<long long>> Redis(const std::vector<std::string>& argv);
  asio::awaitable<Result> RedisAcquire(Lock& lock, bool* reachable);
  asio::awaitable<Result> PgAcquire(Lock& lock, const common::CallMeta& meta);
  asio::awaitable<void> PgRelease(Lock& lock, const common::CallMeta& meta);
  void Count(Backend backend, Result result);

  ServerContext& server_;
  const std::chrono::seconds lease_;
  const bool redis_enabled_;
  common::RedisClient redis_;
  // hiredis is blocking: its calls run here, never on an event-loop thread.
  asio::thread_pool pool_{1};
};

}  // namespace tern::pop3::server
