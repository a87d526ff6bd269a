#include "services/common/frontend_wiring.h"

#include <thread>

#include "services/common/grpc_client.h"
#include "services/common/tls.h"

namespace tern::common {

std::vector<SettingSpec> FrontendBackendSettings() {
  return {
      {"tls-cert", "TERN_TLS_CERT", "", SettingType::kString,
       "PEM certificate chain clients see (STARTTLS/STLS and the implicit-TLS port); empty: no "
       "TLS"},
      {"tls-key", "TERN_TLS_KEY", "", SettingType::kString, "PEM private key for --tls-cert"},
      {"authd-addr", "TERN_AUTHD_ADDR", "127.0.0.1:7001", SettingType::kString,
       "tern-authd gRPC address"},
      {"metad-addr", "TERN_METAD_ADDR", "127.0.0.1:7002", SettingType::kString,
       "tern-metad gRPC address"},
      {"blobd-addr", "TERN_BLOBD_ADDR", "127.0.0.1:7003", SettingType::kString,
       "tern-blobd gRPC address"},
      {"threads", "TERN_THREADS", "0", SettingType::kInt, "event-loop threads (0: one per core)"},
      {"backend-timeout", "TERN_BACKEND_TIMEOUT", "10s", SettingType::kDuration,
       "deadline of each authd/metad/blobd call, retries included"},
  };
}

std::vector<SettingSpec> FrontendSettings(std::string_view http_listen,
                                          const std::vector<SettingSpec>& own) {
  std::vector<SettingSpec> s = CommonSettings("", http_listen);
  s.insert(s.end(), own.begin(), own.end());
  const std::vector<SettingSpec> backends = FrontendBackendSettings();
  s.insert(s.end(), backends.begin(), backends.end());
  return s;
}

absl::StatusOr<Backends> ConnectBackends(const Config& cfg, ServiceRuntime& rt) {
  const TlsFiles grpc_tls{cfg.GetString("grpc-tls-cert"), cfg.GetString("grpc-tls-key"),
                          cfg.GetString("grpc-tls-ca")};
  std::vector<std::pair<std::string, std::shared_ptr<grpc::Channel>>> channels;
  for (const char* name : {"authd-addr", "metad-addr", "blobd-addr"}) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> ch = MakeChannel(cfg.GetString(name), grpc_tls);
    if (!ch.ok()) return ch.status();
    channels.emplace_back(name, *ch);
  }
  Backends backends;
  backends.auth = auth::v1::AuthService::NewStub(channels[0].second);
  backends.metad = metadata::v1::MetadataService::NewStub(channels[1].second);
  backends.blobd = blob::v1::BlobService::NewStub(channels[2].second);
  for (const auto& [name, channel] : channels) {
    std::string check = name;
    check.resize(check.size() - 5);  // "authd-addr" -> "authd"
    rt.readiness().AddCheck(check, [channel](absl::Duration timeout) {
      if (channel->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout))) {
        return absl::OkStatus();
      }
      return absl::UnavailableError("not connected");
    });
  }
  return backends;
}

absl::StatusOr<std::unique_ptr<asio::ssl::context>> ClientTlsContext(const Config& cfg) {
  if (cfg.GetString("tls-cert").empty()) return std::unique_ptr<asio::ssl::context>();
  absl::StatusOr<SslCtxPtr> ssl =
      MakeServerTlsContext({cfg.GetString("tls-cert"), cfg.GetString("tls-key"), ""});
  if (!ssl.ok()) return ssl.status();
  return std::make_unique<asio::ssl::context>(ssl->release());
}

int EventThreads(const Config& cfg) {
  int threads = static_cast<int>(cfg.GetInt("threads"));
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return threads;
}

}  // namespace tern::common
