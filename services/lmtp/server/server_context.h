#pragma once

// What every session of one tern-lmtpd process shares: settings, backend stubs, the TLS
// context (SMTP STARTTLS) and the metrics.

#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/common/frontend_metrics.h"
#include "services/lmtp/protocol/input.h"
#include "tern/auth/v1/auth.grpc.pb.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "services/common/frontend_wiring.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::lmtp::server {

struct LmtpSettings {
  std::string instance = "lmtpd";
  std::string hostname = "localhost";  // in the greeting and the Received field
  // Domains inbound SMTP accepts recipients for, lower-case; anything else is relaying,
  // refused (550 5.7.1). LMTP takes any address authd knows.
  std::vector<std::string> local_domains;
  // Where postmaster@<local domain> and "<Postmaster>" go (RFC 5321 4.5.1); empty: to a user
  // of that name.
  std::string postmaster;
  uint64_t max_message_size = 50ull << 20;  // SIZE (RFC 1870)
  // RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted.
  size_t max_recipients = 100;
  // Replies with a 5xx code a connection may draw before it is closed (421 4.7.0).
  int max_errors = 20;
  // How long the server waits for the next command or the next piece of content
  // (RFC 5321 4.5.3.2.7: at least 5 minutes).
  std::chrono::seconds timeout{300};
  // Over quota: 452 4.2.2 (the MTA retries) or 552 5.2.2 (it bounces); RFC 3463 X.2.2.
  bool over_quota_permanent = false;
  std::chrono::milliseconds backend_timeout{10000};
  int max_connections_per_address = 50;
  std::string service_token;  // tern-service-token, for authd.LookupRecipient
};

struct LmtpMetrics {
  explicit LmtpMetrics(prometheus::Registry& registry);
  common::FrontendMetrics lmtp;
  common::FrontendMetrics smtp;
  // Recipient deliveries by protocol ("lmtp", "smtp") and result ("delivered",
  // "duplicate", "temporary", "permanent").
  prometheus::Family<prometheus::Counter>& deliveries;
  prometheus::Counter& delivered_bytes;
  // From the end of the content to the last reply: blobd.Put and metad.AppendMessages.
  prometheus::Histogram& delivery_seconds;
};

struct ServerContext {
  LmtpSettings settings;
  std::unique_ptr<auth::v1::AuthService::Stub> auth;
  std::shared_ptr<common::MetadRing> metad;  // user -> replica
  std::unique_ptr<blob::v1::BlobService::Stub> blobd;
  std::unique_ptr<asio::ssl::context> tls;  // null: no STARTTLS
  LmtpMetrics* metrics = nullptr;

  protocol::Limits Limits(bool lmtp) const;
};

}  // namespace tern::lmtp::server
