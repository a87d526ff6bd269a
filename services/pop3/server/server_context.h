#pragma once

// What every session of one tern-pop3d process shares: settings, backend stubs, the TLS
// context, the maildrop locks and the metrics.

#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/common/frontend_metrics.h"
#include "services/common/mechanisms_cache.h"
#include "tern/auth/v1/auth.grpc.pb.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "services/common/frontend_wiring.h"
#include "services/common/session_registry.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::pop3::server {

class MaildropLocks;

struct Pop3Settings {
  std::string instance = "pop3d";
  // Before authentication: an absolute deadline (NOOP does not exist there to hold a
  // connection open). RFC 1939 3's "at least 10 minutes" is the default.
  std::chrono::seconds login_timeout{600};
  // Autologout in the TRANSACTION state (RFC 1939 3: at least 10 minutes).
  std::chrono::seconds idle_timeout{600};
  // Minimum time between two logins of one user, advertised as LOGIN-DELAY (RFC 2449
  // 6.8) and enforced with -ERR [LOGIN-DELAY]; 0: no delay, not advertised.
  std::chrono::seconds login_delay{0};
  std::chrono::milliseconds backend_timeout{10000};
  int max_connections_per_address = 50;
};

struct Pop3Metrics : common::FrontendMetrics {
  explicit Pop3Metrics(prometheus::Registry& registry);
  prometheus::Counter& retrieved_bytes;
  // Maildrop locks taken, by backend ("redis", "postgres") and result.
  prometheus::Family<prometheus::Counter>& locks;
};

struct ServerContext {
  Pop3Settings settings;
  std::unique_ptr<auth::v1::AuthService::Stub> auth;
  std::shared_ptr<common::MetadRing> metad;  // user -> replica
  std::unique_ptr<blob::v1::BlobService::Stub> blobd;
  std::unique_ptr<asio::ssl::context> tls;  // null: no STLS, no POP3S
  MaildropLocks* locks = nullptr;
  common::SessionRegistry* registry = nullptr;
  Pop3Metrics* metrics = nullptr;
  common::MechanismsCache mechanisms_cache;
};

}  // namespace tern::pop3::server
