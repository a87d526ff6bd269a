#include "services/common/redis_check.h"

#include <hiredis/hiredis.h>

#include <memory>

#include "services/common/http_server.h"
#include "services/common/strings.h"

namespace tern::common {

absl::Status PingRedis(const std::string& address, absl::Duration timeout) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, host, port); !s.ok()) return s;
  const timeval tv = absl::ToTimeval(timeout);
  std::unique_ptr<redisContext, decltype(&redisFree)> ctx(
      redisConnectWithTimeout(host.c_str(), port, tv), &redisFree);
  if (!ctx) return absl::UnavailableError("redis: out of memory");
  if (ctx->err != 0) return absl::UnavailableError(Cat("redis ", address, ": ", ctx->errstr));
  redisSetTimeout(ctx.get(), tv);
  std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(
      static_cast<redisReply*>(redisCommand(ctx.get(), "PING")), &freeReplyObject);
  if (!reply) return absl::UnavailableError(Cat("redis ", address, ": ", ctx->errstr));
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(Cat("redis ", address, ": ", reply->str));
  }
  return absl::OkStatus();
}

}  // namespace tern::common
