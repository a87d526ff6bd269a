#pragma once

#include <string>

#include "services/auth/password.h"
#include "services/auth/user_store.h"
#include "tern/auth/v1/auth.grpc.pb.h"

namespace tern::auth {

struct AuthServiceOptions {
  std::string admin_token;  // empty: every admin RPC is refused
  Argon2Params argon2;
  uint32_t scram_iterations = 4096;
  bool fold_local_part = true;
};

// tern-authd's gRPC service. User administration is served here; the SASL exchanges, tokens
// and recipient lookup are not built yet and answer UNIMPLEMENTED (the generated base
// class's behaviour), never a made-up result.
class AuthServiceImpl final : public v1::AuthService::Service {
 public:
  AuthServiceImpl(UserStore& store, AuthServiceOptions options)
      : store_(store), options_(std::move(options)) {}

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

 private:
  // UNAUTHENTICATED without tern-admin-token, PERMISSION_DENIED when it is wrong.
  grpc::Status CheckAdmin(const grpc::ServerContext& ctx) const;
  absl::StatusOr<std::string> Normalize(const std::string& address) const;
  absl::Status CheckPassword(const std::string& password) const;

  UserStore& store_;
  AuthServiceOptions options_;
};

}  // namespace tern::auth
