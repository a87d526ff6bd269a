// The POP3 commands (RFC 1939 4-7, RFC 2449 5, RFC 2595 4, RFC 5034 4), one table file as
// STYLE.md allows for POP3's few verbs. Credentials are checked by tern-authd; nothing here
// logs a secret.

#include "services/pop3/server/commands.h"

#include "services/common/log.h"
#include "services/common/sasl.h"
#include "services/common/strings.h"
#include "services/pop3/protocol/commands.h"
#include "services/pop3/protocol/encoder.h"
#include "services/pop3/server/session.h"

// co_await results are stored in named variables before they are tested (GCC 12; see
// services/imap/server/session.cc).

namespace tern::pop3::server {
namespace {

using auth::v1::SaslStep;

// The answer to a refused login (RFC 3206 5: [AUTH] when the credentials are the
// problem, [SYS/TEMP] when trying again later may work).
void Refuse(Session& s, const SaslStep& step) {
  switch (step.failure_reason()) {
    case SaslStep::FAILURE_REASON_TEMPORARY_LOCKOUT:
      return s.Err("Too many failed attempts, try again later", protocol::code::kSysTemp);
    case SaslStep::FAILURE_REASON_ACCOUNT_DISABLED:
      return s.Err("Account disabled", protocol::code::kAuth);
    case SaslStep::FAILURE_REASON_MECHANISM_UNSUPPORTED:
      return s.Err("Unsupported authentication mechanism");
    case SaslStep::FAILURE_REASON_ENCRYPTION_REQUIRED:
      return s.Err("Plaintext authentication is not allowed without TLS; use STLS first",
                   protocol::code::kAuth);
    case SaslStep::FAILURE_REASON_MALFORMED:
      return s.Err("Malformed authentication data");
    case SaslStep::FAILURE_REASON_ABORTED:
      return s.Err("Authentication cancelled");
    default:
      return s.Err("Authentication failed", protocol::code::kAuth);
  }
}

asio::awaitable<void> CmdCapa(Session& s, const protocol::Command&) {
  const std::vector<std::string> caps = co_await s.Capabilities();
  protocol::AppendCapabilities(s.out(), caps);
}

asio::awaitable<void> CmdStls(Session& s, const protocol::Command&) {
  if (!s.server().tls) {
    s.Err("TLS is not available");
  } else if (s.tls()) {
    // RFC 2595 4: STLS is refused once TLS is active.
    s.Err("TLS is already active");
  } else {
    s.Ok("Begin TLS negotiation");
    s.RequestStartTls();
  }
  co_return;
}

asio::awaitable<void> CmdUser(Session& s, const protocol::Command& c) {
  std::optional<auth::v1::ListMechanismsResponse> mechs = co_await s.Mechanisms();
  if (!mechs) {
    s.Err("Authentication is temporarily unavailable", protocol::code::kSysTemp);
    co_return;
  }
  if (mechs->login_disabled()) {
    // RFC 2595 4: no plaintext password where it could be read off the wire.
    s.Err("Plaintext authentication is not allowed without TLS; use STLS first",
          protocol::code::kAuth);
    co_return;
  }
  s.set_pending_user(c.args[0]);
  s.Ok("Send your password");
}

asio::awaitable<void> CmdPass(Session& s, const protocol::Command& c) {
  std::optional<std::string> user = s.TakePendingUser();
  if (!user) {
    s.Err("USER first");
    co_return;
  }
  auth::v1::LoginPasswordRequest req;
  req.set_username(*user);
  req.set_password(c.args[0]);
  *req.mutable_connection() = s.Connection();
  SaslStep step;
  const common::CallMeta meta{.request_id = s.id()};
  common::Outcome outcome = co_await common::Call(
      s.Policy(false), meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        s.server().auth->async()->LoginPassword(ctx, &req, &step, std::move(done));
      });
  if (!outcome.ok()) {
    common::LogWarn("pop3: authd LoginPassword failed",
                    {{"session", s.id()}, {"error", outcome.status.error_message()}});
    s.Err("Authentication is temporarily unavailable", protocol::code::kSysTemp);
    co_return;
  }
  if (step.outcome() != SaslStep::OUTCOME_SUCCESS) {
    Refuse(s, step);
    co_return;
  }
  co_await s.OpenMaildrop(step.session());
}

asio::awaitable<void> CmdApop(Session& s, const protocol::Command&) {
  // APOP needs the plaintext secret on the server (RFC 1939 7); authd keeps only argon2id
  // hashes and SCRAM keys, so the greeting carries no timestamp and APOP is refused.
  s.Err("APOP is not available; use AUTH or USER/PASS");
  co_return;
}

asio::awaitable<void> CmdAuth(Session& s, const protocol::Command& c) {
  auth::v1::SaslStartRequest start;
  start.set_mechanism(c.args[0]);
  *start.mutable_connection() = s.Connection();
  if (c.args.size() == 2) {
    // RFC 5034 4: the initial response; "=" stands for an empty one.
    std::string decoded;
    if (c.args[1] != "=" && !common::DecodeStrictBase64(c.args[1], decoded)) {
      s.Err("Initial response is not valid base64");
      co_return;
    }
    start.set_initial_response(decoded);
  }
  const common::SaslChallenge challenge =
      [&s](const std::string& base64) -> asio::awaitable<std::optional<std::string>> {
    protocol::AppendContinuation(s.out(), base64);
    std::optional<std::string> line = co_await s.ReadRawLine();
    co_return line;
  };
  const common::CallMeta meta{.request_id = s.id()};
  common::SaslResult result =
      co_await common::RunSasl(*s.server().auth, s.Policy(false), meta, start, challenge);
  switch (result.end) {
    case common::SaslResult::End::kFinished:
      break;
    case common::SaslResult::End::kCancelled:
      // RFC 5034 4: "*" cancels; the server answers -ERR.
      s.Err("Authentication cancelled");
      co_return;
    case common::SaslResult::End::kMalformed:
      s.Err("Response is not valid base64");
      co_return;
    case common::SaslResult::End::kLost:
      s.Err("Authentication response too long or connection lost");
      s.RequestClose();
      co_return;
    case common::SaslResult::End::kTooManySteps:
      s.Err("Too many authentication steps");
      co_return;
    case common::SaslResult::End::kBackendError:
      common::LogWarn("pop3: authd SASL call failed",
                      {{"session", s.id()}, {"error", result.outcome.status.error_message()}});
      s.Err("Authentication is temporarily unavailable", protocol::code::kSysTemp);
      co_return;
  }
  if (result.step.outcome() != SaslStep::OUTCOME_SUCCESS) {
    Refuse(s, result.step);
    co_return;
  }
  co_await s.OpenMaildrop(result.step.session());
}

asio::awaitable<void> CmdQuit(Session& s, const protocol::Command&) {
  if (s.state() == protocol::State::kTransaction) {
    co_await s.Update();
    co_return;
  }
  // RFC 1939 4: QUIT in AUTHORIZATION just ends the session.
  s.Ok("Tern POP3 server signing off");
  s.RequestClose();
}

asio::awaitable<void> CmdStat(Session& s, const protocol::Command&) {
  uint64_t count = 0, octets = 0;
  for (const Message& m : s.messages()) {
    if (m.deleted) continue;
    ++count;
    octets += m.size;
  }
  protocol::AppendStat(s.out(), count, octets);
  co_return;
}

asio::awaitable<void> CmdList(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    uint32_t n = 0;
    const Message* m = s.Lookup(c.args[0], &n);
    if (m != nullptr) s.Ok(Cat(n, " ", m->size));
    co_return;
  }
  uint64_t count = 0, octets = 0;
  for (const Message& m : s.messages()) {
    if (m.deleted) continue;
    ++count;
    octets += m.size;
  }
  s.Ok(Cat(count, " messages (", octets, " octets)"));
  for (size_t i = 0; i < s.messages().size(); ++i) {
    const Message& m = s.messages()[i];
    if (!m.deleted) protocol::AppendScanLine(s.out(), static_cast<uint32_t>(i + 1), m.size);
  }
  protocol::AppendTerminator(s.out());
}

asio::awaitable<void> CmdUidl(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    uint32_t n = 0;
    const Message* m = s.Lookup(c.args[0], &n);
    if (m != nullptr) s.Ok(Cat(n, " ", s.UniqueId(*m)));
    co_return;
  }
  s.Ok("Unique-id listing follows");
  for (size_t i = 0; i < s.messages().size(); ++i) {
    const Message& m = s.messages()[i];
    if (!m.deleted) protocol::AppendUidLine(s.out(), static_cast<uint32_t>(i + 1), s.UniqueId(m));
  }
  protocol::AppendTerminator(s.out());
}

asio::awaitable<void> CmdRetr(Session& s, const protocol::Command& c) {
  Message* m = s.Lookup(c.args[0]);
  if (m == nullptr) co_return;
  const std::string ok = Cat(m->size, " octets");
  const std::optional<uint64_t> whole;
  co_await s.SendMessage(*m, ok, whole);
}

asio::awaitable<void> CmdTop(Session& s, const protocol::Command& c) {
  Message* m = s.Lookup(c.args[0]);
  if (m == nullptr) co_return;
  const std::optional<uint64_t> lines = protocol::ParseLineCount(c.args[1]);
  if (!lines) {
    s.Err("Invalid line count");
    co_return;
  }
  const std::string ok = "Top of message follows";
  co_await s.SendMessage(*m, ok, lines);
}

asio::awaitable<void> CmdDele(Session& s, const protocol::Command& c) {
  uint32_t n = 0;
  Message* m = s.Lookup(c.args[0], &n);
  if (m == nullptr) co_return;
  // RFC 1939 5: only marked; removed in the UPDATE state.
  m->deleted = true;
  s.Ok(Cat("Message ", n, " deleted"));
  co_return;
}

asio::awaitable<void> CmdNoop(Session& s, const protocol::Command&) {
  s.Ok("");
  co_return;
}

asio::awaitable<void> CmdRset(Session& s, const protocol::Command&) {
  uint64_t count = 0, octets = 0;
  for (Message& m : s.messages()) {
    m.deleted = false;
    ++count;
    octets += m.size;
  }
  s.Ok(Cat("Maildrop has ", count, " messages (", octets, " octets)"));
  co_return;
}

struct Entry {
  std::string_view verb;
  Handler handler;
};

constexpr Entry kHandlers[] = {
    {"USER", &CmdUser}, {"PASS", &CmdPass}, {"APOP", &CmdApop}, {"AUTH", &CmdAuth},
    {"STLS", &CmdStls}, {"CAPA", &CmdCapa}, {"QUIT", &CmdQuit}, {"STAT", &CmdStat},
    {"LIST", &CmdList}, {"RETR", &CmdRetr}, {"DELE", &CmdDele}, {"NOOP", &CmdNoop},
    {"RSET", &CmdRset}, {"TOP", &CmdTop},   {"UIDL", &CmdUidl},
};

asio::awaitable<void> CmdUnknown(Session& s, const protocol::Command&) {
  s.Err("Unknown command");
  co_return;
}

}  // namespace

Handler FindHandler(std::string_view verb) {
  for (const Entry& e : kHandlers) {
    if (e.verb == verb) return e.handler;
  }
  return &CmdUnknown;
}

}  // namespace tern::pop3::server
