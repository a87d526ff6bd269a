#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace tern::auth {

// Who may issue the bearer tokens OAUTHBEARER accepts (RFC 7628), and how to read them.
struct OAuthOptions {
  std::string issuer;                // required "iss"
  std::string audience;              // required in "aud" when set
  std::string user_claim = "email";  // the claim naming the mail address
  absl::Duration skew = absl::Seconds(60);
};

// Verifies JWTs (RFC 7519) signed RS256 or ES256 (RFC 7518 3.3, 3.4) with the issuer's
// public keys, checking iss, aud, exp and nbf; yields the user's address claim.
class JwtVerifier {
 public:
  // Key file: PEM public keys, each preceded by a line "kid: <key id>" (a lone key may go
  // without one and then matches any kid).
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Load(const std::string& keys_pem,
                                                           OAuthOptions options);
  ~JwtVerifier();

  // The address in options.user_claim; PermissionDenied with the reason otherwise.
  absl::StatusOr<std::string> Verify(std::string_view jwt, absl::Time now) const;
  const OAuthOptions& options() const { return options_; }

 private:
  JwtVerifier() = default;
  OAuthOptions options_;
  std::map<std::string, EVP_PKEY*, std::less<>> keys_;  // owned
};

// The parts of an OAUTHBEARER client response (RFC 7628 3.1).
struct OAuthBearerMessage {
  std::string authzid;  // from the gs2 header's "a=", may be empty
  std::string token;    // after "auth=Bearer "
};
absl::StatusOr<OAuthBearerMessage> ParseOAuthBearer(std::string_view message);

// The error JSON sent as the final server challenge on failure (RFC 7628 3.2.2).
std::string OAuthErrorChallenge(const OAuthOptions& options);

}  // namespace tern::auth
