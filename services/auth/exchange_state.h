#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/credentials.h"

namespace tern::auth {

// What a multi-step SASL exchange must remember between steps. authd replicas keep no
// state: it travels sealed in SaslStep.exchange_state, and any replica continues it.
struct ExchangeState {
  std::string mechanism;   // "LOGIN", "SCRAM-SHA-256"
  std::string session_id;  // ConnectionInfo.session_id it is bound to
  absl::Time started;
  int step = 0;
  // LOGIN: the username once given. SCRAM: the client-first-message and server-first.
  std::vector<std::string> values;
};

// AES-256-GCM under a key derived from the token key ring (HMAC(secret,
// "tern-sasl-exchange-v1")), key id in clear, 96-bit random nonce:
//   len(key_id) key_id nonce ciphertext tag
std::string SealExchangeState(const ExchangeState& state, const common::KeyRing& keys);
// InvalidArgument when it does not open (tampered, unknown key, malformed).
absl::StatusOr<ExchangeState> OpenExchangeState(std::string_view sealed,
                                                const common::KeyRing& keys);

}  // namespace tern::auth
