#include "services/auth/scram.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "services/common/credentials.h"
#include "services/common/strings.h"

namespace tern::auth {
namespace {

// RFC 5802 section 5.1: saslname uses "=2C" for ',' and "=3D" for '='; any other '=' is
// an error.
std::optional<std::string> DecodeSaslName(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == ',') return std::nullopt;
    if (in[i] != '=') {
      out.push_back(in[i]);
      continue;
    }
    if (in.substr(i, 3) == "=2C") {
      out.push_back(',');
    } else if (in.substr(i, 3) == "=3D") {
      out.push_back('=');
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

// Printable ASCII except ',' (RFC 5802 "printable").
bool IsNonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  absl::Base64Escape(ToAbsl(bytes), &out);
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  std::string out;
  if (!absl::Base64Unescape(ToAbsl(text), &out)) return std::nullopt;
  return out;
}

absl::StatusOr<ClientFirst> ParseClientFirst(std::string_view message) {
  ClientFirst out;
  // gs2-cbind-flag
  if (message.starts_with("p=")) {
    return absl::InvalidArgumentError("channel binding is not supported (no -PLUS mechanism)");
  }
  if (!message.starts_with("n,") && !message.starts_with("y,")) {
    return absl::InvalidArgumentError("bad gs2 header");
  }
  const size_t second = message.find(',', 2);
  if (second == std::string_view::npos) return absl::InvalidArgumentError("bad gs2 header");
  const std::string_view authz = message.substr(2, second - 2);
  if (!authz.empty()) {
    if (!authz.starts_with("a=")) return absl::InvalidArgumentError("bad authzid");
    std::optional<std::string> decoded = DecodeSaslName(authz.substr(2));
    if (!decoded) return absl::InvalidArgumentError("bad authzid");
    out.authzid = *decoded;
  }
  out.gs2_header = std::string(message.substr(0, second + 1));
  const std::string_view bare = message.substr(second + 1);
  out.client_first_bare = std::string(bare);
  if (bare.starts_with("m=")) return absl::InvalidArgumentError("unsupported mandatory extension");
  if (!bare.starts_with("n=")) return absl::InvalidArgumentError("missing username");
  const size_t comma = bare.find(',');
  if (comma == std::string_view::npos) return absl::InvalidArgumentError("missing nonce");
  std::optional<std::string> user = DecodeSaslName(bare.substr(2, comma - 2));
  if (!user || user->empty()) return absl::InvalidArgumentError("bad username");
  out.username = *user;
  std::string_view rest = bare.substr(comma + 1);
  if (!rest.starts_with("r=")) return absl::InvalidArgumentError("missing nonce");
  rest.remove_prefix(2);
  // Optional extensions after the nonce are ignored (RFC 5802 section 7).
  out.nonce = std::string(rest.substr(0, rest.find(',')));
  if (!IsNonce(out.nonce)) return absl::InvalidArgumentError("bad nonce");
  return out;
}

std::string ServerFirst(const ClientFirst& client, std::string_view server_nonce,
                        const ScramCredentials& creds) {
  return Cat("r=", client.nonce, server_nonce, ",s=", Base64Encode(creds.salt),
             ",i=", static_cast<uint64_t>(creds.iterations));
}

absl::StatusOr<std::string> VerifyClientFinal(std::string_view client_final,
                                              const ClientFirst& client,
                                              std::string_view server_first,
                                              const ScramCredentials& creds) {
  // client-final-message-without-proof "," proof; the proof is the last attribute.
  const size_t proof_at = client_final.rfind(",p=");
  if (!client_final.starts_with("c=") || proof_at == std::string_view::npos) {
    return absl::InvalidArgumentError("malformed client-final-message");
  }
  const std::string_view without_proof = client_final.substr(0, proof_at);
  const size_t comma = without_proof.find(',');
  if (comma == std::string_view::npos) return absl::InvalidArgumentError("missing nonce");
  const std::string_view cbind = without_proof.substr(2, comma - 2);
  std::optional<std::string> cbind_bytes = Base64Decode(cbind);
  if (!cbind_bytes || *cbind_bytes != client.gs2_header) {
    return absl::InvalidArgumentError("channel binding does not repeat the gs2 header");
  }
  std::string_view rest = without_proof.substr(comma + 1);
  const std::string_view combined_nonce = server_first.substr(2, server_first.find(',') - 2);
  if (!rest.starts_with("r=")) return absl::InvalidArgumentError("missing nonce");
  std::string_view nonce = rest.substr(2);
  nonce = nonce.substr(0, nonce.find(','));
  if (nonce != combined_nonce) return absl::InvalidArgumentError("nonce mismatch");
  std::optional<std::string> proof = Base64Decode(client_final.substr(proof_at + 3));
  if (!proof || proof->size() != SHA256_DIGEST_LENGTH) {
    return absl::InvalidArgumentError("malformed proof");
  }
  // RFC 5802 section 3.
  const std::string auth_message =
      Cat(client.client_first_bare, ",", server_first, ",", without_proof);
  const std::string client_signature = common::HmacSha256(creds.stored_key, auth_message);
  std::string client_key(SHA256_DIGEST_LENGTH, '\0');
  for (size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = static_cast<char>((*proof)[i] ^ client_signature[i]);
  }
  unsigned char stored[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(), stored);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  if (!common::ConstantTimeEquals(std::string_view(reinterpret_cast<char*>(stored), sizeof(stored)),
                                  creds.stored_key)) {
    return absl::PermissionDeniedError("wrong proof");
  }
  return Cat("v=", Base64Encode(common::HmacSha256(creds.server_key, auth_message)));
}

}  // namespace tern::auth
