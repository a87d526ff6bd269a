// tern-lmtpd: delivery into the cluster over LMTP (RFC 2033) and inbound SMTP (RFC 5321)
// (DESIGN.md). Wiring only; the protocol is in services/lmtp/protocol, the sessions in
// session.cc and the storing in delivery.cc.

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "services/common/config.h"
#include "services/common/credentials.h"
#include "services/common/frontend_server.h"
#include "services/common/frontend_wiring.h"
#include "services/common/log.h"
#include "services/common/service_runtime.h"
#include "services/lmtp/server/server_context.h"
#include "services/lmtp/server/session.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  return tern::common::FrontendSettings(
      "0.0.0.0:9106",
      {
          {"lmtp-listen", "TERN_LMTP_LISTEN", "0.0.0.0:2424", SettingType::kString,
           "address:port of the LMTP listener (RFC 2033); empty: none"},
          {"smtp-listen", "TERN_SMTP_LISTEN", "0.0.0.0:2525", SettingType::kString,
           "address:port of the inbound SMTP listener (RFC 5321, STARTTLS); empty: none"},
          {"hostname", "TERN_HOSTNAME", "", SettingType::kString,
           "name in the greeting and in Received fields (default: the host name)"},
          {"local-domains", "TERN_LOCAL_DOMAINS", "", SettingType::kString,
           "comma-separated domains inbound SMTP accepts mail for; others are refused as relaying "
           "(550 5.7.1)"},
          {"postmaster", "TERN_POSTMASTER", "", SettingType::kString,
           "address that receives mail for postmaster at the local domains and for <Postmaster> "
           "(RFC 5321 4.5.1); empty: postmaster@domain must be a user"},
          {"max-message-size", "TERN_MAX_MESSAGE_SIZE", "52428800", SettingType::kInt,
           "largest message accepted, in octets (advertised as SIZE, RFC 1870)"},
          {"max-recipients", "TERN_MAX_RECIPIENTS", "100", SettingType::kInt,
           "recipients per transaction (RFC 5321 4.5.3.1.8: at least 100); more get 452 4.5.3"},
          {"max-errors", "TERN_SMTP_MAX_ERRORS", "20", SettingType::kInt,
           "5xx replies a connection may draw before it is closed with 421 4.7.0"},
          {"timeout", "TERN_SMTP_TIMEOUT", "5m", SettingType::kDuration,
           "wait for the next command or piece of content before 421 4.4.2 (RFC 5321 4.5.3.2.7: "
           "at least 5 minutes)"},
          {"over-quota-permanent", "TERN_OVER_QUOTA_PERMANENT", "false", SettingType::kBool,
           "over quota answers 552 5.2.2 (bounce) instead of 452 4.2.2 (retry later)"},
          {"service-token-file", "TERN_SERVICE_TOKEN_FILE", "", SettingType::kString,
           "file holding the tern-service-token authd requires for recipient lookups"},
          {"max-connections-per-address", "TERN_LMTP_MAX_CONNECTIONS_PER_ADDRESS", "50",
           SettingType::kInt, "open connections allowed from one client IP address"},
      });
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

absl::Status Setup(tern::common::ServiceRuntime& rt) {
  using namespace tern::lmtp::server;
  const tern::common::Config& cfg = rt.config();
  auto* context = rt.Own(std::make_unique<ServerContext>());
  LmtpSettings& st = context->settings;
  st.instance = cfg.GetString("instance");
  st.hostname = cfg.GetString("hostname").empty() ? HostName() : cfg.GetString("hostname");
  for (absl::string_view d :
       absl::StrSplit(cfg.GetString("local-domains"), ',', absl::SkipWhitespace())) {
    st.local_domains.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(d)));
  }
  st.postmaster = cfg.GetString("postmaster");
  if (cfg.GetInt("max-message-size") < 1024) {
    return absl::InvalidArgumentError("--max-message-size must be at least 1024");
  }
  st.max_message_size = static_cast<uint64_t>(cfg.GetInt("max-message-size"));
  if (cfg.GetInt("max-recipients") < 1) {
    return absl::InvalidArgumentError("--max-recipients must be at least 1");
  }
  st.max_recipients = static_cast<size_t>(cfg.GetInt("max-recipients"));
  st.max_errors = static_cast<int>(std::max<int64_t>(1, cfg.GetInt("max-errors")));
  st.timeout = std::chrono::seconds(absl::ToInt64Seconds(cfg.GetDuration("timeout")));
  if (st.timeout < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError("--timeout must be at least 1s");
  }
  if (st.timeout < std::chrono::minutes(5)) {
    tern::common::LogWarn("--timeout is below the 5 minutes RFC 5321 4.5.3.2.7 asks for",
                          {{"timeout_seconds", st.timeout.count()}});
  }
  st.over_quota_permanent = cfg.GetBool("over-quota-permanent");
  st.backend_timeout =
      std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg.GetDuration("backend-timeout")));
  st.max_connections_per_address =
      static_cast<int>(std::max<int64_t>(1, cfg.GetInt("max-connections-per-address")));
  absl::StatusOr<std::string> token =
      tern::common::ReadSecretFile(cfg.GetString("service-token-file"));
  if (!token.ok()) return token.status();
  if (token->empty()) {
    return absl::InvalidArgumentError("--service-token-file is required (recipient lookups)");
  }
  st.service_token = *token;

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
  context->metrics = rt.Own(std::make_unique<LmtpMetrics>(rt.metrics()));

  const int threads = tern::common::EventThreads(cfg);
  const auto grace =
      std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg.GetDuration("shutdown-grace")));
  struct Listener {
    const char* protocol;
    const char* setting;
    Mode mode;
    tern::common::FrontendMetrics* metrics;
  };
  const Listener listeners[] = {
      {"lmtp", "lmtp-listen", Mode::kLmtp, &context->metrics->lmtp},
      {"smtp", "smtp-listen", Mode::kSmtp, &context->metrics->smtp},
  };
  // Both listeners drain at once, and backend calls are cancelled only when both are done
  // (or the grace period ran out): one after the other, the SMTP sessions would not hear of
  // the shutdown (421 4.3.2) until every LMTP session had ended, and the first server to
  // finish would cancel the other's deliveries (the call tracker is per process).
  auto servers = std::make_shared<std::vector<tern::common::FrontendServer*>>();
  rt.OnDrain([servers, grace] {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (tern::common::FrontendServer* server : *servers) server->BeginStop();
    for (tern::common::FrontendServer* server : *servers) server->WaitForSessions(deadline);
    for (tern::common::FrontendServer* server : *servers) server->FinishStop();
  });
  for (const Listener& l : listeners) {
    const std::string address = cfg.GetString(l.setting);
    if (address.empty()) continue;
    tern::common::FrontendMetrics* metrics = l.metrics;
    const Mode mode = l.mode;
    auto* server = rt.Own(std::make_unique<tern::common::FrontendServer>(
        tern::common::FrontendOptions{
            .protocol = l.protocol,
            .threads = threads,
            .max_connections_per_address = st.max_connections_per_address,
            // RFC 5321 3.1: a server may greet with 421 when it cannot take the connection.
            .refuse_line = "421 4.7.0 Too many connections from your address\r\n",
            .on_refused = [metrics] { metrics->connections_refused.Increment(); },
          .trusted_proxies = *trusted_proxies},
        [context,
         mode](tern::common::Accepted accepted) -> std::shared_ptr<tern::common::FrontendSession> {
          return std::make_shared<Session>(*context, mode, std::move(accepted));
        }));
    if (absl::Status s = server->Listen(address, ""); !s.ok()) return s;
    server->Start();
    tern::common::LogInfo("lmtpd listening",
                          {{"protocol", l.protocol}, {"port", server->plain_port()}});
    servers->push_back(server);
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> specs = Settings();
  return tern::common::RunService("tern-lmtpd", specs, argc, argv, Setup);
}
