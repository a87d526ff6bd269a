#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <random>
#include <string>

#include "absl/time/time.h"
#include "services/common/tls.h"

namespace tern::common {

// gRPC metadata keys shared by every service (see proto/ for their meaning).
inline constexpr char kRequestIdKey[] = "x-request-id";
inline constexpr char kSessionTokenKey[] = "tern-session-token";
inline constexpr char kAdminTokenKey[] = "tern-admin-token";
// The static credential of internal services (blob GC, metad, tern-lmtpd).
inline constexpr char kServiceTokenKey[] = "tern-service-token";

// How one logical call is made (invariant 6 of DESIGN.md: every call has a deadline;
// idempotent calls retry with exponential backoff and jitter).
struct CallPolicy {
  absl::Duration deadline = absl::Seconds(5);  // for the whole call, all attempts together
  bool idempotent = false;                     // only idempotent calls are retried
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  double multiplier = 2.0;
};

// What travels with every call: the request id that ties one client command together in
// every service's log, and the credential.
struct CallMeta {
  std::string request_id;     // generated when empty
  std::string session_token;  // tern-session-token, when set
  std::string admin_token;    // tern-admin-token, when set
  std::string service_token;  // tern-service-token, when set (tern-lmtpd's recipient lookups)
};

// Whether a failed attempt may be tried again: the call is idempotent and the status says
// the server did not (or may not have) finished the work for a transient reason.
bool IsRetryable(const grpc::Status& status);

// Backoff before retry number `retry` (1 for the first retry): exponential, capped at
// max_backoff, with "equal jitter" (half fixed, half uniformly random) so replicas that
// failed together do not retry together.
absl::Duration BackoffDelay(const CallPolicy& policy, int retry, std::mt19937_64& rng);

// A fresh random request id (16 hex digits).
std::string NewRequestId();

// Runs attempt(ctx) until it succeeds, fails for good, runs out of attempts or of deadline.
// Each attempt gets a new ClientContext carrying the overall deadline and the metadata.
// Returns the last status. `attempts_made`, when given, receives the number of attempts.
grpc::Status CallWithRetry(const CallPolicy& policy, const CallMeta& meta,
                           const std::function<grpc::Status(grpc::ClientContext&)>& attempt,
                           int* attempts_made = nullptr);

// A channel to "host:port" with the given TLS files (plaintext when empty) and keepalive.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const TlsFiles& tls);

// The request id a server received (empty when the client sent none).
std::string RequestIdOf(const grpc::ServerContext& ctx);
// A metadata value a server received, or empty.
std::string MetadataOf(const grpc::ServerContext& ctx, std::string_view key);

}  // namespace tern::common
