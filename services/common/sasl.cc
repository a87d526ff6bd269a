#include "services/common/sasl.h"

#include "absl/strings/escaping.h"

namespace tern::common {
namespace {

using auth::v1::SaslStep;

// No mechanism Tern offers needs more rounds (SCRAM: 2).
constexpr int kMaxRounds = 10;

}  // namespace

auth::v1::ConnectionInfo MakeConnectionInfo(auth::v1::Protocol protocol, const std::string& peer,
                                            const std::string& local, bool tls,
                                            const std::string& instance,
                                            const std::string& session_id) {
  auth::v1::ConnectionInfo info;
  info.set_protocol(protocol);
  info.set_client_address(peer);
  info.set_local_address(local);
  info.set_tls(tls);
  info.set_frontend_instance(instance);
  info.set_session_id(session_id);
  return info;
}

bool DecodeStrictBase64(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  for (char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '/' || c == '=')) {
      return false;
    }
  }
  return absl::Base64Unescape(std::string(text), &out);
}

asio::awaitable<SaslResult> RunSasl(auth::v1::AuthService::Stub& auth, CallPolicy policy,
                                    const CallMeta& meta, const auth::v1::SaslStartRequest& start,
                                    const SaslChallenge& challenge) {
  // Not idempotent: every step moves the exchange on.
  policy.idempotent = false;
  SaslResult result;
  result.outcome = co_await Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        auth.async()->SaslStart(ctx, &start, &result.step, std::move(done));
      });
  for (int round = 0; result.outcome.ok() && result.step.outcome() == SaslStep::OUTCOME_CONTINUE;
       ++round) {
    if (round >= kMaxRounds) {
      result.end = SaslResult::End::kTooManySteps;
      co_return result;
    }
    // Named, not a temporary: see the note on GCC 12 in services/imap/server/session.cc.
    std::string encoded = absl::Base64Escape(result.step.challenge());
    std::optional<std::string> line = co_await challenge(encoded);
    if (!line) {
      result.end = SaslResult::End::kLost;
      co_return result;
    }
    if (*line == "*") {
      result.end = SaslResult::End::kCancelled;
      co_return result;
    }
    auth::v1::SaslContinueRequest next;
    next.set_exchange_state(result.step.exchange_state());
    *next.mutable_connection() = start.connection();
    std::string decoded;
    if (!DecodeStrictBase64(*line, decoded)) {
      result.end = SaslResult::End::kMalformed;
      co_return result;
    }
    next.set_client_response(decoded);
    result.step.Clear();
    result.outcome = co_await Call(
        policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
          auth.async()->SaslContinue(ctx, &next, &result.step, std::move(done));
        });
  }
  if (!result.outcome.ok()) {
    result.end = SaslResult::End::kBackendError;
    co_return result;
  }
  const bool success = result.step.outcome() == SaslStep::OUTCOME_SUCCESS;
  const bool has_final =
      success ? result.step.has_server_final() : result.step.has_failure_challenge();
  if (has_final) {
    std::string encoded =
        absl::Base64Escape(success ? result.step.server_final() : result.step.failure_challenge());
    std::optional<std::string> line = co_await challenge(encoded);
    if (!line) {
      result.end = SaslResult::End::kLost;
      co_return result;
    }
    if (*line == "*") {
      result.end = SaslResult::End::kCancelled;
      co_return result;
    }
  }
  result.end = SaslResult::End::kFinished;
  co_return result;
}

}  // namespace tern::common
