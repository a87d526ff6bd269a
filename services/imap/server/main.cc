// tern-imapd: the IMAP front-end (DESIGN.md). Wiring only; the protocol is in
// services/imap/protocol and the sessions in session.cc and commands/.

#include "services/common/config.h"
#include "services/common/frontend_server.h"
#include "services/common/frontend_wiring.h"
#include "services/common/log.h"
#include "services/common/redis_subscriber.h"
#include "services/common/session_registry.h"
#include "services/common/service_runtime.h"
#include "services/common/strings.h"
#include "services/imap/server/notifier.h"
#include "services/imap/server/server_context.h"
#include "services/imap/server/session.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  return tern::common::FrontendSettings(
      "0.0.0.0:9104",
      {
          {"imap-listen", "TERN_IMAP_LISTEN", "0.0.0.0:1143", SettingType::kString,
           "address:port of the plaintext IMAP listener (STARTTLS); empty: none"},
          {"imaps-listen", "TERN_IMAPS_LISTEN", "0.0.0.0:1993", SettingType::kString,
           "address:port of the implicit-TLS IMAP listener (RFC 8314); empty: none"},
          {"redis-addr", "TERN_REDIS_ADDR", "127.0.0.1:6379", SettingType::kString,
           "Redis for change notices (IDLE); empty: poll only"},
          {"max-line", "TERN_IMAP_MAX_LINE", "65536", SettingType::kInt,
           "longest command line in bytes (literals excluded); longer lines get BAD"},
          {"append-limit", "TERN_APPEND_LIMIT", "67108864", SettingType::kInt,
           "largest message or literal in bytes (advertised as APPENDLIMIT, RFC 7889)"},
          {"login-timeout", "TERN_IMAP_LOGIN_TIMEOUT", "60s", SettingType::kDuration,
           "autologout before authentication"},
          {"idle-timeout", "TERN_IMAP_IDLE_TIMEOUT", "30m", SettingType::kDuration,
           "autologout once authenticated (RFC 3501 5.4: at least 30 minutes)"},
          {"poll-interval", "TERN_IMAP_POLL_INTERVAL", "30s", SettingType::kDuration,
           "while Redis is unreachable: resync a selected mailbox this often"},
          {"resync-interval", "TERN_IMAP_RESYNC_INTERVAL", "5m", SettingType::kDuration,
           "while Redis is reachable: resync a selected mailbox this often even without a notice"},
          {"max-connections-per-address", "TERN_IMAP_MAX_CONNECTIONS_PER_ADDRESS", "50",
           SettingType::kInt, "open connections allowed from one client IP address"},
          {"max-sessions-per-user", "TERN_IMAP_MAX_SESSIONS_PER_USER", "20", SettingType::kInt,
           "logged-in IMAP sessions of one user across the cluster (the session registry in "
           "Redis); 0: no limit"},
          tern::common::SessionLeaseSetting(),
      });
}

absl::Status Setup(tern::common::ServiceRuntime& rt) {
  using namespace tern::imap::server;
  const tern::common::Config& cfg = rt.config();
  auto* context = rt.Own(std::make_unique<ServerContext>());
  ImapSettings& st = context->settings;
  st.instance = cfg.GetString("instance");
  st.max_line = static_cast<size_t>(std::max<int64_t>(1024, cfg.GetInt("max-line")));
  st.append_limit = static_cast<uint64_t>(std::max<int64_t>(1024, cfg.GetInt("append-limit")));
  st.login_timeout = std::chrono::seconds(absl::ToInt64Seconds(cfg.GetDuration("login-timeout")));
  st.idle_timeout = std::chrono::seconds(absl::ToInt64Seconds(cfg.GetDuration("idle-timeout")));
  if (st.idle_timeout < std::chrono::minutes(30)) {
    return absl::InvalidArgumentError("--idle-timeout must be at least 30m (RFC 3501 5.4)");
  }
  st.resync_interval = std::chrono::seconds(
      std::max<int64_t>(1, absl::ToInt64Seconds(cfg.GetDuration("resync-interval"))));
  st.poll_interval = std::chrono::seconds(
      std::max<int64_t>(1, absl::ToInt64Seconds(cfg.GetDuration("poll-interval"))));
  st.backend_timeout =
      std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg.GetDuration("backend-timeout")));
  st.max_connections_per_address =
      static_cast<int>(std::max<int64_t>(1, cfg.GetInt("max-connections-per-address")));

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

  context->metrics = rt.Own(std::make_unique<ImapMetrics>(rt.metrics()));
  const std::string redis = cfg.GetString("redis-addr");
  auto* registry = tern::common::OwnSessionRegistry(cfg, rt);
  context->registry = registry;
  // One pub/sub connection per process: mailbox change notices and kicks.
  ChangeNotifier* notifier = nullptr;
  tern::common::RedisSubscriber* subscriber = nullptr;
  if (!redis.empty()) {
    // The subscriber's thread calls into the notifier, which is created right after it
    // (Start() comes later), and is destroyed before it (rt.Own: reverse order).
    ChangeNotifier** notifier_ref = rt.Own(std::make_unique<ChangeNotifier*>(nullptr));
    subscriber = rt.Own(std::make_unique<tern::common::RedisSubscriber>(
        redis, "imap notices",
        tern::common::RedisSubscriber::Handlers{
            .on_message =
                [notifier_ref, registry](std::string_view channel, std::string_view payload) {
                  if (channel == tern::common::kKickChannel) {
                    registry->OnKick(payload);
                  } else {
                    (*notifier_ref)->OnNotice(channel, payload);
                  }
                },
            .on_subscribed = [notifier_ref](
                                 std::string_view channel) { (*notifier_ref)->OnSubscribed(channel); },
            .on_disconnected = [notifier_ref] { (*notifier_ref)->OnDisconnected(); }}));
    notifier = rt.Own(std::make_unique<ChangeNotifier>(subscriber, context->metrics));
    *notifier_ref = notifier;
    rt.readiness().AddCheck(
        "redis-notices",
        [subscriber](absl::Duration) {
          return subscriber->connected() ? absl::OkStatus() : absl::UnavailableError("polling only");
        },
        /*critical=*/false);
  } else {
    notifier = rt.Own(std::make_unique<ChangeNotifier>(nullptr, context->metrics));
  }
  context->notifier = notifier;

  const int threads = tern::common::EventThreads(cfg);
  if (!cfg.GetString("imaps-listen").empty() && !context->tls) {
    return absl::InvalidArgumentError("--imaps-listen needs --tls-cert and --tls-key");
  }
  ImapMetrics* metrics = context->metrics;
  auto* server = rt.Own(std::make_unique<tern::common::FrontendServer>(
      tern::common::FrontendOptions{
          .protocol = "imap",
          .threads = threads,
          .max_connections_per_address = st.max_connections_per_address,
          // RFC 3501 7.1.5: BYE instead of a greeting.
          .refuse_line = "* BYE [UNAVAILABLE] Too many connections from your address\r\n",
          .on_refused = [metrics] { metrics->connections_refused.Increment(); },
          .trusted_proxies = *trusted_proxies},
      [context](tern::common::Accepted accepted) -> std::shared_ptr<tern::common::FrontendSession> {
        return std::make_shared<Session>(*context, std::move(accepted));
      }));
  if (absl::Status s = server->Listen(cfg.GetString("imap-listen"), cfg.GetString("imaps-listen"));
      !s.ok()) {
    return s;
  }
  if (subscriber != nullptr) subscriber->Start();
  registry->Start(subscriber);
  server->Start();
  tern::common::LogInfo("imap listening",
                        {{"imap_port", server->plain_port()}, {"imaps_port", server->tls_port()}});
  const auto grace =
      std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg.GetDuration("shutdown-grace")));
  rt.OnDrain([server, subscriber, registry, grace] {
    server->Stop(grace);
    registry->Stop();
    if (subscriber != nullptr) subscriber->Stop();
  });
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> specs = Settings();
  return tern::common::RunService("tern-imapd", specs, argc, argv, Setup);
}
