#include "services/common/redis_subscriber.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "services/common/http_server.h"
#include "services/common/log.h"

namespace tern::common {
namespace {

using Clock = std::chrono::steady_clock;

// A dead peer (no RST: a partition, a paused VM) is noticed within kPingEvery + kPingWait.
constexpr auto kPingEvery = std::chrono::seconds(3);
constexpr auto kPingWait = std::chrono::seconds(3);
// Channels per SUBSCRIBE/UNSUBSCRIBE command.
constexpr size_t kBatch = 512;

std::string_view Str(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return std::string_view(r->str, r->len);
}

// Sends `command` for `channels` in batches; false when the connection failed.
bool Send(redisContext* ctx, const char* command, const std::vector<std::string>& channels) {
  for (size_t i = 0; i < channels.size(); i += kBatch) {
    std::vector<const char*> argv = {command};
    std::vector<size_t> lens = {std::string_view(command).size()};
    for (size_t j = i; j < std::min(channels.size(), i + kBatch); ++j) {
      argv.push_back(channels[j].data());
      lens.push_back(channels[j].size());
    }
    if (redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      return false;
    }
  }
  return true;
}

bool Flush(redisContext* ctx) {
  int done = 0;
  while (!done) {
    if (redisBufferWrite(ctx, &done) != REDIS_OK) return false;
  }
  return true;
}

}  // namespace

RedisSubscriber::RedisSubscriber(std::string address, std::string name, Handlers handlers)
    : address_(std::move(address)),
      name_(std::move(name)),
      handlers_(std::move(handlers)),
      event_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

RedisSubscriber::~RedisSubscriber() {
  Stop();
  if (event_fd_ >= 0) close(event_fd_);
}

void RedisSubscriber::Start() {
  if (address_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void RedisSubscriber::Stop() {
  stop_ = true;
  Signal();
  if (thread_.joinable()) thread_.join();
}

void RedisSubscriber::Signal() {
  const uint64_t one = 1;
  if (event_fd_ >= 0) (void)!write(event_fd_, &one, sizeof one);
}

void RedisSubscriber::Subscribe(const std::string& channel) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = wanted_[channel]++ == 0;
  }
  if (changed) Signal();
}

void RedisSubscriber::Unsubscribe(const std::string& channel) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    auto it = wanted_.find(channel);
    if (it == wanted_.end()) return;
    if (--it->second <= 0) {
      wanted_.erase(it);
      changed = true;
    }
  }
  if (changed) Signal();
}

size_t RedisSubscriber::channels() const {
  std::lock_guard lock(mu_);
  return wanted_.size();
}

void RedisSubscriber::Loop() {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address_, host, port).ok()) {
    LogError("redis subscriber: bad address", {{"name", name_}, {"address", address_}});
    return;
  }
  bool warned = false;
  while (!stop_) {
    const timeval connect_timeout{2, 0};
    redisContext* ctx = redisConnectWithTimeout(host.c_str(), port, connect_timeout);
    if (ctx == nullptr || ctx->err != 0) {
      if (!warned) {
        LogWarn("redis subscriber: redis unreachable; notices stop until it is back",
                {{"name", name_}, {"address", address_}, {"error", ctx ? ctx->errstr : "alloc"}});
        warned = true;
      }
      if (ctx != nullptr) redisFree(ctx);
      for (int i = 0; i < 5 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    const timeval io_timeout{2, 0};  // bounds a write to a stuck peer
    redisSetTimeout(ctx, io_timeout);
    if (warned) LogInfo("redis subscriber: redis reachable", {{"name", name_}, {"address", address_}});
    warned = false;
    connected_ = true;

    std::set<std::string> subscribed;  // SUBSCRIBE sent on this connection
    Clock::time_point last_heard = Clock::now();
    bool ping_outstanding = false;
    Clock::time_point ping_sent;
    bool ok = true;
    while (ok && !stop_) {
      std::vector<std::string> add;
      std::vector<std::string> remove;
      {
        std::lock_guard lock(mu_);
        for (const auto& [channel, refs] : wanted_) {
          if (!subscribed.contains(channel)) add.push_back(channel);
        }
        for (const std::string& channel : subscribed) {
          if (!wanted_.contains(channel)) remove.push_back(channel);
        }
      }
      for (const std::string& c : add) subscribed.insert(c);
      for (const std::string& c : remove) subscribed.erase(c);
      if (!add.empty()) ok = ok && Send(ctx, "SUBSCRIBE", add);
      if (!remove.empty()) ok = ok && Send(ctx, "UNSUBSCRIBE", remove);
      const Clock::time_point now = Clock::now();
      if (!ping_outstanding && now - last_heard > kPingEvery) {
        // PING is allowed in subscribed mode and answered ["pong", ""].
        ok = ok && redisAppendCommand(ctx, "PING") == REDIS_OK;
        ping_outstanding = true;
        ping_sent = now;
      }
      ok = ok && Flush(ctx);
      if (!ok) break;
      if (ping_outstanding && now - ping_sent > kPingWait) {
        LogWarn("redis subscriber: no answer to PING; reconnecting", {{"name", name_}});
        break;
      }

      pollfd fds[2] = {{ctx->fd, POLLIN, 0}, {event_fd_, POLLIN, 0}};
      const int n = poll(fds, 2, 500);
      if (n < 0 && errno != EINTR) break;
      if (fds[1].revents & POLLIN) {
        uint64_t count = 0;
        (void)!read(event_fd_, &count, sizeof count);
      }
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (redisBufferRead(ctx) != REDIS_OK) break;
      last_heard = Clock::now();
      for (;;) {
        void* raw = nullptr;
        if (redisGetReplyFromReader(ctx, &raw) != REDIS_OK) {
          ok = false;
          break;
        }
        if (raw == nullptr) break;
        auto* r = static_cast<redisReply*>(raw);
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
          const std::string_view kind = Str(r->element[0]);
          if (kind == "message" && r->elements == 3) {
            if (handlers_.on_message) handlers_.on_message(Str(r->element[1]), Str(r->element[2]));
          } else if (kind == "subscribe") {
            if (handlers_.on_subscribed) handlers_.on_subscribed(Str(r->element[1]));
          } else if (kind == "pong") {
            ping_outstanding = false;
          }
        }
        freeReplyObject(r);
      }
    }
    connected_ = false;
    redisFree(ctx);
    if (handlers_.on_disconnected) handlers_.on_disconnected();
    if (!stop_) {
      LogWarn("redis subscriber: lost redis; reconnecting", {{"name", name_}, {"address", address_}});
      warned = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace tern::common
