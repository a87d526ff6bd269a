#pragma once

#include <string>

#include "services/auth/authenticator.h"
#include "services/auth/password.h"
#include "services/auth/user_store.h"
#include "services/common/redis_client.h"
#include "tern/auth/v1/auth.grpc.pb.h"

namespace tern::auth {

struct AuthServiceOptions {
  common::KeyRing token_keys;  // for VerifyToken
  std::string admin_token;     // empty: every admin RPC is refused
  Argon2Params argon2;
  uint32_t scram_iterations = 4096;
  bool fold_local_part = true;
  // The session registry (ListSessions, KickSessions); null: those RPCs are UNAVAILABLE.
  common::RedisClient* sessions_redis = nullptr;
};

// tern-authd's gRPC service: SASL exchanges, the password shortcut, tokens, recipient
// lookup and user administration. Validation and credentials here; the logic is in
// Authenticator.
class AuthServiceImpl final : public v1::AuthService::Service {
 public:
  AuthServiceImpl(UserStore& store, Authenticator& authenticator,
                  const common::CallerAuthenticator& callers, AuthServiceOptions options)
      : store_(store),
        authenticator_(authenticator),
        callers_(callers),
        options_(std::move(options)) {}

  grpc::Status ListMechanisms(grpc::ServerContext* ctx, const v1::ListMechanismsRequest* req,
                              v1::ListMechanismsResponse* resp) override;
  grpc::Status SaslStart(grpc::ServerContext* ctx, const v1::SaslStartRequest* req,
                         v1::SaslStep* resp) override;
  grpc::Status SaslContinue(grpc::ServerContext* ctx, const v1::SaslContinueRequest* req,
                            v1::SaslStep* resp) override;
  grpc::Status LoginPassword(grpc::ServerContext* ctx, const v1::LoginPasswordRequest* req,
                             v1::SaslStep* resp) override;
  grpc::Status RenewToken(grpc::ServerContext* ctx, const v1::RenewTokenRequest* req,
                          v1::RenewTokenResponse* resp) override;
  grpc::Status LookupRecipient(grpc::ServerContext* ctx, const v1::LookupRecipientRequest* req,
                               v1::LookupRecipientResponse* resp) override;
  grpc::Status VerifyToken(grpc::ServerContext* ctx, const v1::VerifyTokenRequest* req,
                           v1::VerifyTokenResponse* resp) override;

  grpc::Status CreateUser(grpc::ServerContext* ctx, const v1::CreateUserRequest* req,
                          v1::User* resp) override;
  grpc::Status DeleteUser(grpc::ServerContext* ctx, const v1::DeleteUserRequest* req,
                          v1::DeleteUserResponse* resp) override;
  grpc::Status SetPassword(grpc::ServerContext* ctx, const v1::SetPasswordRequest* req,
                           v1::SetPasswordResponse* resp) override;
  grpc::Status SetEnabled(grpc::ServerContext* ctx, const v1::SetEnabledRequest* req,
                          v1::User* resp) override;
  grpc::Status GetUser(grpc::ServerContext* ctx, const v1::GetUserRequest* req,
                       v1::User* resp) override;
  grpc::Status ListUsers(grpc::ServerContext* ctx, const v1::ListUsersRequest* req,
                         v1::ListUsersResponse* resp) override;
  grpc::Status ListSessions(grpc::ServerContext* ctx, const v1::ListSessionsRequest* req,
                            v1::ListSessionsResponse* resp) override;
  grpc::Status KickSessions(grpc::ServerContext* ctx, const v1::KickSessionsRequest* req,
                            v1::KickSessionsResponse* resp) override;

 private:
  // UNAUTHENTICATED without tern-admin-token, PERMISSION_DENIED when it is wrong.
  grpc::Status CheckAdmin(const grpc::ServerContext& ctx) const;
  absl::StatusOr<std::string> Normalize(const std::string& address) const;
  absl::Status CheckPassword(const std::string& password) const;

  // Service or admin credential (LookupRecipient, VerifyToken).
  grpc::Status CheckService(const grpc::ServerContext& ctx, bool admin_ok) const;

  UserStore& store_;
  Authenticator& authenticator_;
  const common::CallerAuthenticator& callers_;
  AuthServiceOptions options_;
};

}  // namespace tern::auth
