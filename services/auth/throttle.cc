#include "services/auth/throttle.h"

#include <algorithm>
#include <cmath>

#include "services/common/http_server.h"
#include "services/common/log.h"

namespace tern::auth {
namespace {

// While Redis is unreachable, try to reconnect at most this often, so a login does not pay
// a connect timeout every time.
constexpr absl::Duration kReconnectEvery = absl::Seconds(2);

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

long long IntegerOf(const redisReply* r) {
  if (r == nullptr) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) return std::atoll(r->str);
  return 0;
}

}  // namespace

std::string IpOf(const std::string& client_address) {
  if (!client_address.empty() && client_address.front() == '[') {
    const size_t close = client_address.find(']');
    return close == std::string::npos ? client_address : client_address.substr(1, close - 1);
  }
  const size_t colon = client_address.rfind(':');
  if (colon == std::string::npos || client_address.find(':') != colon) return client_address;
  return client_address.substr(0, colon);
}

bool IsLoopback(const std::string& client_address) {
  const std::string ip = IpOf(client_address);
  return ip.starts_with("127.") || ip == "::1";
}

RedisThrottle::~RedisThrottle() {
  std::lock_guard lock(mu_);
  Drop();
}

bool RedisThrottle::Connect() {
  if (ctx_ != nullptr) return true;
  if (absl::Now() < next_connect_) return false;
  next_connect_ = absl::Now() + kReconnectEvery;
  std::string host;
  int port = 0;
  if (!common::SplitHostPort(options_.redis_addr, host, port).ok()) return false;
  const timeval tv = absl::ToTimeval(options_.redis_timeout);
  ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (ctx_ == nullptr || ctx_->err != 0) {
    common::LogWarn("redis unreachable: brute-force throttling is off until it returns",
                    {{"redis", options_.redis_addr}});
    Drop();
    return false;
  }
  redisSetTimeout(ctx_, tv);
  return true;
}

void RedisThrottle::Drop() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

redisReply* RedisThrottle::Command(const char* format, const std::string& key) {
  if (!Connect()) return nullptr;
  auto* reply = static_cast<redisReply*>(redisCommand(ctx_, format, key.c_str()));
  if (reply == nullptr) Drop();
  return reply;
}

redisReply* RedisThrottle::Command(const char* format, const std::string& key, long long arg) {
  if (!Connect()) return nullptr;
  auto* reply = static_cast<redisReply*>(redisCommand(ctx_, format, key.c_str(), arg));
  if (reply == nullptr) Drop();
  return reply;
}

std::optional<absl::Duration> RedisThrottle::LockedOut(const std::string& user,
                                                       const std::string& ip) {
  std::lock_guard lock(mu_);
  for (const std::string& key : {UserKey(user), IpKey(ip)}) {
    Reply count(Command("GET %s", key));
    if (IntegerOf(count.get()) < options_.lockout_after) continue;
    Reply ttl(Command("PTTL %s", key));
    const long long ms = std::max<long long>(1000, IntegerOf(ttl.get()));
    return absl::Milliseconds(ms);
  }
  return std::nullopt;
}

absl::Duration RedisThrottle::RecordFailure(const std::string& user, const std::string& ip) {
  long long worst = 0;
  {
    std::lock_guard lock(mu_);
    for (const std::string& key : {UserKey(user), IpKey(ip)}) {
      Reply count(Command("INCR %s", key));
      if (!count) return options_.base_delay;  // degraded: still slow down a little
      worst = std::max(worst, IntegerOf(count.get()));
      if (IntegerOf(count.get()) == 1) {
        Reply expire(Command("PEXPIRE %s %lld", key, absl::ToInt64Milliseconds(options_.window)));
      }
    }
  }
  // Doubling from the base with each failure, capped.
  const double factor = std::pow(2.0, static_cast<double>(std::min<long long>(worst - 1, 30)));
  return std::min(options_.max_delay, options_.base_delay * factor);
}

void RedisThrottle::RecordSuccess(const std::string& user) {
  std::lock_guard lock(mu_);
  Reply del(Command("DEL %s", UserKey(user)));
}

}  // namespace tern::auth
