#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "services/common/redis_client.h"

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
  explicit RedisThrottle(ThrottleOptions options)
      : options_(std::move(options)), redis_(options_.redis_addr, options_.redis_timeout) {}

  std::optional<absl::Duration> LockedOut(const std::string& user, const std::string& ip) override;
  absl::Duration RecordFailure(const std::string& user, const std::string& ip) override;
  void RecordSuccess(const std::string& user) override;

  static std::string UserKey(const std::string& user) { return "tern:authfail:user:" + user; }
  static std::string IpKey(const std::string& ip) { return "tern:authfail:ip:" + ip; }

 private:
  ThrottleOptions options_;
  common::RedisClient redis_;
};

// The address part of "ip:port" / "[v6]:port" (the whole string when there is no port).
std::string IpOf(const std::string& client_address);
bool IsLoopback(const std::string& client_address);

}  // namespace tern::auth
