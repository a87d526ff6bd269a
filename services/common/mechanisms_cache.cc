#include "services/common/mechanisms_cache.h"

#include "services/common/log.h"

namespace tern::common {

std::optional<auth::v1::ListMechanismsResponse> MechanismsCache::Get(bool tls, bool loopback) {
  std::lock_guard lock(mu_);
  const std::optional<Entry>& e = entries_[(tls ? 2 : 0) + (loopback ? 1 : 0)];
  if (!e || std::chrono::steady_clock::now() >= e->expires) return std::nullopt;
  return e->response;
}

void MechanismsCache::Put(bool tls, bool loopback,
                          const auth::v1::ListMechanismsResponse& response) {
  std::lock_guard lock(mu_);
  entries_[(tls ? 2 : 0) + (loopback ? 1 : 0)] =
      Entry{response, std::chrono::steady_clock::now() + std::chrono::minutes(1)};
}

asio::awaitable<std::optional<auth::v1::ListMechanismsResponse>> MechanismsCache::Lookup(
    auth::v1::AuthService::Stub& auth, const auth::v1::ConnectionInfo& connection,
    CallPolicy policy, bool loopback) {
  std::optional<auth::v1::ListMechanismsResponse> cached = Get(connection.tls(), loopback);
  if (cached) co_return cached;
  auth::v1::ListMechanismsRequest req;
  *req.mutable_connection() = connection;
  auth::v1::ListMechanismsResponse resp;
  policy.idempotent = true;
  const CallMeta meta{.request_id = connection.session_id()};
  Outcome outcome = co_await Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        auth.async()->ListMechanisms(ctx, &req, &resp, std::move(done));
      });
  if (!outcome.ok()) {
    LogWarn("authd ListMechanisms failed",
            {{"session", connection.session_id()}, {"error", outcome.status.error_message()}});
    co_return std::nullopt;
  }
  Put(connection.tls(), loopback, resp);
  std::optional<auth::v1::ListMechanismsResponse> fresh(std::move(resp));
  co_return fresh;
}

}  // namespace tern::common
