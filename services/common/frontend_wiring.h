#pragma once

// The wiring every protocol front-end (tern-imapd, tern-pop3d) shares: its settings for the
// backends and TLS, the gRPC stubs with their readiness checks, the TLS context clients
// see, and the number of event-loop threads.

#include <asio/ssl.hpp>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/config.h"
#include "services/common/proxy_protocol.h"
#include "services/common/service_runtime.h"
#include "services/common/session_registry.h"
#include "tern/auth/v1/auth.grpc.pb.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::common {

// tls-cert, tls-key, authd-addr, metad-addr, blobd-addr, threads, backend-timeout.
std::vector<SettingSpec> FrontendBackendSettings();

// Every setting of a front-end: the common ones (no gRPC listener, the metrics/health
// endpoint on `http_listen`), then the protocol's own, then FrontendBackendSettings().
std::vector<SettingSpec> FrontendSettings(std::string_view http_listen,
                                          const std::vector<SettingSpec>& own);

// The metad replicas a front-end talks to, and which one serves a given user: rendezvous
// hashing of the user over the endpoints, so one user's calls meet the same replica's warm
// caches from every front-end, moving to the next replica only while that one fails.
class MetadRing {
 public:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;  // null in tests
    std::unique_ptr<metadata::v1::MetadataService::Stub> stub;
  };
  explicit MetadRing(std::vector<Endpoint> endpoints);

  // `key` is the user (its id in decimal); every front-end picks the same replica for it.
  const Endpoint& Choose(std::string_view key) const;
  metadata::v1::MetadataService::Stub* For(uint64_t user_id) const {
    return Choose(std::to_string(user_id)).stub.get();
  }
  const std::string& AddressFor(uint64_t user_id) const {
    return Choose(std::to_string(user_id)).address;
  }
  size_t size() const { return endpoints_.size(); }

 private:
  std::vector<Endpoint> endpoints_;
};

struct Backends {
  std::unique_ptr<auth::v1::AuthService::Stub> auth;
  std::shared_ptr<MetadRing> metad;
  std::unique_ptr<blob::v1::BlobService::Stub> blobd;
};

// Channels to authd, metad and blobd (grpc-tls-* when set), each with a readiness check.
absl::StatusOr<Backends> ConnectBackends(const Config& cfg, ServiceRuntime& rt);

// The TLS context of --tls-cert/--tls-key; null when no certificate is configured.
absl::StatusOr<std::unique_ptr<asio::ssl::context>> ClientTlsContext(const Config& cfg);

// --session-lease: the registry lease tern-imapd and tern-pop3d share (their
// --max-sessions-per-user differ in default and variable).
SettingSpec SessionLeaseSetting();
// The session registry of --redis-addr, --session-lease and --max-sessions-per-user, owned by
// rt; not started.
SessionRegistry* OwnSessionRegistry(const Config& cfg, ServiceRuntime& rt);

// --proxy-trusted-networks.
absl::StatusOr<Networks> TrustedProxies(const Config& cfg);

// --threads, 0 meaning one per core.
int EventThreads(const Config& cfg);

}  // namespace tern::common
