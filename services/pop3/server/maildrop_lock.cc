#include "services/pop3/server/maildrop_lock.h"

#include "google/protobuf/duration.pb.h"
#include "services/common/async_grpc.h"
#include "services/common/log.h"
#include "services/common/strings.h"

// co_await results are stored in named variables before they are tested (GCC 12; see
// services/imap/server/session.cc).

namespace tern::pop3::server {
namespace {

namespace md = metadata::v1;

// Takes (or renews) the lease when nobody else holds it: 1 held, 0 in use. Renewing after
// expiry succeeds while nobody else took the lock, as metad's lease does.
constexpr char kAcquireScript[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false or v == ARGV[1] then "
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 "
    "end return 0";
// Deletes the lease only when this holder has it.
constexpr char kReleaseScript[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

std::string LockKey(uint64_t user) { return Cat("tern:pop3:lock:", user); }

const char* Name(MaildropLocks::Backend b) {
  return b == MaildropLocks::Backend::kRedis ? "redis" : "postgres";
}

}  // namespace

MaildropLocks::MaildropLocks(ServerContext& server, const std::string& redis_address,
                             std::chrono::seconds lease)
    : server_(server),
      lease_(lease),
      redis_enabled_(!redis_address.empty()),
      redis_(redis_address, absl::Milliseconds(500), absl::Seconds(2)) {}

MaildropLocks::~MaildropLocks() { pool_.join(); }

void MaildropLocks::Count(Backend backend, Result result) {
  if (!server_.metrics) return;
  const char* r = result == Result::kHeld    ? "held"
                  : result == Result::kInUse ? "in_use"
                  : result == Result::kLost  ? "lost"
                                             : "unavailable";
  server_.metrics->locks.Add({{"backend", Name(backend)}, {"result", r}}).Increment();
}

asio::awaitable<std::optional<long long>> MaildropLocks::Redis(
    const std::vector<std::string>& argv) {
  if (!redis_enabled_) co_return std::nullopt;
  std::optional<long long> reply =
      co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<long long>)>(
          [this, &argv](auto handler) {
            auto executor = asio::get_associated_executor(handler);
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            asio::post(pool_, [this, argv, shared, executor]() {
              std::vector<std::string_view> args(argv.begin(), argv.end());
              common::RedisReply r = redis_.Command(args);
              std::optional<long long> value;
              if (r && r->type == REDIS_REPLY_INTEGER) value = r->integer;
              asio::post(executor, [shared, value]() { (*shared)(value); });
            });
          },
          asio::use_awaitable);
  co_return reply;
}

asio::awaitable<MaildropLocks::Result> MaildropLocks::RedisAcquire(Lock& lock, bool* reachable) {
  std::vector<std::string> argv = {
      "EVAL",
      kAcquireScript,
      "1",
      LockKey(lock.user_id),
      lock.holder,
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(lease_).count())};
  const auto started = std::chrono::steady_clock::now();
  std::optional<long long> reply = co_await Redis(argv);
  *reachable = reply.has_value();
  if (!reply) co_return Result::kUnavailable;
  if (*reply != 1) co_return Result::kInUse;
  lock.valid_until = started + lease_;
  co_return Result::kHeld;
}

asio::awaitable<MaildropLocks::Result> MaildropLocks::PgAcquire(Lock& lock,
                                                                const common::CallMeta& meta) {
  md::AcquireMaildropLockRequest req;
  req.set_holder_id(lock.holder);
  req.mutable_lease()->set_seconds(lease_.count());
  md::MaildropLease resp;
  const auto started = std::chrono::steady_clock::now();
  const common::CallPolicy policy{.deadline = absl::FromChrono(server_.settings.backend_timeout),
                                  .idempotent = true};
  common::Outcome outcome = co_await common::Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        server_.metad->For(lock.user_id)->async()->AcquireMaildropLock(ctx, &req, &resp, std::move(done));
      });
  if (outcome.ok()) {
    lock.valid_until = started + lease_;
    co_return Result::kHeld;
  }
  if (outcome.reason == "ERROR_REASON_IN_USE") co_return Result::kInUse;
  common::LogWarn("pop3: metad maildrop lock failed",
                  {{"holder", lock.holder}, {"error", outcome.status.error_message()}});
  co_return Result::kUnavailable;
}

asio::awaitable<void> MaildropLocks::PgRelease(Lock& lock, const common::CallMeta& meta) {
  md::ReleaseMaildropLockRequest req;
  req.set_holder_id(lock.holder);
  md::ReleaseMaildropLockResponse resp;
  const common::CallPolicy policy{.deadline = absl::FromChrono(server_.settings.backend_timeout),
                                  .idempotent = true};
  common::Outcome outcome = co_await common::Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        server_.metad->For(lock.user_id)->async()->ReleaseMaildropLock(ctx, &req, &resp, std::move(done));
      });
  if (!outcome.ok()) {
    // The lease expires by itself.
    common::LogWarn("pop3: metad maildrop lock not released",
                    {{"holder", lock.holder}, {"error", outcome.status.error_message()}});
  }
}

asio::awaitable<MaildropLocks::Result> MaildropLocks::Acquire(Lock& lock,
                                                              const common::CallMeta& meta) {
  bool reachable = false;
  Result result = co_await RedisAcquire(lock, &reachable);
  if (reachable) {
    lock.backend = Backend::kRedis;
    Count(Backend::kRedis, result);
    co_return result;
  }
  // Redis is down: PostgreSQL's lease instead of refusing service.
  result = co_await PgAcquire(lock, meta);
  Count(Backend::kPostgres, result);
  if (result == Result::kHeld) {
    lock.backend = Backend::kPostgres;
    common::LogWarn("pop3: Redis unreachable, maildrop lock held in PostgreSQL through metad",
                    {{"holder", lock.holder}});
  }
  co_return result;
}

asio::awaitable<MaildropLocks::Result> MaildropLocks::Renew(Lock& lock,
                                                            const common::CallMeta& meta) {
  if (lock.backend == Backend::kNone) co_return Result::kLost;
  bool reachable = false;
  Result result = co_await RedisAcquire(lock, &reachable);
  if (lock.backend == Backend::kRedis) {
    if (reachable) {
      if (result != Result::kHeld) {
        Count(Backend::kRedis, Result::kLost);
        co_return Result::kLost;
      }
      co_return Result::kHeld;
    }
    // Redis went away: carry the lease over to PostgreSQL.
    result = co_await PgAcquire(lock, meta);
    if (result == Result::kHeld) {
      lock.backend = Backend::kPostgres;
      common::LogWarn("pop3: Redis unreachable, maildrop lock moved to PostgreSQL",
                      {{"holder", lock.holder}});
      co_return Result::kHeld;
    }
  } else {
    if (reachable) {
      if (result != Result::kHeld) {
        // Someone took it in Redis while this session held it in PostgreSQL.
        Count(Backend::kRedis, Result::kLost);
        co_await PgRelease(lock, meta);
        co_return Result::kLost;
      }
      // Redis is back: the lease lives there again.
      lock.backend = Backend::kRedis;
      co_await PgRelease(lock, meta);
      common::LogInfo("pop3: Redis reachable again, maildrop lock moved back to Redis",
                      {{"holder", lock.holder}});
      co_return Result::kHeld;
    }
    result = co_await PgAcquire(lock, meta);
    if (result == Result::kHeld) co_return Result::kHeld;
  }
  if (result == Result::kInUse) {
    Count(Backend::kPostgres, Result::kLost);
    co_return Result::kLost;
  }
  // Neither backend answered: the lease still held counts until it runs out.
  co_return std::chrono::steady_clock::now() < lock.valid_until ? Result::kHeld : Result::kLost;
}

asio::awaitable<void> MaildropLocks::Release(Lock& lock, const common::CallMeta& meta) {
  const Backend backend = lock.backend;
  lock.backend = Backend::kNone;
  if (backend == Backend::kRedis) {
    std::vector<std::string> argv = {"EVAL", kReleaseScript, "1", LockKey(lock.user_id),
                                     lock.holder};
    std::optional<long long> reply = co_await Redis(argv);
    (void)reply;  // unreachable: the lease expires by itself
  } else if (backend == Backend::kPostgres) {
    co_await PgRelease(lock, meta);
  }
}

asio::awaitable<bool> MaildropLocks::TooSoon(uint64_t user_id, std::chrono::seconds delay) {
  if (delay.count() <= 0) co_return false;
  // SET NX answers OK (a status, not an integer) or nil: a script makes it 1 or 0.
  std::vector<std::string> argv = {
      "EVAL", "if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end return 0",
      "1", Cat("tern:pop3:login:", user_id),
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count())};
  std::optional<long long> reply = co_await Redis(argv);
  co_return reply.has_value() && *reply == 0;
}

}  // namespace tern::pop3::server
