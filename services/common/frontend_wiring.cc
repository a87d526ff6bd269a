#include "services/common/frontend_wiring.h"

#include <thread>

#include "absl/strings/str_split.h"

#include "services/common/grpc_client.h"
#include "services/common/strings.h"
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
       "tern-metad gRPC addresses, comma-separated: each user's calls go to the replica "
       "the user hashes to (rendezvous hashing), the next one while it fails"},
      {"blobd-addr", "TERN_BLOBD_ADDR", "127.0.0.1:7003", SettingType::kString,
       "tern-blobd gRPC address"},
      {"threads", "TERN_THREADS", "0", SettingType::kInt, "event-loop threads (0: one per core)"},
      {"backend-timeout", "TERN_BACKEND_TIMEOUT", "10s", SettingType::kDuration,
       "deadline of each authd/metad/blobd call, retries included"},
      {"proxy-trusted-networks", "TERN_PROXY_TRUSTED_NETWORKS", "", SettingType::kString,
       "comma-separated networks of the load balancers (e.g. 10.0.0.0/8): connections from "
       "them must begin with a PROXY protocol v1/v2 header carrying the client's address; "
       "empty: no PROXY protocol"},
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

MetadRing::MetadRing(std::vector<Endpoint> endpoints) : endpoints_(std::move(endpoints)) {}

namespace {

// FNV-1a, 64 bits: a fixed, portable hash (every front-end must agree on it).
uint64_t Fnv1a(std::string_view a, std::string_view b) {
  uint64_t h = 1469598103934665603ull;
  for (std::string_view part : {a, std::string_view("\0", 1), b}) {
    for (unsigned char c : part) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  // A final mix, so endpoints that differ in one character do not score alike.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

}  // namespace

const MetadRing::Endpoint& MetadRing::Choose(std::string_view key) const {
  // Rendezvous (highest random weight) hashing: each endpoint scores hash(endpoint, key) and
  // the best one that is not failing wins. Adding or removing an endpoint moves only the
  // users that scored best on it, so the rest keep meeting a warm cache.
  const Endpoint* best = nullptr;
  const Endpoint* best_up = nullptr;
  uint64_t best_score = 0;
  uint64_t best_up_score = 0;
  for (const Endpoint& e : endpoints_) {
    const uint64_t score = Fnv1a(e.address, key);
    if (best == nullptr || score > best_score) {
      best = &e;
      best_score = score;
    }
    const bool failing =
        e.channel && e.channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
    if (!failing && (best_up == nullptr || score > best_up_score)) {
      best_up = &e;
      best_up_score = score;
    }
  }
  return best_up != nullptr ? *best_up : *best;
}

absl::StatusOr<Backends> ConnectBackends(const Config& cfg, ServiceRuntime& rt) {
  const TlsFiles grpc_tls{cfg.GetString("grpc-tls-cert"), cfg.GetString("grpc-tls-key"),
                          cfg.GetString("grpc-tls-ca")};
  std::vector<std::pair<std::string, std::shared_ptr<grpc::Channel>>> channels;
  for (const char* name : {"authd-addr", "blobd-addr"}) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> ch = MakeChannel(cfg.GetString(name), grpc_tls);
    if (!ch.ok()) return ch.status();
    channels.emplace_back(name, *ch);
  }
  Backends backends;
  backends.auth = auth::v1::AuthService::NewStub(channels[0].second);
  backends.blobd = blob::v1::BlobService::NewStub(channels[1].second);
  std::vector<MetadRing::Endpoint> endpoints;
  std::vector<std::shared_ptr<grpc::Channel>> metad_channels;
  for (absl::string_view address :
       absl::StrSplit(cfg.GetString("metad-addr"), absl::ByAnyChar(", "), absl::SkipEmpty())) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> ch = MakeChannel(std::string(address), grpc_tls);
    if (!ch.ok()) return ch.status();
    metad_channels.push_back(*ch);
    endpoints.push_back({std::string(address), *ch, metadata::v1::MetadataService::NewStub(*ch)});
  }
  if (endpoints.empty()) return absl::InvalidArgumentError("--metad-addr is empty");
  backends.metad = std::make_shared<MetadRing>(std::move(endpoints));
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
  // Ready while any metad replica is: users of a failing one move to the next by hash.
  rt.readiness().AddCheck("metad", [metad_channels](absl::Duration timeout) {
    const auto deadline = absl::ToChronoTime(absl::Now() + timeout);
    for (const auto& channel : metad_channels) {
      if (channel->GetState(true) == GRPC_CHANNEL_READY) return absl::OkStatus();
    }
    for (const auto& channel : metad_channels) {
      if (channel->WaitForConnected(deadline)) return absl::OkStatus();
    }
    return absl::UnavailableError("no replica connected");
  });
  return backends;
}

SettingSpec SessionLeaseSetting() {
  return {"session-lease", "TERN_SESSION_LEASE", "30s", SettingType::kDuration,
          "lease of a session's entry in the registry, renewed every third of it; a crashed "
          "front-end's sessions age out after it"};
}

SessionRegistry* OwnSessionRegistry(const Config& cfg, ServiceRuntime& rt) {
  return rt.Own(std::make_unique<SessionRegistry>(SessionRegistry::Options{
      .redis_address = cfg.GetString("redis-addr"),
      .lease = std::max(absl::Seconds(3), cfg.GetDuration("session-lease")),
      .max_per_user = static_cast<int>(std::max<int64_t>(0, cfg.GetInt("max-sessions-per-user")))}));
}

absl::StatusOr<Networks> TrustedProxies(const Config& cfg) {
  absl::StatusOr<Networks> n = Networks::Parse(cfg.GetString("proxy-trusted-networks"));
  if (!n.ok()) {
    return absl::InvalidArgumentError(Cat("--proxy-trusted-networks: ", n.status().message()));
  }
  return n;
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
