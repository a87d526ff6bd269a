#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace tern::auth {

struct ThrottleOptions {
  std::string redis_addr;  // host:port
  int lockout_after = 10;  // failures within the window that lock out
  absl::Duration window = absl::Minutes(15);
  absl::Duration base_delay = absl::Milliseconds(250);
  absl::Duration max_delay = absl::Seconds(5);
  absl::Duration redis_timeout = absl::Milliseconds(250);
};

// Brute-force protection (issue: per-user and per-source-address failure counters in Redis,
// with growing delay and a temporary lockout). Counters live in Redis so every authd
// replica sees them. Redis being unreachable disables throttling (degraded, logged), it
// never refuses logins: DESIGN.md invariant 2.
class Throttle {
 public:
  virtual ~Throttle() = default;
  // How long the caller must wait before trying again, if locked out.
  virtual std::optional<absl::Duration> LockedOut(const std::string& user,
                                                  const std::string& ip) = 0;
  // Counts a failure; returns the delay to apply before answering.
  virtual absl::Duration RecordFailure(const std::string& user, const std::string& ip) = 0;
  // A success clears the user's counter (not the address's).
  virtual void RecordSuccess(const std::string& user) = 0;
};

class RedisThrottle final : public Throttle {
 public:
  explicit RedisThrottle(ThrottleOptions options) : options_(std::move(options)) {}
  ~RedisThrottle() override;

  std::optional<absl::Duration> LockedOut(const std::string& user, const std::string& ip) override;
  absl::Duration RecordFailure(const std::string& user, const std::string& ip) override;
  void RecordSuccess(const std::string& user) override;

  static std::string UserKey(const std::string& user) { return "tern:authfail:user:" + user; }
  static std::string IpKey(const std::string& ip) { return "tern:authfail:ip:" + ip; }

 private:
  // A reply to the command, or nullptr when Redis is unreachable (connection dropped).
  redisReply* Command(const char* format, const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  redisReply* Command(const char* format, const std::string& key, long long arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ThrottleOptions options_;
  std::mutex mu_;
  redisContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// The address part of "ip:port" / "[v6]:port" (the whole string when there is no port).
std::string IpOf(const std::string& client_address);
bool IsLoopback(const std::string& client_address);

}  // namespace tern::auth
