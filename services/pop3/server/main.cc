// tern-pop3d: the POP3 front-end (DESIGN.md). Wiring only; the protocol is in
// services/pop3/protocol and the sessions in session.cc and commands.cc.

#include "services/common/config.h"
#include "services/common/frontend_server.h"
#include "services/common/frontend_wiring.h"
#include "services/common/log.h"
#include "services/common/redis_check.h"
#include "services/common/redis_subscriber.h"
#include "services/common/session_registry.h"
#include "services/common/service_runtime.h"
#include "services/pop3/server/maildrop_lock.h"
#include "services/pop3/server/server_context.h"
#include "services/pop3/server/session.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  return tern::common::FrontendSettings(
      "0.0.0.0:9105",
      {
          {"pop3-listen", "TERN_POP3_LISTEN", "0.0.0.0:1110", SettingType::kString,
           "address:port of the plaintext POP3 listener (STLS); empty: none"},
          {"pop3s-listen", "TERN_POP3S_LISTEN", "0.0.0.0:1995", SettingType::kString,
           "address:port of the implicit-TLS POP3 listener (RFC 8314); empty: none"},
          {"redis-addr", "TERN_REDIS_ADDR", "127.0.0.1:6379", SettingType::kString,
           "Redis for the maildrop lock and LOGIN-DELAY; empty or unreachable: the lock is kept in "
           "PostgreSQL through metad"},
          {"lock-lease", "TERN_POP3_LOCK_LEASE", "60s", SettingType::kDuration,
           "maildrop lock lease, renewed every third of it; a crashed front-end's locks expire "
           "after it"},
          {"login-timeout", "TERN_POP3_LOGIN_TIMEOUT", "10m", SettingType::kDuration,
           "time allowed from connect to a successful login"},
          {"idle-timeout", "TERN_POP3_IDLE_TIMEOUT", "10m", SettingType::kDuration,
           "autologout once logged in (RFC 1939 3: at least 10 minutes)"},
          {"login-delay", "TERN_POP3_LOGIN_DELAY", "0s", SettingType::kDuration,
           "minimum time between two logins of one user (LOGIN-DELAY, RFC 2449); 0: none"},
          {"max-connections-per-address", "TERN_POP3_MAX_CONNECTIONS_PER_ADDRESS", "50",
           SettingType::kInt, "open connections allowed from one client IP address"},
          {"max-sessions-per-user", "TERN_POP3_MAX_SESSIONS_PER_USER", "10", SettingType::kInt,
           "logged-in POP3 sessions of one user across the cluster (the session registry in "
           "Redis; the maildrop lock already allows one in TRANSACTION); 0: no limit"},
          tern::common::SessionLeaseSetting(),
      });
}

std::chrono::seconds Seconds(const tern::common::Config& cfg, const char* name) {
  return std::chrono::seconds(absl::ToInt64Seconds(cfg.GetDuration(name)));
}

absl::Status Setup(tern::common::ServiceRuntime& rt) {
  using namespace tern::pop3::server;
  const tern::common::Config& cfg = rt.config();
  auto* context = rt.Own(std::make_unique<ServerContext>());
  Pop3Settings& st = context->settings;
  st.instance = cfg.GetString("instance");
  st.login_timeout = Seconds(cfg, "login-timeout");
  st.idle_timeout = Seconds(cfg, "idle-timeout");
  if (st.idle_timeout < std::chrono::minutes(10)) {
    return absl::InvalidArgumentError("--idle-timeout must be at least 10m (RFC 1939 3)");
  }
  st.login_delay = Seconds(cfg, "login-delay");
  st.backend_timeout =
      std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg.GetDuration("backend-timeout")));
  st.max_connections_per_address =
      static_cast<int>(std::max<int64_t>(1, cfg.GetInt("max-connections-per-address")));
  const std::chrono::seconds lease = Seconds(cfg, "lock-lease");
  // metad's lease accepts 1 s .. 10 min (metadata.proto AcquireMaildropLock).
  if (lease < std::chrono::seconds(3) || lease > std::chrono::minutes(10)) {
    return absl::InvalidArgumentError("--lock-lease must be between 3s and 10m");
  }

  absl::StatusOr<tern::common::Networks> trusted_proxies = tern::common::TrustedProxies(cfg);
  if (!trusted_proxies.ok()) return trusted_proxies.status();
  absl::StatusOr<tern::common::Backends> backends = tern::common::ConnectBackends(cfg, rt);
  if (!backends.ok()) return backends.status();
  context->auth = std::move(backends->auth);
  context->metad = std::move(backends->metad);
  context->blobd = std::move(backends->blobd);
  absl::StatusOr<std::unique_ptr<asio::ssl::context>> tls = tern::common::ClientTlsContext(cfg);
  if (!tls.ok()) return tls.status();
  context->tls = std::move(*tls);
  if (!cfg.GetString("pop3s-listen").empty() && !context->tls) {
    return absl::InvalidArgumentError("--pop3s-listen needs --tls-cert and --tls-key");
  }

  context->metrics = rt.Own(std::make_unique<Pop3Metrics>(rt.metrics()));
  auto* locks =
      rt.Own(std::make_unique<MaildropLocks>(*context, cfg.GetString("redis-addr"), lease));
  context->locks = locks;
  if (const std::string redis = cfg.GetString("redis-addr"); !redis.empty()) {
    // Without Redis, maildrop locks are taken in PostgreSQL: degraded, not down.
    rt.readiness().AddCheck(
        "redis-locks",
        [redis](absl::Duration timeout) { return tern::common::PingRedis(redis, timeout); },
        /*critical=*/false);
  }

  const std::string redis = cfg.GetString("redis-addr");
  auto* registry = tern::common::OwnSessionRegistry(cfg, rt);
  context->registry = registry;
  // Kicks (`ternctl sessions kick`) arrive on the process's pub/sub connection.
  tern::common::RedisSubscriber* subscriber = nullptr;
  if (!redis.empty()) {
    subscriber = rt.Own(std::make_unique<tern::common::RedisSubscriber>(
        redis, "pop3 kicks",
        tern::common::RedisSubscriber::Handlers{
            .on_message = [registry](std::string_view channel,
                                     std::string_view payload) {
              if (channel == tern::common::kKickChannel) registry->OnKick(payload);
            },
            .on_subscribed = nullptr,
            .on_disconnected = nullptr}));
  }

  Pop3Metrics* metrics = context->metrics;
  auto* server = rt.Own(std::make_unique<tern::common::FrontendServer>(
      tern::common::FrontendOptions{
          .protocol = "pop3",
          .threads = tern::common::EventThreads(cfg),
          .max_connections_per_address = st.max_connections_per_address,
          // RFC 1939 4 lets the greeting be negative; RFC 3206 4 gives the reason a code.
          .refuse_line = "-ERR [SYS/TEMP] Too many connections from your address\r\n",
          .on_refused = [metrics] { metrics->connections_refused.Increment(); },
          .trusted_proxies = *trusted_proxies},
      [context](tern::common::Accepted accepted) -> std::shared_ptr<tern::common::FrontendSession> {
        return std::make_shared<Session>(*context, std::move(accepted));
      }));
  if (absl::Status s = server->Listen(cfg.GetString("pop3-listen"), cfg.GetString("pop3s-listen"));
      !s.ok()) {
    return s;
  }
  if (subscriber != nullptr) subscriber->Start();
  registry->Start(subscriber);
  server->Start();
  tern::common::LogInfo("pop3 listening",
                        {{"pop3_port", server->plain_port()}, {"pop3s_port", server->tls_port()}});
  const auto grace =
      std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg.GetDuration("shutdown-grace")));
  rt.OnDrain([server, registry, subscriber, grace] {
    server->Stop(grace);
    registry->Stop();
    if (subscriber != nullptr) subscriber->Stop();
  });
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> specs = Settings();
  return tern::common::RunService("tern-pop3d", specs, argc, argv, Setup);
}
