#include "services/auth/auth_service.h"

#include "services/common/session_registry.h"

#include <openssl/crypto.h>

#include "absl/strings/numbers.h"
#include "services/common/grpc_client.h"
#include "services/common/grpc_status.h"
#include "services/common/log.h"
#include "services/common/session_registry.h"
#include "services/common/strings.h"

namespace tern::auth {
namespace {

constexpr size_t kMaxPasswordBytes = 1024;

void ToProto(const UserRecord& u, v1::User* out) {
  out->set_user_id(u.id);
  out->set_address(u.address);
  out->set_enabled(u.enabled);
  out->mutable_created_at()->set_seconds(absl::ToUnixSeconds(u.created_at));
  out->mutable_password_changed_at()->set_seconds(absl::ToUnixSeconds(u.password_changed_at));
  if (u.quota_storage_bytes) out->mutable_quota()->set_storage_bytes(*u.quota_storage_bytes);
  if (u.quota_messages) out->mutable_quota()->set_messages(*u.quota_messages);
}

}  // namespace

using common::ToGrpc;

grpc::Status Reason(grpc::ServerContext* ctx, grpc::StatusCode code, v1::ErrorReason reason,
                    std::string message) {
  ctx->AddTrailingMetadata("tern-error-reason", v1::ErrorReason_Name(reason));
  return {code, std::move(message)};
}

grpc::Status AuthServiceImpl::CheckService(const grpc::ServerContext& ctx, bool admin_ok) const {
  absl::StatusOr<common::Caller> caller = callers_.Authenticate(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (caller->kind == common::Caller::Kind::kService ||
      (admin_ok && caller->kind == common::Caller::Kind::kAdmin)) {
    return grpc::Status::OK;
  }
  return {grpc::StatusCode::PERMISSION_DENIED, "needs the service credential"};
}

grpc::Status AuthServiceImpl::ListMechanisms(grpc::ServerContext*,
                                             const v1::ListMechanismsRequest* req,
                                             v1::ListMechanismsResponse* resp) {
  if (!req->has_connection()) return {grpc::StatusCode::INVALID_ARGUMENT, "connection missing"};
  *resp = authenticator_.ListMechanisms(req->connection());
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::SaslStart(grpc::ServerContext*, const v1::SaslStartRequest* req,
                                        v1::SaslStep* resp) {
  if (!req->has_connection()) return {grpc::StatusCode::INVALID_ARGUMENT, "connection missing"};
  std::optional<std::string> initial;
  if (req->has_initial_response()) initial = req->initial_response();
  absl::StatusOr<v1::SaslStep> step =
      authenticator_.Start(req->mechanism(), initial, req->connection());
  if (!step.ok()) return ToGrpc(step.status());
  *resp = *std::move(step);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::SaslContinue(grpc::ServerContext* ctx,
                                           const v1::SaslContinueRequest* req, v1::SaslStep* resp) {
  if (!req->has_connection()) return {grpc::StatusCode::INVALID_ARGUMENT, "connection missing"};
  absl::StatusOr<v1::SaslStep> step = authenticator_.Continue(
      req->exchange_state(), req->client_response(), req->cancel(), req->connection());
  if (step.status().code() == absl::StatusCode::kInvalidArgument) {
    return Reason(ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_REASON_BAD_EXCHANGE_STATE,
                  std::string(step.status().message()));
  }
  if (!step.ok()) return ToGrpc(step.status());
  *resp = *std::move(step);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::LoginPassword(grpc::ServerContext*,
                                            const v1::LoginPasswordRequest* req,
                                            v1::SaslStep* resp) {
  if (!req->has_connection()) return {grpc::StatusCode::INVALID_ARGUMENT, "connection missing"};
  absl::StatusOr<v1::SaslStep> step =
      authenticator_.Login(req->username(), req->password(), req->connection());
  if (!step.ok()) return ToGrpc(step.status());
  *resp = *std::move(step);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::RenewToken(grpc::ServerContext* ctx, const v1::RenewTokenRequest*,
                                         v1::RenewTokenResponse* resp) {
  const std::string token = common::MetadataOf(*ctx, common::kSessionTokenKey);
  if (token.empty()) return {grpc::StatusCode::UNAUTHENTICATED, "no session token"};
  absl::StatusOr<v1::Session> session = authenticator_.Renew(token);
  if (session.status().code() == absl::StatusCode::kPermissionDenied &&
      session.status().message() == "account disabled") {
    return Reason(ctx, grpc::StatusCode::PERMISSION_DENIED, v1::ERROR_REASON_ACCOUNT_DISABLED,
                  "account disabled");
  }
  if (!session.ok()) return ToGrpc(session.status());
  *resp->mutable_session() = *std::move(session);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::LookupRecipient(grpc::ServerContext* ctx,
                                              const v1::LookupRecipientRequest* req,
                                              v1::LookupRecipientResponse* resp) {
  if (grpc::Status s = CheckService(*ctx, /*admin_ok=*/false); !s.ok()) return s;
  absl::StatusOr<v1::LookupRecipientResponse> found =
      authenticator_.LookupRecipient(req->address());
  if (found.status().code() == absl::StatusCode::kNotFound) {
    return Reason(ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_REASON_UNKNOWN_RECIPIENT,
                  "no such recipient");
  }
  if (!found.ok()) return ToGrpc(found.status());
  *resp = *std::move(found);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::VerifyToken(grpc::ServerContext* ctx,
                                          const v1::VerifyTokenRequest* req,
                                          v1::VerifyTokenResponse* resp) {
  if (grpc::Status s = CheckService(*ctx, /*admin_ok=*/true); !s.ok()) return s;
  if (req->token().empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "empty token"};
  common::TokenCheck check =
      common::CheckSessionToken(req->token(), options_.token_keys, absl::Now());
  if (check.claims.has_value()) *resp->mutable_claims() = *check.claims;
  resp->set_valid(check.reason == common::TokenCheck::Reason::kValid);
  switch (check.reason) {
    case common::TokenCheck::Reason::kValid:
      break;
    case common::TokenCheck::Reason::kMalformed:
      resp->set_invalid_reason(v1::VerifyTokenResponse::INVALID_REASON_MALFORMED);
      break;
    case common::TokenCheck::Reason::kUnknownKey:
      resp->set_invalid_reason(v1::VerifyTokenResponse::INVALID_REASON_UNKNOWN_KEY);
      break;
    case common::TokenCheck::Reason::kBadSignature:
      resp->set_invalid_reason(v1::VerifyTokenResponse::INVALID_REASON_BAD_SIGNATURE);
      break;
    case common::TokenCheck::Reason::kExpired:
      resp->set_invalid_reason(v1::VerifyTokenResponse::INVALID_REASON_EXPIRED);
      break;
  }
  if (resp->valid()) {
    absl::StatusOr<UserRecord> user = store_.GetById(check.claims->user_id());
    if (!user.ok() && user.status().code() != absl::StatusCode::kNotFound) {
      return ToGrpc(user.status());
    }
    resp->set_account_enabled(user.ok() && user->enabled);
  }
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::CheckAdmin(const grpc::ServerContext& ctx) const {
  const std::string presented = common::MetadataOf(ctx, common::kAdminTokenKey);
  if (presented.empty()) {
    return {grpc::StatusCode::UNAUTHENTICATED, "admin RPC needs tern-admin-token"};
  }
  const std::string& expected = options_.admin_token;
  if (expected.empty() || presented.size() != expected.size() ||
      CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) != 0) {
    return {grpc::StatusCode::PERMISSION_DENIED, "admin token refused"};
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::string> AuthServiceImpl::Normalize(const std::string& address) const {
  return NormalizeAddress(address, options_.fold_local_part);
}

absl::Status AuthServiceImpl::CheckPassword(const std::string& password) const {
  if (password.empty()) return absl::InvalidArgumentError("password must not be empty");
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError("password longer than 1024 octets");
  }
  return absl::OkStatus();
}

grpc::Status AuthServiceImpl::CreateUser(grpc::ServerContext* ctx, const v1::CreateUserRequest* req,
                                         v1::User* resp) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  absl::StatusOr<std::string> address = Normalize(req->address());
  if (!address.ok()) return ToGrpc(address.status());
  if (absl::Status s = CheckPassword(req->password()); !s.ok()) return ToGrpc(s);
  NewUser user;
  user.address = *address;
  user.enabled = req->enabled();
  if (req->has_quota()) {
    if (req->quota().has_storage_bytes()) user.quota_storage_bytes = req->quota().storage_bytes();
    if (req->quota().has_messages()) user.quota_messages = req->quota().messages();
  }
  absl::StatusOr<std::string> hash = HashPassword(req->password(), options_.argon2);
  if (!hash.ok()) return ToGrpc(hash.status());
  user.password_hash = *std::move(hash);
  absl::StatusOr<ScramCredentials> scram =
      DeriveScramCredentials(req->password(), options_.scram_iterations);
  if (!scram.ok()) return ToGrpc(scram.status());
  user.scram = *std::move(scram);
  absl::StatusOr<UserRecord> created = store_.Create(user);
  if (!created.ok()) return ToGrpc(created.status());
  common::LogInfo("user created", {{"user_id", created->id}, {"address", created->address}});
  ToProto(*created, resp);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::DeleteUser(grpc::ServerContext* ctx, const v1::DeleteUserRequest* req,
                                         v1::DeleteUserResponse*) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  absl::StatusOr<std::string> address = Normalize(req->address());
  if (!address.ok()) return ToGrpc(address.status());
  if (absl::Status s = store_.Delete(*address); !s.ok()) return ToGrpc(s);
  common::LogInfo("user deleted", {{"address", *address}});
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::SetPassword(grpc::ServerContext* ctx,
                                          const v1::SetPasswordRequest* req,
                                          v1::SetPasswordResponse*) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  absl::StatusOr<std::string> address = Normalize(req->address());
  if (!address.ok()) return ToGrpc(address.status());
  if (absl::Status s = CheckPassword(req->new_password()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<std::string> hash = HashPassword(req->new_password(), options_.argon2);
  if (!hash.ok()) return ToGrpc(hash.status());
  absl::StatusOr<ScramCredentials> scram =
      DeriveScramCredentials(req->new_password(), options_.scram_iterations);
  if (!scram.ok()) return ToGrpc(scram.status());
  if (absl::Status s = store_.SetPassword(*address, *hash, *scram); !s.ok()) return ToGrpc(s);
  common::LogInfo("password changed", {{"address", *address}});
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::SetEnabled(grpc::ServerContext* ctx, const v1::SetEnabledRequest* req,
                                         v1::User* resp) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  absl::StatusOr<std::string> address = Normalize(req->address());
  if (!address.ok()) return ToGrpc(address.status());
  absl::StatusOr<UserRecord> user = store_.SetEnabled(*address, req->enabled());
  if (!user.ok()) return ToGrpc(user.status());
  ToProto(*user, resp);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::GetUser(grpc::ServerContext* ctx, const v1::GetUserRequest* req,
                                      v1::User* resp) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  absl::StatusOr<std::string> address = Normalize(req->address());
  if (!address.ok()) return ToGrpc(address.status());
  absl::StatusOr<UserRecord> user = store_.Get(*address);
  if (!user.ok()) return ToGrpc(user.status());
  ToProto(*user, resp);
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::ListUsers(grpc::ServerContext* ctx, const v1::ListUsersRequest* req,
                                        v1::ListUsersResponse* resp) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  int limit = req->page_size() == 0 ? 100 : static_cast<int>(std::min(req->page_size(), 1000u));
  uint64_t after = 0;
  if (!req->page_token().empty() && !absl::SimpleAtoi(req->page_token(), &after)) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "bad page_token"};
  }
  const std::string domain = req->has_domain() ? req->domain() : "";
  // One more than asked says whether another page follows.
  absl::StatusOr<std::vector<UserRecord>> users = store_.List(after, limit + 1, domain);
  if (!users.ok()) return ToGrpc(users.status());
  const bool more = static_cast<int>(users->size()) > limit;
  if (more) users->pop_back();
  for (const UserRecord& u : *users) ToProto(u, resp->add_users());
  if (more && !users->empty()) resp->set_next_page_token(std::to_string(users->back().id));
  return grpc::Status::OK;
}

namespace {

void ToProto(const common::RegisteredSession& s, v1::SessionInfo* out) {
  out->set_session_id(s.id);
  out->set_user(s.user);
  out->set_protocol(s.protocol);
  out->set_instance(s.instance);
  out->set_client(s.client);
  out->mutable_started()->set_seconds(s.started_ms / 1000);
  out->mutable_started()->set_nanos(static_cast<int32_t>((s.started_ms % 1000) * 1000000));
  out->set_metad(s.metad);
}

// Sessions listed at most per call (a cluster's worth; ternctl filters by user for more).
constexpr size_t kMaxListed = 100000;

}  // namespace

grpc::Status AuthServiceImpl::ListSessions(grpc::ServerContext* ctx,
                                           const v1::ListSessionsRequest* req,
                                           v1::ListSessionsResponse* resp) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  if (options_.sessions_redis == nullptr) {
    return {grpc::StatusCode::UNAVAILABLE, "no Redis configured for the session registry"};
  }
  std::string user;
  if (req->has_user()) {
    absl::StatusOr<std::string> address = Normalize(req->user());
    if (!address.ok()) return ToGrpc(address.status());
    user = *address;
  }
  absl::StatusOr<std::vector<common::RegisteredSession>> sessions =
      common::ListSessions(*options_.sessions_redis, user, kMaxListed);
  if (!sessions.ok()) return ToGrpc(sessions.status());
  for (const common::RegisteredSession& s : *sessions) ToProto(s, resp->add_sessions());
  return grpc::Status::OK;
}

grpc::Status AuthServiceImpl::KickSessions(grpc::ServerContext* ctx,
                                           const v1::KickSessionsRequest* req,
                                           v1::KickSessionsResponse* resp) {
  if (grpc::Status s = CheckAdmin(*ctx); !s.ok()) return s;
  if (options_.sessions_redis == nullptr) {
    return {grpc::StatusCode::UNAVAILABLE, "no Redis configured for the session registry"};
  }
  absl::StatusOr<std::string> address = Normalize(req->user());
  if (!address.ok()) return ToGrpc(address.status());
  absl::StatusOr<std::vector<common::RegisteredSession>> kicked =
      common::KickSessions(*options_.sessions_redis, *address);
  if (!kicked.ok()) return ToGrpc(kicked.status());
  for (const common::RegisteredSession& s : *kicked) ToProto(s, resp->add_sessions());
  common::LogInfo("sessions kicked", {{"user", *address}, {"sessions", kicked->size()}});
  return grpc::Status::OK;
}

}  // namespace tern::auth
