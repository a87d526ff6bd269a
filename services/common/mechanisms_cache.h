#pragma once

// authd's ListMechanisms answer per (TLS, loopback), kept for a minute by a front-end
// process: the answer depends on nothing else (auth.proto ListMechanisms), and asking
// authd at every greeting or CAPA would put a call on every connection.

#include <asio.hpp>
#include <chrono>
#include <mutex>
#include <optional>

#include "services/common/async_grpc.h"
#include "tern/auth/v1/auth.grpc.pb.h"

namespace tern::common {

class MechanismsCache {
 public:
  // The cached answer for this connection, or authd's (then cached); nullopt when authd
  // cannot be reached.
  asio::awaitable<std::optional<auth::v1::ListMechanismsResponse>> Lookup(
      auth::v1::AuthService::Stub& auth, const auth::v1::ConnectionInfo& connection,
      CallPolicy policy, bool loopback);

  std::optional<auth::v1::ListMechanismsResponse> Get(bool tls, bool loopback);
  void Put(bool tls, bool loopback, const auth::v1::ListMechanismsResponse& response);

 private:
  struct Entry {
    auth::v1::ListMechanismsResponse response;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mu_;
  std::optional<Entry> entries_[4];
};

}  // namespace tern::common
