#include "services/auth/throttle.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tern::auth {
namespace {

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

std::optional<absl::Duration> RedisThrottle::LockedOut(const std::string& user,
                                                       const std::string& ip) {
  for (const std::string& key : {UserKey(user), IpKey(ip)}) {
    common::RedisReply count = redis_.Command({"GET", key});
    if (IntegerOf(count.get()) < options_.lockout_after) continue;
    common::RedisReply ttl = redis_.Command({"PTTL", key});
    return absl::Milliseconds(std::max<long long>(1000, IntegerOf(ttl.get())));
  }
  return std::nullopt;
}

absl::Duration RedisThrottle::RecordFailure(const std::string& user, const std::string& ip) {
  long long worst = 0;
  const std::string window = std::to_string(absl::ToInt64Milliseconds(options_.window));
  for (const std::string& key : {UserKey(user), IpKey(ip)}) {
    common::RedisReply count = redis_.Command({"INCR", key});
    if (!count) return options_.base_delay;  // degraded: still slow down a little
    worst = std::max(worst, IntegerOf(count.get()));
    if (IntegerOf(count.get()) == 1) redis_.Command({"PEXPIRE", key, window});
  }
  // Doubling from the base with each failure, capped.
  const double factor = std::pow(2.0, static_cast<double>(std::min<long long>(worst - 1, 30)));
  return std::min(options_.max_delay, options_.base_delay * factor);
}

void RedisThrottle::RecordSuccess(const std::string& user) {
  redis_.Command({"DEL", UserKey(user)});
}

}  // namespace tern::auth
