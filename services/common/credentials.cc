#include "services/common/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "services/common/grpc_client.h"
#include "services/common/strings.h"
#include "services/common/tls.h"

namespace tern::common {
namespace {

constexpr std::string_view kTokenPrefix = "tern1.";
constexpr size_t kMinSecretBytes = 32;
constexpr size_t kMaxTokenBytes = 4096;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

absl::StatusOr<KeyRing> KeyRing::Parse(std::string_view text) {
  KeyRing ring;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    absl::StripAsciiWhitespace(&line);
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find_first_of(" \t");
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(Cat("key line ", line_no, ": want '<key_id> <hex>'"));
    }
    std::string id = line.substr(0, space);
    std::string hex = line.substr(space + 1);
    absl::StripAsciiWhitespace(&hex);
    if (hex.size() % 2 != 0 ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return absl::InvalidArgumentError(Cat("key line ", line_no, ": secret is not hex"));
    }
    std::string secret = absl::HexStringToBytes(hex);
    if (secret.size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(
          Cat("key line ", line_no, ": secret shorter than ", kMinSecretBytes, " bytes"));
    }
    if (ring.keys_.contains(id)) {
      return absl::InvalidArgumentError(Cat("key line ", line_no, ": duplicate key id"));
    }
    if (ring.signing_key_id_.empty()) ring.signing_key_id_ = id;
    ring.keys_.emplace(std::move(id), std::move(secret));
  }
  if (ring.keys_.empty()) return absl::InvalidArgumentError("key file has no key");
  return ring;
}

absl::StatusOr<KeyRing> KeyRing::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<KeyRing> ring = Parse(*text);
  if (!ring.ok()) return absl::InvalidArgumentError(Cat(path, ": ", ring.status().message()));
  return ring;
}

KeyRing KeyRing::Single(std::string key_id, std::string secret) {
  KeyRing ring;
  ring.signing_key_id_ = key_id;
  ring.keys_.emplace(std::move(key_id), std::move(secret));
  return ring;
}

const std::string* KeyRing::Find(std::string_view key_id) const {
  auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : &it->second;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  absl::WebSafeBase64Escape(ToAbsl(bytes), &out);
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.find('=') != std::string_view::npos) return std::nullopt;
  std::string out;
  if (!absl::WebSafeBase64Unescape(ToAbsl(text), &out)) return std::nullopt;
  return out;
}

std::string SignSessionToken(const auth::v1::TokenClaims& claims, const KeyRing& keys) {
  auth::v1::TokenClaims signed_claims = claims;
  signed_claims.set_key_id(keys.signing_key_id());
  signed_claims.set_algorithm(auth::v1::SIGNATURE_ALGORITHM_HMAC_SHA256);
  std::string body = Cat(kTokenPrefix, Base64UrlEncode(signed_claims.SerializeAsString()));
  const std::string signature = HmacSha256(*keys.Find(keys.signing_key_id()), body);
  return Cat(body, ".", Base64UrlEncode(signature));
}

TokenCheck CheckSessionToken(std::string_view token, const KeyRing& keys, absl::Time now,
                             absl::Duration skew) {
  using Reason = TokenCheck::Reason;
  TokenCheck out;
  if (token.size() > kMaxTokenBytes || !token.starts_with(kTokenPrefix)) return out;
  const size_t dot = token.find('.', kTokenPrefix.size());
  if (dot == std::string_view::npos) return out;
  const std::string_view body = token.substr(0, dot);
  std::optional<std::string> claims_bytes = Base64UrlDecode(body.substr(kTokenPrefix.size()));
  std::optional<std::string> signature = Base64UrlDecode(token.substr(dot + 1));
  auth::v1::TokenClaims claims;
  if (!claims_bytes || !signature || !claims.ParseFromString(*claims_bytes)) return out;
  out.claims = claims;
  // Only the algorithm we verify with is accepted: the field cannot downgrade anything.
  if (claims.algorithm() != auth::v1::SIGNATURE_ALGORITHM_HMAC_SHA256 || claims.user_id() == 0) {
    return out;
  }
  const std::string* key = keys.Find(claims.key_id());
  if (key == nullptr) {
    out.reason = Reason::kUnknownKey;
    return out;
  }
  if (!ConstantTimeEquals(HmacSha256(*key, body), *signature)) {
    out.reason = Reason::kBadSignature;
    return out;
  }
  if (!claims.has_expires_at() || FromProto(claims.expires_at()) + skew < now) {
    out.reason = Reason::kExpired;
    return out;
  }
  out.reason = Reason::kValid;
  return out;
}

absl::StatusOr<auth::v1::TokenClaims> VerifySessionToken(std::string_view token,
                                                         const KeyRing& keys, absl::Time now,
                                                         absl::Duration skew) {
  TokenCheck check = CheckSessionToken(token, keys, now, skew);
  switch (check.reason) {
    case TokenCheck::Reason::kValid:
      return *std::move(check.claims);
    case TokenCheck::Reason::kMalformed:
      return absl::UnauthenticatedError("malformed token");
    case TokenCheck::Reason::kUnknownKey:
      return absl::UnauthenticatedError("unknown token key");
    case TokenCheck::Reason::kBadSignature:
      return absl::UnauthenticatedError("bad token signature");
    case TokenCheck::Reason::kExpired:
      return absl::UnauthenticatedError("token expired");
  }
  return absl::UnauthenticatedError("token refused");
}

std::string CapabilitySignature(std::string_view key, std::string_view domain,
                                std::string_view claims) {
  std::string data;
  data.reserve(domain.size() + 1 + claims.size());
  data.append(domain);
  data.push_back('\0');
  data.append(claims);
  return HmacSha256(key, data);
}

namespace {
constexpr char kGrantDomain[] = "tern-blob-grant-v1";
constexpr char kReceiptDomain[] = "tern-put-receipt-v1";

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}
}  // namespace

std::string IssueBlobGrant(const KeyRing& keys, const std::string& blob_id, uint64_t user_id,
                           absl::Time expires_at) {
  blob::v1::BlobGrantClaims claims;
  claims.set_blob_id(blob_id);
  claims.set_user_id(user_id);
  SetTime(claims.mutable_expires_at(), expires_at);
  blob::v1::BlobGrant grant;
  grant.set_claims(claims.SerializeAsString());
  grant.set_key_id(keys.signing_key_id());
  grant.set_signature(
      CapabilitySignature(*keys.Find(keys.signing_key_id()), kGrantDomain, grant.claims()));
  return grant.SerializeAsString();
}

std::string IssuePutReceipt(const KeyRing& keys, const std::string& blob_id, uint64_t size,
                            absl::Time issued_at, absl::Time expires_at) {
  blob::v1::PutReceiptClaims claims;
  claims.set_blob_id(blob_id);
  claims.set_size(size);
  SetTime(claims.mutable_issued_at(), issued_at);
  SetTime(claims.mutable_expires_at(), expires_at);
  blob::v1::PutReceipt receipt;
  receipt.set_claims(claims.SerializeAsString());
  receipt.set_key_id(keys.signing_key_id());
  receipt.set_signature(
      CapabilitySignature(*keys.Find(keys.signing_key_id()), kReceiptDomain, receipt.claims()));
  return receipt.SerializeAsString();
}

absl::Status VerifyPutReceipt(const KeyRing& keys, std::string_view bytes,
                              const std::string& blob_id, uint64_t size, absl::Time now) {
  blob::v1::PutReceipt receipt;
  blob::v1::PutReceiptClaims claims;
  const std::string* key = nullptr;
  if (!receipt.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      !claims.ParseFromString(receipt.claims()) || (key = keys.Find(receipt.key_id())) == nullptr ||
      !ConstantTimeEquals(CapabilitySignature(*key, kReceiptDomain, receipt.claims()),
                          receipt.signature())) {
    return absl::PermissionDeniedError("put receipt refused");
  }
  if (claims.blob_id() != blob_id || claims.size() != size) {
    return absl::PermissionDeniedError("put receipt is for other bytes");
  }
  if (FromProto(claims.expires_at()) + absl::Seconds(30) < now) {
    return absl::PermissionDeniedError("put receipt expired");
  }
  return absl::OkStatus();
}

absl::StatusOr<Caller> CallerAuthenticator::Authenticate(const grpc::ServerContext& ctx) const {
  if (const std::string admin = MetadataOf(ctx, kAdminTokenKey); !admin.empty()) {
    if (!admin_token_.empty() && ConstantTimeEquals(admin, admin_token_)) {
      return Caller{Caller::Kind::kAdmin, 0};
    }
    return absl::UnauthenticatedError("admin token refused");
  }
  if (const std::string service = MetadataOf(ctx, kServiceTokenKey); !service.empty()) {
    if (!service_token_.empty() && ConstantTimeEquals(service, service_token_)) {
      return Caller{Caller::Kind::kService, 0};
    }
    return absl::UnauthenticatedError("service token refused");
  }
  const std::string token = MetadataOf(ctx, kSessionTokenKey);
  if (token.empty()) return absl::UnauthenticatedError("no credentials");
  if (session_keys_.empty()) return absl::UnauthenticatedError("session tokens not configured");
  absl::StatusOr<auth::v1::TokenClaims> claims =
      VerifySessionToken(token, session_keys_, absl::Now());
  if (!claims.ok()) return claims.status();
  switch (claims->scope()) {
    case auth::v1::TOKEN_SCOPE_SESSION:
      return Caller{Caller::Kind::kSession, claims->user_id()};
    case auth::v1::TOKEN_SCOPE_DELIVER:
      return Caller{Caller::Kind::kDeliver, claims->user_id()};
    default:
      return absl::UnauthenticatedError("token scope not recognised");
  }
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  if (path.empty()) return std::string();
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return std::string(absl::StripAsciiWhitespace(*text));
}

}  // namespace tern::common
