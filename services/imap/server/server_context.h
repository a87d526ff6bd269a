#pragma once

// What every session of one tern-imapd process shares: settings, backend stubs, the TLS
// context, the change-notice fan-in and the metrics.

#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "prometheus/counter.h"
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

namespace tern::imap::server {

class ChangeNotifier;

struct ImapSettings {
  std::string instance = "imapd";
  // Plaintext LOGIN / AUTHENTICATE PLAIN without TLS from non-loopback clients.
  bool allow_plaintext_auth = false;
  size_t max_line = 65536;
  uint64_t append_limit = 64ull << 20;         // also the literal limit (APPENDLIMIT, RFC 7889)
  std::chrono::seconds login_timeout{60};      // before authentication
  std::chrono::seconds idle_timeout{30 * 60};  // authenticated: RFC 3501 5.4 "at least 30 min"
  // Resync a selected mailbox without a notice (invariant 2): every poll_interval while the
  // Redis subscription is down, every resync_interval while it is up (a lost notice).
  std::chrono::seconds poll_interval{30};
  std::chrono::seconds resync_interval{300};
  std::chrono::milliseconds backend_timeout{10000};
  int max_connections_per_address = 50;
};

struct ImapMetrics : common::FrontendMetrics {
  explicit ImapMetrics(prometheus::Registry& registry);
  prometheus::Counter& notices;
  // IDLE fan-out (notifier.h): GetChanges calls made for every session of a mailbox, and
  // batches sessions applied from memory instead of calling metad themselves.
  prometheus::Counter& fanout_fetches;
  prometheus::Counter& fanout_applied;
  prometheus::Gauge& watched_mailboxes;
};

struct ServerContext {
  ImapSettings settings;
  std::unique_ptr<auth::v1::AuthService::Stub> auth;
  std::shared_ptr<common::MetadRing> metad;  // user -> replica
  std::unique_ptr<blob::v1::BlobService::Stub> blobd;
  std::unique_ptr<asio::ssl::context> tls;  // null: no STARTTLS, no IMAPS
  ChangeNotifier* notifier = nullptr;
  common::SessionRegistry* registry = nullptr;
  ImapMetrics* metrics = nullptr;
  common::MechanismsCache mechanisms_cache;
};

}  // namespace tern::imap::server
