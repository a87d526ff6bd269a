#include "services/common/redis_client.h"

#include "absl/time/clock.h"
#include "services/common/http_server.h"
#include "services/common/log.h"

namespace tern::common {

RedisClient::RedisClient(std::string address, absl::Duration timeout,
                         absl::Duration reconnect_every)
    : address_(std::move(address)), timeout_(timeout), reconnect_every_(reconnect_every) {}

RedisClient::~RedisClient() {
  std::lock_guard lock(mu_);
  Drop();
}

bool RedisClient::Connect() {
  if (ctx_ != nullptr) return true;
  if (absl::Now() < next_connect_) return false;
  next_connect_ = absl::Now() + reconnect_every_;
  std::string host;
  int port = 0;
  if (!SplitHostPort(address_, host, port).ok()) return false;
  const timeval tv = absl::ToTimeval(timeout_);
  ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (ctx_ == nullptr || ctx_->err != 0) {
    if (!warned_) LogWarn("redis unreachable; running degraded", {{"redis", address_}});
    warned_ = true;
    Drop();
    return false;
  }
  if (warned_) LogInfo("redis reachable again", {{"redis", address_}});
  warned_ = false;
  redisSetTimeout(ctx_, tv);
  return true;
}

void RedisClient::Drop() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

RedisReply RedisClient::Command(const std::vector<std::string_view>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (std::string_view a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  std::lock_guard lock(mu_);
  if (!Connect()) return nullptr;
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lengths.data())));
  if (!reply) Drop();  // a timeout or a dropped connection: start over next time
  return reply;
}

}  // namespace tern::common
