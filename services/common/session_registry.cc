#include "services/common/session_registry.h"

#include <algorithm>
#include <future>

#include "absl/strings/numbers.h"
#include "services/common/log.h"
#include "services/common/redis_subscriber.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

// Scripts run atomically in Redis and take the time from Redis' clock, so front-ends with
// skewed clocks agree on which leases have run out.
constexpr char kNow[] =
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) ";

// KEYS: usess, sess, sessions. ARGV: id, limit, lease_ms, then the hash's field/value pairs.
constexpr char kRegisterScript[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "local limit = tonumber(ARGV[2]) "
    "if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end "
    "local exp = now + tonumber(ARGV[3]) "
    "redis.call('ZADD', KEYS[1], exp, ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[3]) "
    "redis.call('ZADD', KEYS[3], exp, ARGV[1]) "
    "redis.call('HSET', KEYS[2], unpack(ARGV, 4)) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[3]) "
    "return 1";

// KEYS: sessions, then per session usess, sess, kicked. ARGV: lease_ms, then per session
// id user protocol instance client started metad. Returns the ids that were kicked.
// A session missing after a Redis restart is registered again (without the limit check:
// it exists already).
constexpr char kRenewScript[] =
    "local lease = tonumber(ARGV[1]) local exp = now + lease local kicked = {} "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "for i = 0, (#KEYS - 1) / 3 - 1 do "
    "  local usess, sess, tomb = KEYS[2 + i * 3], KEYS[3 + i * 3], KEYS[4 + i * 3] "
    "  local a = 2 + i * 7 "
    "  if redis.call('EXISTS', tomb) == 1 then "
    "    kicked[#kicked + 1] = ARGV[a] "
    "  else "
    "    redis.call('ZADD', usess, exp, ARGV[a]) redis.call('PEXPIRE', usess, lease) "
    "    redis.call('ZADD', KEYS[1], exp, ARGV[a]) "
    "    if redis.call('PEXPIRE', sess, lease) == 0 then "
    "      redis.call('HSET', sess, 'user', ARGV[a + 1], 'protocol', ARGV[a + 2], "
    "                 'instance', ARGV[a + 3], 'client', ARGV[a + 4], 'started', ARGV[a + 5], "
    "                 'metad', ARGV[a + 6]) "
    "      redis.call('PEXPIRE', sess, lease) "
    "    end "
    "  end "
    "end "
    "return kicked";

// KEYS: usess, sess, sessions. ARGV: id.
constexpr char kUnregisterScript[] =
    "redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[3], ARGV[1]) "
    "redis.call('DEL', KEYS[2]) return 1";

constexpr char kFields[] =
    "local function fields(id) "
    "  local h = redis.call('HMGET', 'tern:sess:' .. id, 'user', 'protocol', 'instance', "
    "                       'client', 'started', 'metad') "
    "  return {id, h[1] or '', h[2] or '', h[3] or '', h[4] or '', h[5] or '', h[6] or ''} "
    "end "
    "local out = {} "
    "local function add(id) "
    "  local f = fields(id) "
    "  if f[2] ~= '' then for _, v in ipairs(f) do out[#out + 1] = v end end "
    "end ";

// KEYS: sessions, or one user's usess keys. ARGV: limit.
constexpr char kListScript[] =
    "for _, k in ipairs(KEYS) do "
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now) "
    "  for _, id in ipairs(redis.call('ZRANGE', k, 0, tonumber(ARGV[1]) - 1)) do add(id) end "
    "end "
    "return out";

// KEYS: the user's usess keys. ARGV: tombstone lifetime (ms).
constexpr char kKickScript[] =
    "for _, k in ipairs(KEYS) do "
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now) "
    "  for _, id in ipairs(redis.call('ZRANGE', k, 0, -1)) do "
    "    redis.call('SET', 'tern:kicked:' .. id, '1', 'PX', ARGV[1]) "
    "    add(id) "
    "    redis.call('PUBLISH', 'tern:kick', id) "
    "  end "
    "end "
    "return out";

// The protocols whose sessions log in as a user.
constexpr const char* kProtocols[] = {"imap", "pop3"};
// A kicked session's tombstone outlives every renewal interval, so a lost PUBLISH is still
// acted on.
constexpr int64_t kTombstoneMs = 10 * 60 * 1000;
// Sessions per renewal script.
constexpr size_t kRenewBatch = 100;

std::string UserKey(std::string_view protocol, std::string_view user) {
  return Cat("tern:usess:", protocol, ":", user);
}
std::string SessionKey(std::string_view id) { return Cat("tern:sess:", id); }
constexpr char kAllKey[] = "tern:sessions";

RedisReply Eval(RedisClient& redis, std::string_view body, const std::vector<std::string>& keys,
                const std::vector<std::string>& args) {
  const std::string script = Cat(kNow, body);
  const std::string nkeys = std::to_string(keys.size());
  std::vector<std::string_view> argv = {"EVAL", script, nkeys};
  for (const std::string& k : keys) argv.push_back(k);
  for (const std::string& a : args) argv.push_back(a);
  return redis.Command(argv);
}

absl::StatusOr<std::vector<RegisteredSession>> Sessions(const RedisReply& reply) {
  if (!reply) return absl::UnavailableError("redis unreachable");
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::InternalError(Cat("redis: ", std::string_view(reply->str, reply->len)));
  }
  std::vector<RegisteredSession> out;
  if (reply->type != REDIS_REPLY_ARRAY) return out;
  auto str = [&](size_t i) {
    const redisReply* e = reply->element[i];
    return e->type == REDIS_REPLY_STRING ? std::string(e->str, e->len) : std::string();
  };
  for (size_t i = 0; i + 7 <= reply->elements; i += 7) {
    RegisteredSession s{.id = str(i),
                        .user = str(i + 1),
                        .protocol = str(i + 2),
                        .instance = str(i + 3),
                        .client = str(i + 4),
                        .started_ms = 0,
                        .metad = str(i + 6)};
    (void)absl::SimpleAtoi(str(i + 5), &s.started_ms);
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.started_ms < b.started_ms;
  });
  return out;
}

}  // namespace

SessionRegistry::SessionRegistry(Options options)
    : options_(std::move(options)),
      redis_(options_.redis_address, absl::Milliseconds(500), absl::Seconds(1)) {}

SessionRegistry::~SessionRegistry() {
  Stop();
  worker_.join();
}

void SessionRegistry::Start(RedisSubscriber* subscriber) {
  if (options_.redis_address.empty() || renewer_.joinable()) return;
  subscriber_ = subscriber;
  if (subscriber_ != nullptr) subscriber_->Subscribe(kKickChannel);
  renewer_ = std::thread([this] { RenewLoop(); });
}

void SessionRegistry::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

size_t SessionRegistry::local_sessions() const {
  std::lock_guard lock(mu_);
  return local_.size();
}

SessionRegistry::Admission SessionRegistry::RegisterNow(const RegisteredSession& s) {
  if (options_.redis_address.empty()) return Admission::kAdmitted;
  const int64_t lease_ms = absl::ToInt64Milliseconds(options_.lease);
  RedisReply r = Eval(redis_, kRegisterScript, {UserKey(s.protocol, s.user), SessionKey(s.id), kAllKey},
                      {s.id, std::to_string(options_.max_per_user), std::to_string(lease_ms), "user",
                       s.user, "protocol", s.protocol, "instance", s.instance, "client", s.client,
                       "started", std::to_string(s.started_ms), "metad", s.metad});
  if (r && r->type == REDIS_REPLY_INTEGER) {
    return r->integer == 1 ? Admission::kAdmitted : Admission::kOverLimit;
  }
  // Redis down (invariant 2): admitted without the limit; the renewal registers it later.
  if (r && r->type == REDIS_REPLY_ERROR) {
    LogWarn("session registry: register failed",
            {{"error", std::string_view(r->str, r->len)}, {"session", s.id}});
  }
  return Admission::kAdmitted;
}

asio::awaitable<SessionRegistry::Admission> SessionRegistry::Register(
    const RegisteredSession& session, const std::function<void()>& kick) {
  Admission admission = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                                      void(Admission)>(
      [this, &session](auto handler) {
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        asio::post(worker_, [this, s = session, shared, executor]() {
          const Admission a = RegisterNow(s);
          asio::post(executor, [shared, a]() { (*shared)(a); });
        });
      },
      asio::use_awaitable);
  if (admission == Admission::kAdmitted) {
    std::lock_guard lock(mu_);
    local_[session.id] = Entry{session, kick};
  }
  co_return admission;
}

void SessionRegistry::Unregister(const std::string& id) {
  RegisteredSession s;
  {
    std::lock_guard lock(mu_);
    auto it = local_.find(id);
    if (it == local_.end()) return;
    s = std::move(it->second.session);
    local_.erase(it);
  }
  if (options_.redis_address.empty()) return;
  asio::post(worker_, [this, s = std::move(s)] { UnregisterNow(s); });
}

void SessionRegistry::UnregisterNow(const RegisteredSession& s) {
  (void)Eval(redis_, kUnregisterScript, {UserKey(s.protocol, s.user), SessionKey(s.id), kAllKey},
             {s.id});
}

asio::awaitable<void> SessionRegistry::Release(const std::string& id) {
  RegisteredSession session;
  bool found = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = local_.find(id); it != local_.end()) {
      session = std::move(it->second.session);
      local_.erase(it);
      found = true;
    }
  }
  if (!found || options_.redis_address.empty()) co_return;
  // The initiation lambda is a temporary inside co_await: it captures only trivially
  // destructible values (GCC 12 destroys such temporaries twice otherwise); `session`
  // outlives the wait as a local of this coroutine.
  const RegisteredSession* s = &session;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [this, s](auto handler) {
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        asio::post(worker_, [this, s, shared, executor]() {
          UnregisterNow(*s);
          asio::post(executor, [shared]() { (*shared)(); });
        });
      },
      asio::use_awaitable);
}

void SessionRegistry::KickLocal(const std::string& id) {
  std::function<void()> kick;
  {
    std::lock_guard lock(mu_);
    auto it = local_.find(id);
    if (it == local_.end()) return;
    kick = it->second.kick;
  }
  LogInfo("session kicked by an administrator", {{"session", id}});
  if (kick) kick();
}

void SessionRegistry::OnKick(std::string_view id) { KickLocal(std::string(id)); }

void SessionRegistry::RenewLoop() {
  const auto every = std::max(absl::Seconds(1), options_.lease / 3);
  std::unique_lock lock(stop_mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(every), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    // On the worker, after whatever Register/Unregister/Release it has queued and before
    // what comes next: a renewal never puts back a session just released.
    std::promise<void> done;
    asio::post(worker_, [this, &done] {
      Renew();
      done.set_value();
    });
    done.get_future().wait();
    lock.lock();
  }
}

void SessionRegistry::Renew() {
  std::vector<RegisteredSession> sessions;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : local_) sessions.push_back(e.session);
  }
  const std::string lease_ms = std::to_string(absl::ToInt64Milliseconds(options_.lease));
  for (size_t i = 0; i < sessions.size(); i += kRenewBatch) {
    std::vector<std::string> keys = {kAllKey};
    std::vector<std::string> args = {lease_ms};
    for (size_t j = i; j < std::min(sessions.size(), i + kRenewBatch); ++j) {
      const RegisteredSession& s = sessions[j];
      keys.push_back(UserKey(s.protocol, s.user));
      keys.push_back(SessionKey(s.id));
      keys.push_back(Cat("tern:kicked:", s.id));
      for (const std::string* v : {&s.id, &s.user, &s.protocol, &s.instance, &s.client}) {
        args.push_back(*v);
      }
      args.push_back(std::to_string(s.started_ms));
      args.push_back(s.metad);
    }
    RedisReply r = Eval(redis_, kRenewScript, keys, args);
    if (!r) return;  // Redis down: try again next round
    if (r->type != REDIS_REPLY_ARRAY) continue;
    for (size_t k = 0; k < r->elements; ++k) {
      const redisReply* e = r->element[k];
      if (e->type == REDIS_REPLY_STRING) KickLocal(std::string(e->str, e->len));
    }
  }
}

absl::StatusOr<std::vector<RegisteredSession>> ListSessions(RedisClient& redis,
                                                            const std::string& user,
                                                            size_t limit) {
  // One user's sessions come from the user's own keys, not a filter over everyone's.
  std::vector<std::string> keys;
  if (user.empty()) {
    keys.push_back(kAllKey);
  } else {
    for (const char* p : kProtocols) keys.push_back(UserKey(p, user));
  }
  RedisReply r = Eval(redis, Cat(kFields, kListScript), keys, {std::to_string(limit)});
  return Sessions(r);
}

absl::StatusOr<std::vector<RegisteredSession>> KickSessions(RedisClient& redis,
                                                            const std::string& user) {
  std::vector<std::string> keys;
  for (const char* p : kProtocols) keys.push_back(UserKey(p, user));
  RedisReply r = Eval(redis, Cat(kFields, kKickScript), keys, {std::to_string(kTombstoneMs)});
  return Sessions(r);
}

}  // namespace tern::common
