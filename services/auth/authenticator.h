#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/auth/exchange_state.h"
#include "services/auth/oauth.h"
#include "services/auth/password.h"
#include "services/auth/throttle.h"
#include "services/auth/user_store.h"
#include "services/common/credentials.h"
#include "tern/auth/v1/auth.pb.h"

namespace tern::auth {

struct AuthenticatorOptions {
  common::KeyRing token_keys;  // signs session and deliver tokens, seals exchange state
  absl::Duration session_ttl = absl::Minutes(15);
  absl::Duration deliver_ttl = absl::Minutes(5);
  absl::Duration exchange_ttl = absl::Minutes(5);
  // Plaintext passwords (PLAIN, LOGIN, IMAP LOGIN, POP3 PASS) also without TLS from
  // non-loopback clients. Off by default (RFC 8314, RFC 3501 6.2.3 LOGINDISABLED).
  bool allow_plaintext = false;
  bool fold_local_part = true;
  char detail_separator = '+';
  uint32_t scram_iterations = 4096;
  // OAUTHBEARER (RFC 7628) is offered only when set.
  const JwtVerifier* oauth = nullptr;
};

// The authentication logic of tern-authd: SASL PLAIN, LOGIN and SCRAM-SHA-256, the
// password shortcut, tokens and recipient lookup. Authentication failures are SaslStep
// outcomes; a Status error means the request was malformed or a dependency failed.
class Authenticator {
 public:
  using Sleep = std::function<void(absl::Duration)>;

  Authenticator(UserStore& store, Throttle& throttle, AuthenticatorOptions options,
                Sleep sleep = nullptr);

  v1::ListMechanismsResponse ListMechanisms(const v1::ConnectionInfo& conn) const;
  absl::StatusOr<v1::SaslStep> Login(std::string_view username, std::string_view password,
                                     const v1::ConnectionInfo& conn);
  absl::StatusOr<v1::SaslStep> Start(std::string_view mechanism,
                                     const std::optional<std::string>& initial_response,
                                     const v1::ConnectionInfo& conn);
  absl::StatusOr<v1::SaslStep> Continue(std::string_view exchange_state, std::string_view response,
                                        bool cancel, const v1::ConnectionInfo& conn);
  // A new session for a valid SESSION token whose account still exists and is enabled.
  // Unauthenticated / PermissionDenied (disabled or not renewable) otherwise.
  absl::StatusOr<v1::Session> Renew(std::string_view token);
  absl::StatusOr<v1::LookupRecipientResponse> LookupRecipient(std::string_view address);

  bool PlaintextAllowed(const v1::ConnectionInfo& conn) const;

 private:
  absl::StatusOr<v1::SaslStep> VerifyPassword(std::string_view username, std::string_view password,
                                              const v1::ConnectionInfo& conn);
  absl::StatusOr<v1::SaslStep> ScramClientFirst(std::string_view message,
                                                const v1::ConnectionInfo& conn);
  absl::StatusOr<v1::SaslStep> OAuthBearer(std::string_view message,
                                           const v1::ConnectionInfo& conn);
  absl::StatusOr<v1::SaslStep> ScramClientFinal(const ExchangeState& state,
                                                std::string_view message,
                                                const v1::ConnectionInfo& conn);
  // The stored SCRAM keys, or for an unknown user deterministic fake ones (RFC 5802
  // section 5.1: the exchange then fails at the proof, as for a wrong password).
  absl::StatusOr<std::pair<ScramCredentials, std::optional<UserRecord>>> ScramKeys(
      const std::string& address);
  v1::SaslStep Failure(v1::SaslStep::FailureReason reason) const;
  v1::SaslStep Challenge(std::string challenge, const ExchangeState& state) const;
  v1::SaslStep Success(const UserRecord& user, const v1::ConnectionInfo& conn) const;
  v1::SaslStep FailAfterDelay(const std::string& address, const v1::ConnectionInfo& conn);
  v1::Session NewSession(const UserRecord& user, const std::string& session_id,
                         v1::Protocol protocol) const;

  UserStore& store_;
  Throttle& throttle_;
  AuthenticatorOptions options_;
  Sleep sleep_;
  std::string dummy_hash_;  // verified against for unknown users, so timing does not tell
};

}  // namespace tern::auth
