#include "services/auth/oauth.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "services/common/credentials.h"
#include "services/common/strings.h"

namespace tern::auth {
namespace {

constexpr size_t kMaxJwt = 8192;

// ES256 signatures are r || s (RFC 7518 3.4); OpenSSL wants DER.
std::optional<std::string> EcdsaToDer(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool VerifySignature(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

absl::Status Denied(std::string_view why) { return absl::PermissionDeniedError(ToAbsl(why)); }

}  // namespace

JwtVerifier::~JwtVerifier() {
  for (auto& [kid, key] : keys_) EVP_PKEY_free(key);
}

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Load(const std::string& pem,
                                                               OAuthOptions options) {
  if (options.issuer.empty()) return absl::InvalidArgumentError("an OAuth issuer is required");
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  v->options_ = std::move(options);
  std::string kid;
  size_t pos = 0;
  while (pos < pem.size()) {
    size_t end = pem.find('\n', pos);
    if (end == std::string::npos) end = pem.size();
    std::string line = pem.substr(pos, end - pos);
    absl::StripAsciiWhitespace(&line);
    if (line.starts_with("kid:")) {
      kid = line.substr(4);
      absl::StripAsciiWhitespace(&kid);
      pos = end + 1;
      continue;
    }
    if (line.starts_with("-----BEGIN PUBLIC KEY-----")) {
      const size_t stop = pem.find("-----END PUBLIC KEY-----", pos);
      if (stop == std::string::npos) return absl::InvalidArgumentError("unterminated PEM key");
      const size_t block_end = stop + std::strlen("-----END PUBLIC KEY-----");
      BIO* bio = BIO_new_mem_buf(pem.data() + pos, static_cast<int>(block_end - pos));
      EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
      BIO_free(bio);
      if (key == nullptr) return absl::InvalidArgumentError("unreadable PEM public key");
      if (v->keys_.contains(kid)) {
        EVP_PKEY_free(key);
        return absl::InvalidArgumentError(Cat("duplicate key id '", kid, "'"));
      }
      v->keys_[kid] = key;
      kid.clear();
      pos = block_end;
      continue;
    }
    pos = end + 1;
  }
  if (v->keys_.empty()) return absl::InvalidArgumentError("no public key in the OAuth key file");
  return v;
}

absl::StatusOr<std::string> JwtVerifier::Verify(std::string_view jwt, absl::Time now) const {
  if (jwt.size() > kMaxJwt) return Denied("token too long");
  const size_t dot1 = jwt.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return Denied("not a JWT");
  std::optional<std::string> header_json = common::Base64UrlDecode(jwt.substr(0, dot1));
  std::optional<std::string> payload_json =
      common::Base64UrlDecode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  std::optional<std::string> signature = common::Base64UrlDecode(jwt.substr(dot2 + 1));
  if (!header_json || !payload_json || !signature) return Denied("bad base64url");
  const nlohmann::json header = nlohmann::json::parse(*header_json, nullptr, false);
  const nlohmann::json claims = nlohmann::json::parse(*payload_json, nullptr, false);
  if (!header.is_object() || !claims.is_object()) return Denied("bad JSON");
  const std::string alg = header.value("alg", "");
  const std::string kid =
      header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";
  auto it = keys_.find(kid);
  if (it == keys_.end() && keys_.size() == 1 && keys_.begin()->first.empty()) it = keys_.begin();
  if (it == keys_.end()) return Denied("unknown key id");
  // The algorithm must fit the key (no "none", no HMAC with a public key as secret).
  const int type = EVP_PKEY_base_id(it->second);
  std::string sig = *signature;
  if (alg == "RS256" && type == EVP_PKEY_RSA) {
  } else if (alg == "ES256" && type == EVP_PKEY_EC) {
    std::optional<std::string> der = EcdsaToDer(sig);
    if (!der) return Denied("bad ES256 signature");
    sig = *der;
  } else {
    return Denied("algorithm not accepted for this key");
  }
  if (!VerifySignature(it->second, jwt.substr(0, dot2), sig)) return Denied("bad signature");
  const auto time_claim = [&](const char* name) -> std::optional<absl::Time> {
    if (!claims.contains(name) || !claims[name].is_number()) return std::nullopt;
    return absl::FromUnixSeconds(claims[name].get<int64_t>());
  };
  if (claims.value("iss", "") != options_.issuer) return Denied("wrong issuer");
  if (!options_.audience.empty()) {
    bool found = false;
    if (claims.contains("aud") && claims["aud"].is_string())
      found = claims["aud"] == options_.audience;
    if (claims.contains("aud") && claims["aud"].is_array()) {
      for (const auto& a : claims["aud"])
        found = found || (a.is_string() && a == options_.audience);
    }
    if (!found) return Denied("wrong audience");
  }
  const std::optional<absl::Time> exp = time_claim("exp");
  if (!exp || *exp + options_.skew < now) return Denied("expired");
  if (const std::optional<absl::Time> nbf = time_claim("nbf"); nbf && *nbf - options_.skew > now) {
    return Denied("not yet valid");
  }
  if (!claims.contains(options_.user_claim) || !claims[options_.user_claim].is_string()) {
    return Denied("no user claim");
  }
  return claims[options_.user_claim].get<std::string>();
}

absl::StatusOr<OAuthBearerMessage> ParseOAuthBearer(std::string_view message) {
  // gs2-header kvsep *(kvpair) kvsep, kvsep = %x01 (RFC 7628 3.1).
  const size_t first = message.find('\x01');
  if (first == std::string_view::npos) return absl::InvalidArgumentError("no kvsep");
  const std::string_view gs2 = message.substr(0, first);
  if (!gs2.starts_with("n,") && !gs2.starts_with("y,")) {
    return absl::InvalidArgumentError("bad gs2 header");
  }
  OAuthBearerMessage out;
  const std::string_view authz =
      gs2.substr(2, gs2.find(',', 2) == std::string_view::npos ? std::string_view::npos
                                                               : gs2.find(',', 2) - 2);
  if (authz.starts_with("a=")) out.authzid = std::string(authz.substr(2));
  std::string_view rest = message.substr(first + 1);
  while (!rest.empty()) {
    const size_t sep = rest.find('\x01');
    const std::string_view pair = rest.substr(0, sep);
    if (pair.starts_with("auth=")) {
      const std::string_view value = pair.substr(5);
      if (value.size() > 7 && absl::AsciiStrToLower(std::string(value.substr(0, 7))) == "bearer ") {
        out.token = std::string(value.substr(7));
      }
    }
    if (sep == std::string_view::npos) break;
    rest = rest.substr(sep + 1);
  }
  if (out.token.empty()) return absl::InvalidArgumentError("no bearer token");
  return out;
}

std::string OAuthErrorChallenge(const OAuthOptions& options) {
  nlohmann::json error = {{"status", "invalid_token"}};
  if (!options.issuer.empty())
    error["openid-configuration"] = options.issuer + "/.well-known/openid-configuration";
  return error.dump();
}

}  // namespace tern::auth
