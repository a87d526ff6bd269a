#pragma once

// One POP3 connection: a C++20 coroutine on its own strand (DESIGN.md "Concurrency model").
// It reads lines, feeds the protocol parser, checks each command against the state table
// (protocol/commands.h) and runs its handler (commands.cc). The maildrop is the user's
// INBOX as it was at login (RFC 1939 4: the listing is fixed for the session); deletions
// are kept here and applied through metad only in the UPDATE state after QUIT (RFC 1939 6).

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/common/async_grpc.h"
#include "services/common/client_stream.h"
#include "services/common/frontend_server.h"
#include "services/common/session_token.h"
#include "services/pop3/protocol/commands.h"
#include "services/pop3/protocol/parser.h"
#include "services/pop3/server/maildrop_lock.h"
#include "services/pop3/server/server_context.h"
#include "tern/auth/v1/auth.pb.h"

namespace tern::pop3::server {

// One message of the maildrop listing.
struct Message {
  uint32_t uid = 0;
  uint64_t size = 0;      // what STAT/LIST/RETR report (RFC 1939 11, CRLF counted)
  uint64_t raw_size = 0;  // octets of the stored blob
  std::string blob_id;
  std::string grant;  // blobd read capability from metad
  absl::Time grant_expires;
  bool deleted = false;
};

class Session : public common::FrontendSession, public std::enable_shared_from_this<Session> {
 public:
  Session(ServerContext& server, common::Accepted connection);
  ~Session() override;

  asio::awaitable<void> Run() override;
  void Shutdown() override;
  // The same for `ternctl sessions kick`: -ERR [SYS/TEMP] (RFC 3206), then close.
  void Kick();
  const asio::strand<asio::any_io_executor>& strand() const override { return strand_; }
  const std::string& id() const override { return id_; }

  // ---- for command handlers ----
  ServerContext& server() { return server_; }
  protocol::State state() const { return state_; }
  bool tls() const { return stream_.tls(); }
  const std::string& user() const { return user_; }
  // The metad replica this user's calls go to (MetadRing: the user's hash).
  metadata::v1::MetadataService::Stub* metad() const { return server_.metad->For(user_id_); }

  // Responses, buffered until the session waits for input (PIPELINING, RFC 2449 6.6).
  std::string& out() { return out_; }
  void Ok(std::string_view text);
  void Err(std::string_view text, std::string_view code = {});
  asio::awaitable<bool> Flush();
  // The answer to a failed backend call (STYLE.md: one table maps errors to answers).
  void Fail(const common::Outcome& outcome, std::string_view what);

  // CAPA entries for the current state (RFC 2449 5).
  asio::awaitable<std::vector<std::string>> Capabilities();
  // authd's mechanisms for this connection; nullopt when authd is unreachable.
  asio::awaitable<std::optional<auth::v1::ListMechanismsResponse>> Mechanisms();
  auth::v1::ConnectionInfo Connection() const;
  common::CallPolicy Policy(bool idempotent) const;
  // Metadata for metad/blobd calls, renewing the session token when due. nullopt when the
  // token could not be renewed (the session is ending).
  asio::awaitable<std::optional<common::CallMeta>> Meta();

  // USER/PASS bookkeeping (RFC 1939 7: PASS only right after a successful USER).
  void set_pending_user(std::string user) { pending_user_ = std::move(user); }
  std::optional<std::string> TakePendingUser();

  // After authd said yes: LOGIN-DELAY, the maildrop lock and the listing. Answers the
  // command (+OK and TRANSACTION state, or -ERR and still AUTHORIZATION).
  asio::awaitable<void> OpenMaildrop(const auth::v1::Session& session);
  void Unregister();
  // A raw line for a SASL response (RFC 5034 4); nullopt when the connection ended or the
  // line was over the limit.
  asio::awaitable<std::optional<std::string>> ReadRawLine();
  void RequestStartTls() { start_tls_ = true; }
  void RequestClose() { closing_ = true; }

  // The maildrop.
  std::vector<Message>& messages() { return messages_; }
  // The message a number names (RFC 1939 5: it must exist and not be marked as deleted);
  // nullptr (and -ERR already set) otherwise. `n` receives the number.
  Message* Lookup(std::string_view number, uint32_t* n = nullptr);
  std::string UniqueId(const Message& m) const;
  // Sends a message (or, with `top_lines`, its header and that many body lines) as a
  // multi-line response, streamed from blobd. The +OK line is `ok_text`.
  asio::awaitable<void> SendMessage(Message& m, std::string_view ok_text,
                                    std::optional<uint64_t> top_lines);
  // QUIT in TRANSACTION: the UPDATE state (RFC 1939 6).
  asio::awaitable<void> Update();

 private:
  asio::awaitable<std::optional<protocol::Event>> NextEvent();
  asio::awaitable<void> Dispatch(const protocol::Command& command);
  // Renews the session token and the maildrop lock when due. False when the session must
  // end.
  asio::awaitable<bool> Housekeeping();
  std::chrono::steady_clock::duration HousekeepingIn() const;
  asio::awaitable<bool> LoadMaildrop();
  asio::awaitable<bool> RefreshGrant(Message& m);
  asio::awaitable<void> ReleaseLock();
  asio::awaitable<bool> StartTls();

  ServerContext& server_;
  asio::strand<asio::any_io_executor> strand_;
  common::ClientStream stream_;
  bool implicit_tls_;
  std::string peer_;
  std::string local_;
  bool loopback_;
  std::string id_;

  protocol::Parser parser_;
  std::deque<protocol::Event> events_;
  std::string out_;
  protocol::State state_ = protocol::State::kAuthorization;
  bool closing_ = false;
  bool shutdown_ = false;
  bool kicked_ = false;
  bool registered_ = false;  // in the session registry
  bool waiting_ = false;  // blocked on client input (Shutdown may interrupt)
  bool start_tls_ = false;
  std::chrono::steady_clock::time_point login_deadline_;
  std::optional<auth::v1::ListMechanismsResponse> mechanisms_;
  std::optional<std::string> pending_user_;

  common::SessionToken token_;
  uint64_t user_id_ = 0;
  std::string user_;
  std::string request_id_;

  MaildropLocks::Lock lock_;
  std::chrono::steady_clock::time_point lock_renew_at_;
  bool lock_lost_ = false;
  uint64_t mailbox_id_ = 0;
  uint32_t uidvalidity_ = 0;
  std::vector<Message> messages_;
};

}  // namespace tern::pop3::server
