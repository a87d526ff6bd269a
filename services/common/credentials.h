#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "services/common/grpc_client.h"
#include "tern/auth/v1/auth.pb.h"
#include "tern/blob/v1/blob.pb.h"

namespace tern::common {

// HMAC-SHA-256 keys by key id. The first key of a key file signs; every key verifies, so a
// key can be rotated in before it signs and kept after it stops signing.
//
// Key file format: one key per line, "<key_id> <secret as hex>" (at least 32 bytes of
// secret); empty lines and lines starting with '#' are ignored.
class KeyRing {
 public:
  static absl::StatusOr<KeyRing> Parse(std::string_view text);
  static absl::StatusOr<KeyRing> Load(const std::string& path);
  // A ring with one key, for tests and tools.
  static KeyRing Single(std::string key_id, std::string secret);

  bool empty() const { return keys_.empty(); }
  const std::string& signing_key_id() const { return signing_key_id_; }
  const std::string* Find(std::string_view key_id) const;

 private:
  std::string signing_key_id_;
  std::map<std::string, std::string, std::less<>> keys_;
};

std::string HmacSha256(std::string_view key, std::string_view data);
// SHA-256 of `data`: the 32-byte digest.
std::string Sha256(std::string_view data);
bool ConstantTimeEquals(std::string_view a, std::string_view b);
std::string Base64UrlEncode(std::string_view bytes);  // RFC 4648 section 5, no padding
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Session tokens (format in proto/tern/auth/v1/auth.proto):
//   "tern1." + base64url(TokenClaims) + "." + base64url(HMAC-SHA-256(key, signed part))
// where the signed part is everything before the second '.'.
std::string SignSessionToken(const auth::v1::TokenClaims& claims, const KeyRing& keys);

// The outcome of checking a token, with the claims whenever they could be decoded (never
// trust them unless reason is kValid).
struct TokenCheck {
  enum class Reason { kValid, kMalformed, kUnknownKey, kBadSignature, kExpired };
  Reason reason = Reason::kMalformed;
  std::optional<auth::v1::TokenClaims> claims;
};
TokenCheck CheckSessionToken(std::string_view token, const KeyRing& keys, absl::Time now,
                             absl::Duration skew = absl::Seconds(30));

// Verifies signature and expiry (with `skew` tolerance). Unauthenticated on any failure;
// the message says which (malformed, unknown key, bad signature, expired) for logs only.
absl::StatusOr<auth::v1::TokenClaims> VerifySessionToken(std::string_view token,
                                                         const KeyRing& keys, absl::Time now,
                                                         absl::Duration skew = absl::Seconds(30));

// Capabilities exchanged between metad and blobd (BlobGrant, PutReceipt in
// proto/tern/blob/v1/blob.proto): HMAC-SHA-256(key, domain || 0x00 || claims).
std::string CapabilitySignature(std::string_view key, std::string_view domain,
                                std::string_view claims);

// Blob capabilities (blob.proto BlobGrant and PutReceipt), signed with the blob key ring.
std::string IssueBlobGrant(const KeyRing& keys, const std::string& blob_id, uint64_t user_id,
                           absl::Time expires_at);
std::string IssuePutReceipt(const KeyRing& keys, const std::string& blob_id, uint64_t size,
                            absl::Time issued_at, absl::Time expires_at);
// PermissionDenied unless receipt is a valid, unexpired PutReceipt for blob_id and size.
absl::Status VerifyPutReceipt(const KeyRing& keys, std::string_view receipt,
                              const std::string& blob_id, uint64_t size, absl::Time now);

// What a caller presented, decided once per call from its gRPC metadata.
struct Caller {
  enum class Kind { kNone, kSession, kDeliver, kService, kAdmin };
  Kind kind = Kind::kNone;
  uint64_t user_id = 0;  // kSession and kDeliver only
};

// Checks a call's credentials: tern-admin-token and tern-service-token against the
// configured secrets (constant time), otherwise tern-session-token against the key ring.
// UNAUTHENTICATED when nothing valid is presented; a wrong static token is
// PERMISSION_DENIED-worthy but reported as UNAUTHENTICATED to not tell which exists.
class CallerAuthenticator {
 public:
  CallerAuthenticator(KeyRing session_keys, std::string service_token, std::string admin_token)
      : session_keys_(std::move(session_keys)),
        service_token_(std::move(service_token)),
        admin_token_(std::move(admin_token)) {}

  absl::StatusOr<Caller> Authenticate(const grpc::ServerContext& ctx) const;

 private:
  KeyRing session_keys_;
  std::string service_token_;
  std::string admin_token_;
};

// Reads a secret file (whitespace around it stripped); empty path gives an empty secret.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace tern::common
