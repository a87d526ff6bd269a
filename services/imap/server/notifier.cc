#include "services/imap/server/notifier.h"

#include <hiredis/hiredis.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "services/common/http_server.h"
#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/imap/server/server_context.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

constexpr char kPattern[] = "tern:mailbox:*";
constexpr std::string_view kPrefix = "tern:mailbox:";

}  // namespace

ChangeNotifier::ChangeNotifier(std::string redis_address, ImapMetrics* metrics)
    : address_(std::move(redis_address)), metrics_(metrics) {}

ChangeNotifier::~ChangeNotifier() { Stop(); }

void ChangeNotifier::Start() {
  if (address_.empty()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ChangeNotifier::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ChangeNotifier::Watch(uint64_t mailbox_id, std::weak_ptr<Session> session) {
  std::lock_guard lock(mu_);
  watchers_[mailbox_id].push_back(std::move(session));
}

void ChangeNotifier::Unwatch(uint64_t mailbox_id, const Session* session) {
  std::lock_guard lock(mu_);
  auto it = watchers_.find(mailbox_id);
  if (it == watchers_.end()) return;
  auto& list = it->second;
  std::erase_if(list, [session](const std::weak_ptr<Session>& w) {
    auto s = w.lock();
    return !s || s.get() == session;
  });
  if (list.empty()) watchers_.erase(it);
}

void ChangeNotifier::Wake(uint64_t mailbox_id) {
  std::vector<std::shared_ptr<Session>> wake;
  {
    std::lock_guard lock(mu_);
    auto collect = [&](const std::vector<std::weak_ptr<Session>>& list) {
      for (const auto& w : list) {
        if (auto s = w.lock()) wake.push_back(std::move(s));
      }
    };
    if (mailbox_id == 0) {
      for (const auto& [id, list] : watchers_) collect(list);
    } else if (auto it = watchers_.find(mailbox_id); it != watchers_.end()) {
      collect(it->second);
    }
  }
  for (auto& s : wake) {
    asio::post(s->strand(), [s] { s->Notify(); });
  }
}

void ChangeNotifier::Loop() {
  std::string host;
  int port = 0;
  if (!common::SplitHostPort(address_, host, port).ok()) {
    common::LogError("imap notifier: bad redis address", {{"address", address_}});
    return;
  }
  bool warned = false;
  while (!stop_) {
    const timeval connect_timeout{2, 0};
    redisContext* ctx = redisConnectWithTimeout(host.c_str(), port, connect_timeout);
    if (ctx == nullptr || ctx->err) {
      if (!warned) {
        common::LogWarn("imap notifier: redis unreachable; sessions fall back to polling",
                        {{"address", address_}, {"error", ctx ? ctx->errstr : "alloc"}});
        warned = true;
      }
      if (ctx) redisFree(ctx);
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    const timeval read_timeout{0, 500000};  // wake up to check stop_
    redisSetTimeout(ctx, read_timeout);
    auto* reply = static_cast<redisReply*>(redisCommand(ctx, "PSUBSCRIBE %s", kPattern));
    if (reply == nullptr) {
      redisFree(ctx);
      continue;
    }
    freeReplyObject(reply);
    connected_ = true;
    if (warned) common::LogInfo("imap notifier: redis reachable again", {{"address", address_}});
    warned = false;
    // Anything published while we were not subscribed is unknown: everyone resyncs.
    Wake(0);
    while (!stop_) {
      void* raw = nullptr;
      if (redisGetReply(ctx, &raw) != REDIS_OK) {
        if (ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          ctx->err = 0;  // read timeout: poll stop_ and go on
          ctx->errstr[0] = '\0';
          continue;
        }
        break;
      }
      auto* r = static_cast<redisReply*>(raw);
      // pmessage pattern channel payload
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
          r->element[2]->type == REDIS_REPLY_STRING) {
        const std::string_view channel(r->element[2]->str, r->element[2]->len);
        uint64_t id = 0;
        if (absl::StartsWith(ToAbsl(channel), ToAbsl(kPrefix)) &&
            absl::SimpleAtoi(ToAbsl(channel.substr(kPrefix.size())), &id) && id != 0) {
          if (metrics_) metrics_->notices.Increment();
          Wake(id);
        }
      }
      freeReplyObject(r);
    }
    connected_ = false;
    redisFree(ctx);
    if (!stop_) {
      common::LogWarn("imap notifier: lost redis; reconnecting", {{"address", address_}});
      warned = true;
    }
  }
}

}  // namespace tern::imap::server
