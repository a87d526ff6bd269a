#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace tern::common {

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// One synchronous Redis connection shared by a process's threads for one purpose
// (DESIGN.md), with a deadline on connect and on every command. While Redis is
// unreachable, commands fail fast (nullptr) and a reconnect is tried at most every
// `reconnect_every`: Redis down makes callers degraded, never slow (invariant 2).
class RedisClient {
 public:
  RedisClient(std::string address, absl::Duration timeout,
              absl::Duration reconnect_every = absl::Seconds(2));
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Binary-safe command; nullptr when Redis is unreachable or the command failed to send.
  RedisReply Command(const std::vector<std::string_view>& argv);

 private:
  bool Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string address_;
  const absl::Duration timeout_;
  const absl::Duration reconnect_every_;
  std::mutex mu_;
  redisContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool warned_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tern::common
