#include "services/common/session_token.h"

#include "services/common/log.h"

namespace tern::common {

void SessionToken::Set(const auth::v1::Session& session) {
  token_ = session.token();
  expires_ = absl::FromUnixSeconds(session.expires_at().seconds());
  lifetime_ = expires_ - absl::Now();
}

std::chrono::steady_clock::duration SessionToken::RenewIn() const {
  if (token_.empty()) return std::chrono::hours(24);
  // A little past the moment renewal is due, so a wake-up finds it due (and renews) rather
  // than waking again a moment later.
  const absl::Duration left = expires_ - lifetime_ / 2 - absl::Now() + absl::Milliseconds(50);
  return std::max<std::chrono::steady_clock::duration>(std::chrono::seconds(1),
                                                       absl::ToChronoMilliseconds(left));
}

asio::awaitable<SessionToken::Renewal> SessionToken::RenewIfDue(auth::v1::AuthService::Stub& auth,
                                                                CallPolicy policy,
                                                                const std::string& request_id) {
  if (absl::Now() < expires_ - lifetime_ / 2) co_return Renewal::kValid;
  auth::v1::RenewTokenRequest req;
  auth::v1::RenewTokenResponse resp;
  policy.idempotent = true;
  const CallMeta meta{.request_id = request_id, .session_token = token_};
  Outcome outcome = co_await Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        auth.async()->RenewToken(ctx, &req, &resp, std::move(done));
      });
  if (outcome.ok()) {
    Set(resp.session());
    co_return Renewal::kValid;
  }
  const auto code = outcome.status.error_code();
  if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED ||
      absl::Now() >= expires_) {
    LogInfo("session token not renewed",
            {{"request_id", request_id}, {"error", outcome.status.error_message()}});
    co_return Renewal::kExpired;
  }
  co_return Renewal::kValid;
}

}  // namespace tern::common
