// STARTTLS, LOGIN and AUTHENTICATE (RFC 3501 6.2; SASL-IR RFC 4959). Credentials are checked
// by tern-authd; this front-end only carries the exchange and never logs a secret.

#include "services/common/log.h"
#include "services/common/sasl.h"
#include "services/common/strings.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

using auth::v1::SaslStep;

constexpr size_t kMaxSaslLine = 16384;

// The answer to a failed login (RFC 5530 codes; auth.proto SaslStep.FailureReason).
void Refuse(Session& s, const SaslStep& step) {
  switch (step.failure_reason()) {
    case SaslStep::FAILURE_REASON_TEMPORARY_LOCKOUT:
      return s.No("Too many failed attempts; try again later", protocol::code::kUnavailable);
    case SaslStep::FAILURE_REASON_ACCOUNT_DISABLED:
      return s.No("Account disabled", protocol::code::kContactAdmin);
    case SaslStep::FAILURE_REASON_MECHANISM_UNSUPPORTED:
      return s.No("Unsupported authentication mechanism", protocol::code::kCannot);
    case SaslStep::FAILURE_REASON_ENCRYPTION_REQUIRED:
      return s.No("Use STARTTLS or the IMAPS port first", protocol::code::kPrivacyRequired);
    case SaslStep::FAILURE_REASON_MALFORMED:
      return s.Bad("Malformed authentication data");
    case SaslStep::FAILURE_REASON_ABORTED:
      return s.Bad("Authentication cancelled");
    default:
      return s.No("Authentication failed", protocol::code::kAuthenticationFailed);
  }
}

asio::awaitable<void> Succeed(Session& s, const SaslStep& step) {
  const bool admitted = co_await s.LoggedIn(step.session());
  if (!admitted) {
    // RFC 5530 3: LIMIT, an operational limit was reached; the session stays unauthenticated.
    s.No("Too many sessions for this user; close some and try again", protocol::code::kLimit);
    co_return;
  }
  // RFC 3501 7.1: the capabilities change with the state; send them with the OK.
  const std::string caps = co_await s.Capabilities();
  s.Ok("Logged in", Cat("CAPABILITY ", caps));
}

}  // namespace

asio::awaitable<void> CmdStartTls(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("STARTTLS takes no arguments");
  } else if (!s.server().tls) {
    s.Bad("STARTTLS is not available");
  } else if (s.tls()) {
    s.Bad("TLS is already active");
  } else {
    // RFC 3501 6.2.1: the OK goes out in the clear; the session starts the handshake
    // right after it (Session::Run).
    s.RequestStartTls();
    s.Ok("Begin TLS negotiation now");
  }
  co_return;
}

asio::awaitable<void> CmdLogin(Session& s, const protocol::Command& c) {
  if (c.args.size() != 2 || !c.args[0].IsAstring() || !c.args[1].IsAstring()) {
    s.Bad("LOGIN expects a user name and a password");
    co_return;
  }
  auth::v1::LoginPasswordRequest req;
  req.set_username(c.args[0].text);
  req.set_password(c.args[1].text);
  *req.mutable_connection() = s.Connection();
  SaslStep step;
  const common::CallMeta meta{.request_id = s.id()};
  Outcome outcome = co_await Call(
      s.Policy(false), meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        s.server().auth->async()->LoginPassword(ctx, &req, &step, std::move(done));
      });
  if (!outcome.ok()) {
    common::LogWarn("imap: authd LoginPassword failed",
                    {{"session", s.id()}, {"error", outcome.status.error_message()}});
    {
      s.No("Authentication is temporarily unavailable", protocol::code::kUnavailable);
      co_return;
    }
  }
  if (step.outcome() == SaslStep::OUTCOME_SUCCESS) {
    co_await Succeed(s, step);
    co_return;
  }
  Refuse(s, step);
}

asio::awaitable<void> CmdAuthenticate(Session& s, const protocol::Command& c) {
  if (c.args.empty() || c.args.size() > 2 || !c.args[0].IsAtom()) {
    s.Bad("AUTHENTICATE expects a mechanism and an optional initial response");
    co_return;
  }
  auth::v1::SaslStartRequest start;
  start.set_mechanism(c.args[0].text);
  *start.mutable_connection() = s.Connection();
  if (c.args.size() == 2) {
    // RFC 4959: the initial response; "=" stands for an empty one.
    const protocol::Value& ir = c.args[1];
    if (!ir.IsAtom()) {
      s.Bad("Malformed initial response");
      co_return;
    }
    std::string decoded;
    if (ir.text != "=" && !common::DecodeStrictBase64(ir.text, decoded)) {
      s.Bad("Initial response is not valid base64");
      co_return;
    }
    start.set_initial_response(decoded);
  }
  const common::SaslChallenge challenge =
      [&s](const std::string& base64) -> asio::awaitable<std::optional<std::string>> {
    protocol::AppendContinuation(s.out(), base64);
    std::optional<std::string> line = co_await s.ReadRawLine(kMaxSaslLine);
    co_return line;
  };
  const common::CallMeta meta{.request_id = s.id()};
  common::SaslResult result =
      co_await common::RunSasl(*s.server().auth, s.Policy(false), meta, start, challenge);
  switch (result.end) {
    case common::SaslResult::End::kFinished:
      break;
    case common::SaslResult::End::kCancelled:
      // RFC 3501 6.2.2: the client cancelled; the tagged response is BAD.
      s.Bad("Authentication cancelled");
      co_return;
    case common::SaslResult::End::kMalformed:
      s.Bad("Response is not valid base64");
      co_return;
    case common::SaslResult::End::kLost:
      s.RequestClose();
      s.Bad("Authentication response too long or connection lost");
      co_return;
    case common::SaslResult::End::kTooManySteps:
      s.Bad("Too many authentication steps");
      co_return;
    case common::SaslResult::End::kBackendError:
      common::LogWarn("imap: authd SASL call failed",
                      {{"session", s.id()}, {"error", result.outcome.status.error_message()}});
      s.No("Authentication is temporarily unavailable", protocol::code::kUnavailable);
      co_return;
  }
  if (result.step.outcome() == SaslStep::OUTCOME_SUCCESS) {
    co_await Succeed(s, result.step);
    co_return;
  }
  Refuse(s, result.step);
}

}  // namespace tern::imap::server
