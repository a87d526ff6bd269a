#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/auth/password.h"

namespace tern::auth {

// The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding. Pure
// functions over the exchanged messages; the state between steps is what ClientFirst holds
// plus the server-first-message.

struct ClientFirst {
  std::string gs2_header;         // "n,," or "y,," (with an optional a=authzid)
  std::string authzid;            // empty when absent
  std::string username;           // saslname decoded (=2C -> ',', =3D -> '=')
  std::string nonce;              // c-nonce
  std::string client_first_bare;  // "n=...,r=..."
};

// RFC 5802 section 7: gs2-header client-first-message-bare. Channel binding ("p=") is not
// offered, so it is refused; so are mandatory extensions ("m=").
absl::StatusOr<ClientFirst> ParseClientFirst(std::string_view message);

// "r=<c-nonce><s-nonce>,s=<base64 salt>,i=<iterations>"
std::string ServerFirst(const ClientFirst& client, std::string_view server_nonce,
                        const ScramCredentials& creds);

// Checks client-final-message "c=<base64 gs2 header>,r=<nonce>,p=<proof>" against the
// stored keys: the channel binding must repeat the gs2 header, the nonce must be the
// combined one, and H(ClientProof XOR HMAC(StoredKey, AuthMessage)) must equal StoredKey.
// On success returns the server-final-message "v=<base64 ServerSignature>".
// InvalidArgument for a malformed message, PermissionDenied for a wrong proof.
absl::StatusOr<std::string> VerifyClientFinal(std::string_view client_final,
                                              const ClientFirst& client,
                                              std::string_view server_first,
                                              const ScramCredentials& creds);

std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace tern::auth
