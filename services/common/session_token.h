#pragma once

// The session token a front-end holds for a logged-in client (auth.proto Session): sent
// with every metad/blobd call and renewed through authd at half its lifetime, so that a
// quiet session never holds an expired token (authd refuses to renew one).

#include <asio.hpp>
#include <chrono>
#include <string>

#include "absl/time/time.h"
#include "services/common/async_grpc.h"
#include "tern/auth/v1/auth.grpc.pb.h"

namespace tern::common {

class SessionToken {
 public:
  void Set(const auth::v1::Session& session);
  const std::string& token() const { return token_; }
  bool empty() const { return token_.empty(); }

  // Time until the token should be renewed; a long wait for the client wakes up for it.
  std::chrono::steady_clock::duration RenewIn() const;

  enum class Renewal {
    kValid,    // not due, or renewed
    kExpired,  // authd refused (user disabled or deleted) or the token ran out: log out
  };
  // Renews the token when half its lifetime has passed. A transient authd failure keeps
  // the current token while it is still valid (kValid).
  asio::awaitable<Renewal> RenewIfDue(auth::v1::AuthService::Stub& auth, CallPolicy policy,
                                      const std::string& request_id);

 private:
  std::string token_;
  absl::Time expires_;
  absl::Duration lifetime_;
};

}  // namespace tern::common
