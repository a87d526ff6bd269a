#include "services/auth/authenticator.h"

#include <openssl/rand.h>

#include <thread>

#include "absl/strings/ascii.h"
#include "services/auth/scram.h"
#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::auth {
namespace {

using Step = v1::SaslStep;

constexpr char kPlain[] = "PLAIN";
constexpr char kLogin[] = "LOGIN";
constexpr char kScram[] = "SCRAM-SHA-256";
constexpr char kOAuth[] = "OAUTHBEARER";
constexpr size_t kMaxSaslMessage = 8192;

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  out->set_seconds(absl::ToUnixSeconds(t));
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

}  // namespace

Authenticator::Authenticator(UserStore& store, Throttle& throttle, AuthenticatorOptions options,
                             Sleep sleep)
    : store_(store),
      throttle_(throttle),
      options_(std::move(options)),
      sleep_(sleep ? std::move(sleep) : [](absl::Duration d) {
        std::this_thread::sleep_for(absl::ToChronoNanoseconds(d));
      }) {
  // Cheap parameters would make unknown users answer faster; use the real ones at start-up
  // by hashing a random password with the defaults.
  dummy_hash_ = HashPassword(RandomBytes(16), Argon2Params{}).value_or("");
}

bool Authenticator::PlaintextAllowed(const v1::ConnectionInfo& conn) const {
  return options_.allow_plaintext || conn.tls() || IsLoopback(conn.client_address());
}

v1::ListMechanismsResponse Authenticator::ListMechanisms(const v1::ConnectionInfo& conn) const {
  v1::ListMechanismsResponse out;
  out.add_mechanisms(kScram);
  if (PlaintextAllowed(conn)) {
    out.add_mechanisms(kPlain);
    out.add_mechanisms(kLogin);
    if (options_.oauth != nullptr) out.add_mechanisms(kOAuth);
  } else {
    // RFC 3501 6.2.3: advertise LOGINDISABLED where LOGIN is refused.
    out.set_login_disabled(true);
  }
  return out;
}

Step Authenticator::Failure(Step::FailureReason reason) const {
  Step step;
  step.set_outcome(Step::OUTCOME_FAILURE);
  step.set_failure_reason(reason);
  return step;
}

Step Authenticator::Challenge(std::string challenge, const ExchangeState& state) const {
  Step step;
  step.set_outcome(Step::OUTCOME_CONTINUE);
  step.set_challenge(std::move(challenge));
  step.set_exchange_state(SealExchangeState(state, options_.token_keys));
  return step;
}

v1::Session Authenticator::NewSession(const UserRecord& user, const std::string& session_id,
                                      v1::Protocol protocol) const {
  const absl::Time now = absl::Now();
  v1::TokenClaims claims;
  claims.set_user_id(user.id);
  claims.set_scope(v1::TOKEN_SCOPE_SESSION);
  SetTime(claims.mutable_issued_at(), now);
  SetTime(claims.mutable_expires_at(), now + options_.session_ttl);
  claims.set_token_id(RandomBytes(16));
  claims.set_session_id(session_id);
  claims.set_protocol(protocol);
  v1::Session session;
  session.set_token(common::SignSessionToken(claims, options_.token_keys));
  session.set_user_id(user.id);
  session.set_canonical_address(user.address);
  *session.mutable_expires_at() = claims.expires_at();
  if (user.quota_storage_bytes)
    session.mutable_quota()->set_storage_bytes(*user.quota_storage_bytes);
  if (user.quota_messages) session.mutable_quota()->set_messages(*user.quota_messages);
  return session;
}

Step Authenticator::Success(const UserRecord& user, const v1::ConnectionInfo& conn) const {
  Step step;
  step.set_outcome(Step::OUTCOME_SUCCESS);
  *step.mutable_session() = NewSession(user, conn.session_id(), conn.protocol());
  common::LogInfo(
      "authenticated",
      {{"user_id", user.id}, {"client", conn.client_address()}, {"session", conn.session_id()}});
  return step;
}

Step Authenticator::FailAfterDelay(const std::string& address, const v1::ConnectionInfo& conn) {
  const absl::Duration delay = throttle_.RecordFailure(address, IpOf(conn.client_address()));
  common::LogInfo("authentication failed",
                  {{"client", conn.client_address()}, {"session", conn.session_id()}});
  sleep_(delay);
  return Failure(Step::FAILURE_REASON_AUTH_FAILED);
}

absl::StatusOr<Step> Authenticator::VerifyPassword(std::string_view username,
                                                   std::string_view password,
                                                   const v1::ConnectionInfo& conn) {
  absl::StatusOr<std::string> address = NormalizeAddress(username, options_.fold_local_part);
  // Throttle even unparsable names (keyed as given), and answer them like wrong passwords.
  const std::string key = address.ok() ? *address : std::string(username.substr(0, 254));
  if (std::optional<absl::Duration> wait = throttle_.LockedOut(key, IpOf(conn.client_address()))) {
    Step step = Failure(Step::FAILURE_REASON_TEMPORARY_LOCKOUT);
    step.mutable_retry_after()->set_seconds(absl::ToInt64Seconds(*wait) + 1);
    return step;
  }
  std::optional<UserCredentials> creds;
  if (address.ok()) {
    absl::StatusOr<UserCredentials> found = store_.GetCredentials(*address);
    if (found.ok()) {
      creds = *std::move(found);
    } else if (found.status().code() != absl::StatusCode::kNotFound) {
      return found.status();
    }
  }
  // The same work and the same answer whether or not the user exists.
  bool ok = false;
  if (creds.has_value()) {
    ok = auth::VerifyPassword(password, creds->password_hash);
  } else {
    auth::VerifyPassword(password, dummy_hash_);
  }
  if (!ok) return FailAfterDelay(key, conn);
  if (!creds->user.enabled) return Failure(Step::FAILURE_REASON_ACCOUNT_DISABLED);
  throttle_.RecordSuccess(key);
  return Success(creds->user, conn);
}

absl::StatusOr<Step> Authenticator::Login(std::string_view username, std::string_view password,
                                          const v1::ConnectionInfo& conn) {
  if (!PlaintextAllowed(conn)) return Failure(Step::FAILURE_REASON_ENCRYPTION_REQUIRED);
  return VerifyPassword(username, password, conn);
}

absl::StatusOr<Step> Authenticator::Start(std::string_view mechanism,
                                          const std::optional<std::string>& initial,
                                          const v1::ConnectionInfo& conn) {
  const std::string mech = absl::AsciiStrToUpper(std::string(mechanism));
  if (mech.empty()) return absl::InvalidArgumentError("empty mechanism");
  if (initial.has_value() && initial->size() > kMaxSaslMessage) {
    return Failure(Step::FAILURE_REASON_MALFORMED);
  }
  ExchangeState state{mech, conn.session_id(), absl::Now(), 0, {}};
  if (mech == kPlain || mech == kLogin) {
    if (!PlaintextAllowed(conn)) return Failure(Step::FAILURE_REASON_ENCRYPTION_REQUIRED);
    if (!initial.has_value()) {
      // RFC 4616: PLAIN starts with an empty challenge; LOGIN asks for the username.
      return Challenge(mech == kPlain ? "" : "Username:", state);
    }
    if (mech == kLogin) {
      state.step = 1;
      state.values.push_back(*initial);
      return Challenge("Password:", state);
    }
    return Continue(SealExchangeState(state, options_.token_keys), *initial, false, conn);
  }
  if (mech == kScram) {
    if (!initial.has_value()) return Challenge("", state);
    return ScramClientFirst(*initial, conn);
  }
  if (mech == kOAuth && options_.oauth != nullptr) {
    // A bearer token is as good as a password on the wire.
    if (!PlaintextAllowed(conn)) return Failure(Step::FAILURE_REASON_ENCRYPTION_REQUIRED);
    if (!initial.has_value()) return Challenge("", state);
    return OAuthBearer(*initial, conn);
  }
  return Failure(Step::FAILURE_REASON_MECHANISM_UNSUPPORTED);
}

absl::StatusOr<Step> Authenticator::Continue(std::string_view sealed, std::string_view response,
                                             bool cancel, const v1::ConnectionInfo& conn) {
  absl::StatusOr<ExchangeState> state = OpenExchangeState(sealed, options_.token_keys);
  if (!state.ok()) return state.status();
  if (state->session_id != conn.session_id()) {
    return absl::InvalidArgumentError("exchange_state belongs to another session");
  }
  if (cancel || absl::Now() - state->started > options_.exchange_ttl) {
    return Failure(Step::FAILURE_REASON_ABORTED);
  }
  if (response.size() > kMaxSaslMessage) return Failure(Step::FAILURE_REASON_MALFORMED);
  if (state->mechanism == kPlain) {
    // RFC 4616 section 2: [authzid] NUL authcid NUL passwd.
    const size_t first = response.find('\0');
    const size_t second = first == std::string_view::npos ? first : response.find('\0', first + 1);
    if (second == std::string_view::npos) return Failure(Step::FAILURE_REASON_MALFORMED);
    const std::string_view authzid = response.substr(0, first);
    const std::string_view authcid = response.substr(first + 1, second - first - 1);
    const std::string_view password = response.substr(second + 1);
    if (authcid.empty() || password.find('\0') != std::string_view::npos) {
      return Failure(Step::FAILURE_REASON_MALFORMED);
    }
    // Acting as another user (proxy authorization) is not offered.
    if (!authzid.empty() && NormalizeAddress(authzid, options_.fold_local_part).value_or("") !=
                                NormalizeAddress(authcid, options_.fold_local_part).value_or("-")) {
      return FailAfterDelay(std::string(authcid), conn);
    }
    return VerifyPassword(authcid, password, conn);
  }
  if (state->mechanism == kLogin) {
    if (state->step == 0) {
      state->step = 1;
      state->values = {std::string(response)};
      return Challenge("Password:", *state);
    }
    if (state->values.size() != 1) return absl::InvalidArgumentError("bad LOGIN state");
    return VerifyPassword(state->values[0], response, conn);
  }
  if (state->mechanism == kScram) {
    if (state->step == 0) return ScramClientFirst(response, conn);
    return ScramClientFinal(*state, response, conn);
  }
  if (state->mechanism == kOAuth && options_.oauth != nullptr) return OAuthBearer(response, conn);
  return absl::InvalidArgumentError("exchange_state names no known mechanism");
}

absl::StatusOr<std::pair<ScramCredentials, std::optional<UserRecord>>> Authenticator::ScramKeys(
    const std::string& address) {
  absl::StatusOr<UserCredentials> found = store_.GetCredentials(address);
  if (found.ok()) return std::make_pair(found->scram, std::optional<UserRecord>(found->user));
  if (found.status().code() != absl::StatusCode::kNotFound) return found.status();
  const std::string& secret = *options_.token_keys.Find(options_.token_keys.signing_key_id());
  ScramCredentials fake;
  fake.salt = common::HmacSha256(secret, Cat("scram-fake-salt:", address)).substr(0, 16);
  fake.iterations = options_.scram_iterations;
  fake.stored_key = RandomBytes(32);
  fake.server_key = RandomBytes(32);
  return std::make_pair(fake, std::optional<UserRecord>());
}

absl::StatusOr<Step> Authenticator::ScramClientFirst(std::string_view message,
                                                     const v1::ConnectionInfo& conn) {
  absl::StatusOr<ClientFirst> first = ParseClientFirst(message);
  if (!first.ok()) return Failure(Step::FAILURE_REASON_MALFORMED);
  absl::StatusOr<std::string> address = NormalizeAddress(first->username, options_.fold_local_part);
  const std::string key = address.ok() ? *address : first->username.substr(0, 254);
  if (std::optional<absl::Duration> wait = throttle_.LockedOut(key, IpOf(conn.client_address()))) {
    Step step = Failure(Step::FAILURE_REASON_TEMPORARY_LOCKOUT);
    step.mutable_retry_after()->set_seconds(absl::ToInt64Seconds(*wait) + 1);
    return step;
  }
  if (!first->authzid.empty() &&
      NormalizeAddress(first->authzid, options_.fold_local_part).value_or("") != key) {
    return FailAfterDelay(key, conn);
  }
  auto keys = ScramKeys(key);
  if (!keys.ok()) return keys.status();
  const std::string server_nonce = common::Base64UrlEncode(RandomBytes(18));
  const std::string server_first = ServerFirst(*first, server_nonce, keys->first);
  ExchangeState state{
      kScram, conn.session_id(), absl::Now(), 1, {std::string(message), server_first, key}};
  return Challenge(server_first, state);
}

absl::StatusOr<Step> Authenticator::OAuthBearer(std::string_view message,
                                                const v1::ConnectionInfo& conn) {
  absl::StatusOr<OAuthBearerMessage> parsed = ParseOAuthBearer(message);
  if (!parsed.ok()) return Failure(Step::FAILURE_REASON_MALFORMED);
  const auto failed = [&](const std::string& key) {
    Step step = FailAfterDelay(key, conn);
    // RFC 7628 3.2.2: the error travels as a final challenge before the failure.
    step.set_failure_challenge(OAuthErrorChallenge(options_.oauth->options()));
    return step;
  };
  const std::string ip_key = Cat("oauth:", IpOf(conn.client_address()));
  if (std::optional<absl::Duration> wait =
          throttle_.LockedOut(ip_key, IpOf(conn.client_address()))) {
    Step step = Failure(Step::FAILURE_REASON_TEMPORARY_LOCKOUT);
    step.mutable_retry_after()->set_seconds(absl::ToInt64Seconds(*wait) + 1);
    return step;
  }
  absl::StatusOr<std::string> claimed = options_.oauth->Verify(parsed->token, absl::Now());
  if (!claimed.ok()) {
    common::LogInfo("bearer token refused", {{"reason", std::string(claimed.status().message())},
                                             {"client", conn.client_address()}});
    return failed(ip_key);
  }
  absl::StatusOr<std::string> address = NormalizeAddress(*claimed, options_.fold_local_part);
  if (!address.ok()) return failed(ip_key);
  if (!parsed->authzid.empty() &&
      NormalizeAddress(parsed->authzid, options_.fold_local_part).value_or("") != *address) {
    return failed(*address);
  }
  absl::StatusOr<UserRecord> user = store_.Get(*address);
  if (user.status().code() == absl::StatusCode::kNotFound) return failed(*address);
  if (!user.ok()) return user.status();
  if (!user->enabled) return Failure(Step::FAILURE_REASON_ACCOUNT_DISABLED);
  return Success(*user, conn);
}

absl::StatusOr<Step> Authenticator::ScramClientFinal(const ExchangeState& state,
                                                     std::string_view message,
                                                     const v1::ConnectionInfo& conn) {
  if (state.values.size() != 3) return absl::InvalidArgumentError("bad SCRAM state");
  absl::StatusOr<ClientFirst> first = ParseClientFirst(state.values[0]);
  if (!first.ok()) return absl::InvalidArgumentError("bad SCRAM state");
  const std::string& address = state.values[2];
  auto keys = ScramKeys(address);
  if (!keys.ok()) return keys.status();
  absl::StatusOr<std::string> server_final =
      VerifyClientFinal(message, *first, state.values[1], keys->first);
  if (server_final.status().code() == absl::StatusCode::kInvalidArgument) {
    return Failure(Step::FAILURE_REASON_MALFORMED);
  }
  if (!server_final.ok() || !keys->second.has_value()) return FailAfterDelay(address, conn);
  if (!keys->second->enabled) return Failure(Step::FAILURE_REASON_ACCOUNT_DISABLED);
  throttle_.RecordSuccess(address);
  Step step = Success(*keys->second, conn);
  step.set_server_final(*server_final);
  return step;
}

absl::StatusOr<v1::Session> Authenticator::Renew(std::string_view token) {
  absl::StatusOr<v1::TokenClaims> claims =
      common::VerifySessionToken(token, options_.token_keys, absl::Now());
  if (!claims.ok()) return claims.status();
  if (claims->scope() != v1::TOKEN_SCOPE_SESSION) {
    return absl::PermissionDeniedError("only session tokens are renewable");
  }
  absl::StatusOr<UserRecord> user = store_.GetById(claims->user_id());
  if (user.status().code() == absl::StatusCode::kNotFound) {
    return absl::UnauthenticatedError("the user no longer exists");
  }
  if (!user.ok()) return user.status();
  if (!user->enabled) return absl::PermissionDeniedError("account disabled");
  return NewSession(*user, claims->session_id(), claims->protocol());
}

absl::StatusOr<v1::LookupRecipientResponse> Authenticator::LookupRecipient(
    std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return absl::InvalidArgumentError("address without domain");
  std::string local(address.substr(0, at));
  std::string detail;
  if (const size_t sep = local.find(options_.detail_separator); sep != std::string::npos) {
    detail = local.substr(sep + 1);
    local.resize(sep);
  }
  absl::StatusOr<std::string> canonical =
      NormalizeAddress(Cat(local, address.substr(at)), options_.fold_local_part);
  if (!canonical.ok()) return canonical.status();
  absl::StatusOr<UserRecord> user = store_.Get(*canonical);
  if (!user.ok()) return user.status();
  v1::LookupRecipientResponse out;
  out.set_user_id(user->id);
  out.set_canonical_address(user->address);
  out.set_detail(detail);
  out.set_enabled(user->enabled);
  if (user->enabled) {
    const absl::Time now = absl::Now();
    v1::TokenClaims claims;
    claims.set_user_id(user->id);
    claims.set_scope(v1::TOKEN_SCOPE_DELIVER);
    SetTime(claims.mutable_issued_at(), now);
    SetTime(claims.mutable_expires_at(), now + options_.deliver_ttl);
    claims.set_token_id(RandomBytes(16));
    out.set_deliver_token(common::SignSessionToken(claims, options_.token_keys));
    *out.mutable_deliver_token_expires_at() = claims.expires_at();
  }
  return out;
}

}  // namespace tern::auth
