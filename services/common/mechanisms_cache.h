#pragma once

// authd's ListMechanisms answer per (TLS, loopback), kept for a minute by a front-end
// process: the answer depends on nothing else (auth.proto ListMechanisms), and asking
// authd at every greeting or CAPA would put a call on every connection.

#include <chrono>
#include <mutex>
#include <optional>

#include "tern/auth/v1/auth.pb.h"

namespace tern::common {

class MechanismsCache {
 public:
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
