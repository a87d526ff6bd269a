#include "services/common/grpc_client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/common/log.h"

namespace tern::common {
namespace {

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

}  // namespace

bool IsRetryable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
      return true;
    default:
      return false;
  }
}

absl::Duration BackoffDelay(const CallPolicy& policy, int retry, std::mt19937_64& rng) {
  const double factor = std::pow(policy.multiplier, std::max(0, retry - 1));
  absl::Duration base = policy.initial_backoff * factor;
  if (base > policy.max_backoff || base < absl::ZeroDuration()) base = policy.max_backoff;
  const int64_t half_us = absl::ToInt64Microseconds(base) / 2;
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(0, half_us));
  return absl::Microseconds(half_us + jitter(rng));
}

std::string NewRequestId() { return absl::StrFormat("%016x", ThreadRng()()); }

grpc::Status CallWithRetry(const CallPolicy& policy, const CallMeta& meta,
                           const std::function<grpc::Status(grpc::ClientContext&)>& attempt,
                           int* attempts_made) {
  const absl::Time deadline = absl::Now() + policy.deadline;
  const std::string request_id = meta.request_id.empty() ? NewRequestId() : meta.request_id;
  const int max_attempts = policy.idempotent ? std::max(1, policy.max_attempts) : 1;
  grpc::Status status;
  int n = 0;
  while (n < max_attempts) {
    ++n;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    ctx.AddMetadata(kRequestIdKey, request_id);
    if (!meta.session_token.empty()) ctx.AddMetadata(kSessionTokenKey, meta.session_token);
    if (!meta.admin_token.empty()) ctx.AddMetadata(kAdminTokenKey, meta.admin_token);
    if (!meta.service_token.empty()) {
      ctx.AddMetadata(kServiceTokenKey, meta.service_token);
    }
    status = attempt(ctx);
    if (status.ok() || !IsRetryable(status) || n >= max_attempts) break;
    const absl::Duration delay = BackoffDelay(policy, n, ThreadRng());
    if (absl::Now() + delay >= deadline) break;
    LogDebug("retrying gRPC call", {{"request_id", request_id},
                                    {"attempt", n},
                                    {"code", static_cast<int>(status.error_code())},
                                    {"error", status.error_message()}});
    std::this_thread::sleep_for(absl::ToChronoMicroseconds(delay));
  }
  if (attempts_made != nullptr) *attempts_made = n;
  return status;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const TlsFiles& tls) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeGrpcChannelCredentials(tls);
  if (!creds.ok()) return creds.status();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // Retries are ours (CallWithRetry), with idempotency decided per call.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(target, *creds, args);
}

std::string MetadataOf(const grpc::ServerContext& ctx, std::string_view key) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return std::string(it->second.data(), it->second.size());
}

std::string RequestIdOf(const grpc::ServerContext& ctx) { return MetadataOf(ctx, kRequestIdKey); }

}  // namespace tern::common
