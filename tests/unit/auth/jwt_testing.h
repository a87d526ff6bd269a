#pragma once

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

#include "services/common/credentials.h"

namespace tern::auth::jwt_testing {

// Test keys and JWTs signed the way an OAuth issuer would (RFC 7515, RFC 7518).
inline EVP_PKEY* NewKey(bool ec) {
  return ec ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
            : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
}

inline std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

inline std::string SignJwt(EVP_PKEY* key, bool ec, const std::string& kid,
                           const std::string& payload_json) {
  const std::string header = std::string(R"({"alg":")") + (ec ? "ES256" : "RS256") +
                             R"(","typ":"JWT","kid":")" + kid + R"("})";
  const std::string signing_input =
      common::Base64UrlEncode(header) + "." + common::Base64UrlEncode(payload_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (ec) {  // DER -> r || s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    unsigned char raw[64] = {};
    BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + 32, 32);
    ECDSA_SIG_free(s);
    sig.assign(reinterpret_cast<char*>(raw), 64);
  }
  return signing_input + "." + common::Base64UrlEncode(sig);
}

}  // namespace tern::auth::jwt_testing
