#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace tern::common {

// PEM files: a certificate chain, its private key, and optionally a CA bundle used to verify
// the peer (client certificates on a server: mTLS; the server on a client).
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
  bool empty() const { return cert.empty() && key.empty() && ca.empty(); }
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// A server context for the client-facing listeners (IMAPS, STARTTLS, ...): TLS 1.2 and 1.3
// only, the certificate chain and key from PEM files, the key checked against the
// certificate. When files.ca is set, clients must present a certificate it signed.
absl::StatusOr<SslCtxPtr> MakeServerTlsContext(const TlsFiles& files);

// gRPC server credentials: plaintext when files is empty; TLS with cert+key; mutual TLS
// (client certificate required and verified) when files.ca is also set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeGrpcServerCredentials(
    const TlsFiles& files);

// gRPC channel credentials: plaintext when files is empty; otherwise TLS verifying the server
// against files.ca, presenting cert+key when given (mTLS).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeGrpcChannelCredentials(
    const TlsFiles& files);

// The OpenSSL error queue as text (and cleared).
std::string OpenSslErrors();

}  // namespace tern::common
