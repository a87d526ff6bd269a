#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tern::auth {

// argon2id cost parameters (RFC 9106); the defaults follow its second recommended option.
struct Argon2Params {
  uint32_t time_cost = 3;
  uint32_t memory_kib = 64 * 1024;
  uint32_t parallelism = 1;
};

// At most `n` argon2id computations (hash or verify) run at once in this process; the
// others wait. Each takes Argon2Params.memory_kib, so this bounds authd's memory under a
// burst of logins (n x 64 MiB by default). Default 4; set once at start-up.
void SetArgon2Concurrency(int n);
// The most argon2id computations seen running at once since start-up.
int Argon2MaxConcurrentForTest();

// The PHC-format argon2id hash ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") of password
// with a fresh 16-byte random salt.
absl::StatusOr<std::string> HashPassword(std::string_view password, const Argon2Params& params);

// Whether password matches an encoded argon2id hash; the comparison is constant-time.
bool VerifyPassword(std::string_view password, const std::string& encoded);

// What SCRAM-SHA-256 needs to authenticate without the password (RFC 5802 section 3,
// RFC 7677): SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations),
// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
// "Server Key").
struct ScramCredentials {
  std::string salt;  // 16 random bytes
  uint32_t iterations = 0;
  std::string stored_key;  // 32 bytes
  std::string server_key;  // 32 bytes
};

absl::StatusOr<ScramCredentials> DeriveScramCredentials(std::string_view password,
                                                        uint32_t iterations);
// The same with a given salt (test vectors).
absl::StatusOr<ScramCredentials> DeriveScramCredentialsWithSalt(std::string_view password,
                                                                std::string_view salt,
                                                                uint32_t iterations);

// Normalizes a mail address for lookup: trims nothing, rejects what is not local@domain
// (no spaces or control characters, at most 254 octets), lowercases the domain and, when
// fold_local_part is set, the local part too.
absl::StatusOr<std::string> NormalizeAddress(std::string_view address, bool fold_local_part);

}  // namespace tern::auth
