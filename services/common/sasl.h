#pragma once

// A SASL exchange carried for authd (auth.proto SaslStart/SaslContinue) by a front-end:
// IMAP AUTHENTICATE (RFC 3501 6.2.2, SASL-IR RFC 4959), POP3 AUTH (RFC 5034 4) and SMTP
// AUTH share it. The protocol only decides how a challenge is written ("+ <base64>",
// "334 <base64>") and how a response line is read; credentials are checked by authd and
// never logged here.

#include <asio.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "services/common/async_grpc.h"
#include "tern/auth/v1/auth.grpc.pb.h"

namespace tern::common {

// What authd needs to know about a client connection (auth.proto ConnectionInfo).
auth::v1::ConnectionInfo MakeConnectionInfo(auth::v1::Protocol protocol, const std::string& peer,
                                            const std::string& local, bool tls,
                                            const std::string& instance,
                                            const std::string& session_id);

// Strict RFC 4648 base64: right padding and nothing else. False for anything else.
bool DecodeStrictBase64(std::string_view text, std::string& out);

struct SaslResult {
  enum class End {
    kFinished,      // step.outcome() is SUCCESS or FAILURE: log in or refuse
    kCancelled,     // the client answered "*" (RFC 3501 6.2.2, RFC 5034 4)
    kMalformed,     // a response that is not base64
    kLost,          // the connection ended, or a response line was too long
    kTooManySteps,  // more rounds than any mechanism needs
    kBackendError,  // authd could not be reached: `outcome` says why
  };
  End end = End::kFinished;
  Outcome outcome;
  auth::v1::SaslStep step;
};

// Sends a base64 challenge and returns the client's response line without its line ending;
// nullopt when the connection ended or the line was too long.
using SaslChallenge =
    std::function<asio::awaitable<std::optional<std::string>>(const std::string&)>;

// Runs the exchange from SaslStart to the end. A final message from the server (SCRAM
// server-final, RFC 5802 5; an OAUTHBEARER error, RFC 7628 3.2.2) travels as one more
// challenge, which the client answers with an empty line (or 0x01); "*" cancels it too.
asio::awaitable<SaslResult> RunSasl(auth::v1::AuthService::Stub& auth, CallPolicy policy,
                                    const CallMeta& meta, const auth::v1::SaslStartRequest& start,
                                    const SaslChallenge& challenge);

}  // namespace tern::common
