#include "services/auth/password.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "services/common/strings.h"

namespace tern::auth {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return out;
}

std::string Hmac256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// A counting semaphore whose size is set at start-up.
class Gate {
 public:
  void Resize(int n) {
    std::lock_guard lock(mu_);
    capacity_ = std::max(1, n);
  }
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return in_use_ < capacity_; });
    ++in_use_;
    max_seen_ = std::max(max_seen_, in_use_);
  }
  int max_seen() {
    std::lock_guard lock(mu_);
    return max_seen_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      --in_use_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int capacity_ = 4;
  int in_use_ = 0;
  int max_seen_ = 0;
};

Gate& Argon2Gate() {
  static Gate* gate = new Gate();
  return *gate;
}

struct GateHold {
  GateHold() { Argon2Gate().Acquire(); }
  ~GateHold() { Argon2Gate().Release(); }
};

}  // namespace

void SetArgon2Concurrency(int n) { Argon2Gate().Resize(n); }
int Argon2MaxConcurrentForTest() { return Argon2Gate().max_seen(); }

absl::StatusOr<std::string> HashPassword(std::string_view password, const Argon2Params& params) {
  absl::StatusOr<std::string> salt = RandomBytes(kSaltBytes);
  if (!salt.ok()) return salt.status();
  const size_t encoded_len = argon2_encodedlen(
      params.time_cost, params.memory_kib, params.parallelism, kSaltBytes, kHashBytes, Argon2_id);
  std::vector<char> encoded(encoded_len);
  GateHold hold;
  const int rc = argon2id_hash_encoded(params.time_cost, params.memory_kib, params.parallelism,
                                       password.data(), password.size(), salt->data(), salt->size(),
                                       kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return absl::InternalError(Cat("argon2id: ", argon2_error_message(rc)));
  }
  return std::string(encoded.data());
}

bool VerifyPassword(std::string_view password, const std::string& encoded) {
  // argon2_verify recomputes the hash and compares in constant time.
  GateHold hold;
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

absl::StatusOr<ScramCredentials> DeriveScramCredentialsWithSalt(std::string_view password,
                                                                std::string_view salt,
                                                                uint32_t iterations) {
  if (iterations < 4096) {
    // RFC 7677 section 4: the iteration count SHOULD be at least 4096.
    return absl::InvalidArgumentError("SCRAM iteration count below 4096");
  }
  unsigned char salted[SHA256_DIGEST_LENGTH];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        sizeof(salted), salted) != 1) {
    return absl::InternalError("PBKDF2 failed");
  }
  const std::string_view salted_password(reinterpret_cast<char*>(salted), sizeof(salted));
  const std::string client_key = Hmac256(salted_password, "Client Key");
  unsigned char stored[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(), stored);
  ScramCredentials out;
  out.salt = std::string(salt);
  out.iterations = iterations;
  out.stored_key = std::string(reinterpret_cast<char*>(stored), sizeof(stored));
  out.server_key = Hmac256(salted_password, "Server Key");
  OPENSSL_cleanse(salted, sizeof(salted));
  return out;
}

absl::StatusOr<ScramCredentials> DeriveScramCredentials(std::string_view password,
                                                        uint32_t iterations) {
  absl::StatusOr<std::string> salt = RandomBytes(kSaltBytes);
  if (!salt.ok()) return salt.status();
  return DeriveScramCredentialsWithSalt(password, *salt, iterations);
}

absl::StatusOr<std::string> NormalizeAddress(std::string_view address, bool fold_local_part) {
  if (address.empty() || address.size() > 254) {
    return absl::InvalidArgumentError("address must be 1 to 254 octets");
  }
  for (char c : address) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '<' || c == '>' || c == '"' || c == '\\' || c == ',') {
      return absl::InvalidArgumentError("address contains a character that is not allowed");
    }
  }
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return absl::InvalidArgumentError("address must be local-part@domain");
  }
  std::string local(address.substr(0, at));
  std::string domain(address.substr(at + 1));
  if (local.size() > 64) return absl::InvalidArgumentError("local part over 64 octets");
  if (local.find('@') != std::string::npos) {
    return absl::InvalidArgumentError("address has more than one '@'");
  }
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string::npos) {
    return absl::InvalidArgumentError("malformed domain");
  }
  absl::AsciiStrToLower(&domain);
  if (fold_local_part) absl::AsciiStrToLower(&local);
  return Cat(local, "@", domain);
}

}  // namespace tern::auth
