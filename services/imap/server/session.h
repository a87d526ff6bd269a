#pragma once

// One IMAP connection: a C++20 coroutine on its own strand (DESIGN.md "Concurrency model").
// It reads bytes, feeds the protocol parser line by line, checks each command against the
// state machine (protocol/commands.h), runs its handler (commands/*.cc) and writes the
// responses the encoder produced. It also owns the selected mailbox's view and keeps it
// current through metad's GetChanges, reporting other sessions' changes only where
// RFC 3501 7 allows.

#include <asio.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/common/client_stream.h"
#include "services/common/frontend_server.h"
#include "services/common/grpc_client.h"
#include "services/common/session_token.h"
#include "services/imap/protocol/commands.h"
#include "services/imap/protocol/encoder.h"
#include "services/imap/protocol/parser.h"
#include "services/imap/server/async_grpc.h"
#include "services/imap/server/mailbox_view.h"
#include "services/imap/server/notifier.h"
#include "services/imap/server/server_context.h"
#include "tern/auth/v1/auth.pb.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::imap::server {

using protocol::Status;

// The mailbox a session has selected.
struct Selected {
  uint64_t mailbox_id = 0;
  uint32_t uidvalidity = 0;
  std::string name;  // UTF-8, canonical
  bool read_only = false;
  uint64_t synced_modseq = 0;  // changes up to here are reflected in the view
  uint32_t uidnext = 0;
  bool may_create_keywords = true;
};

class Session : public common::FrontendSession, public std::enable_shared_from_this<Session> {
 public:
  Session(ServerContext& server, common::Accepted connection);
  ~Session() override;

  asio::awaitable<void> Run() override;
  // Called on the session's strand by the notifier: the selected mailbox changed.
  void Notify();
  // Ends the session at the next opportunity: BYE [UNAVAILABLE] (shutdown).
  void Shutdown() override;
  // The same for `ternctl sessions kick` (the session registry calls it on the strand).
  void Kick();
  // The BYE of a shutdown or a kick.
  std::string_view ShutdownBye() const {
    return kicked_ ? "BYE [UNAVAILABLE] Session ended by an administrator"
                   : "BYE [UNAVAILABLE] Server shutting down";
  }
  const asio::strand<asio::any_io_executor>& strand() const override { return strand_; }

  // ---- for command handlers ----
  ServerContext& server() { return server_; }
  protocol::SessionState state() const { return state_; }
  const std::string& tag() const { return tag_; }
  bool tls() const { return stream_.tls(); }
  bool loopback() const { return loopback_; }
  const std::string& peer() const { return peer_; }
  const std::string& id() const override { return id_; }
  const std::string& user() const { return user_; }
  // The metad replica this user's calls go to (MetadRing: the user's hash).
  metadata::v1::MetadataService::Stub* metad() const { return server_.metad->For(user_id_); }

  // Responses, buffered until the command ends (or Flush()).
  void Untagged(std::string_view line);  // "* " + line + CRLF
  void Ok(std::string_view text, std::string_view code = {});
  void No(std::string_view text, std::string_view code = {});
  void Bad(std::string_view text, std::string_view code = {});
  std::string& out() { return out_; }
  asio::awaitable<bool> Flush();

  // The CAPABILITY list for the current state, without the leading "CAPABILITY ".
  asio::awaitable<std::string> Capabilities();
  // Ends the command with NO/BAD for a failed backend call, mapping the status and reason
  // (STYLE.md: one table maps errors to protocol answers).
  void Fail(const Outcome& outcome, std::string_view what);

  // Authentication: the session token and who it belongs to. False when the user has too
  // many sessions across the cluster (the session registry's limit): the caller answers
  // NO [LIMIT] and the session stays unauthenticated.
  asio::awaitable<bool> LoggedIn(const auth::v1::Session& session);
  // Metadata for a metad/blobd call; renews the session token first when it is about to
  // expire. nullopt (and the session is ending with BYE) when renewal failed for good.
  asio::awaitable<std::optional<common::CallMeta>> Meta();
  common::CallPolicy Policy(bool idempotent) const;

  // Time until the session token should be renewed (a long wait wakes up for it).
  std::chrono::steady_clock::duration RenewIn() const;
  // How long a selected mailbox may go without a resync (invariant 2).
  std::chrono::steady_clock::duration PollInterval() const;
  // Time until the selected mailbox is due for a resync (at least a few milliseconds).
  std::chrono::steady_clock::duration PollIn() const {
    const absl::Duration left = absl::FromChrono(PollInterval()) - (absl::Now() - last_sync_);
    return absl::ToChronoMilliseconds(std::max(left, absl::Milliseconds(10)));
  }
  // The selected mailbox has gone PollInterval() without a resync.
  bool PollDue() const {
    return absl::Now() - last_sync_ >= absl::FromChrono(PollInterval()) - absl::Milliseconds(50);
  }
  // Raw lines outside the parser (AUTHENTICATE responses, IDLE's DONE). nullopt when the
  // connection ended, timed out or sent a line longer than max_bytes.
  asio::awaitable<std::optional<std::string>> ReadRawLine(size_t max_bytes);
  // Waits for client input or a change notice. kInput: bytes are waiting (read them with
  // ReadRawLine); kNotified: the selected mailbox changed; kTimeout; kClosed.
  enum class Wait { kInput, kNotified, kTimeout, kClosed };
  asio::awaitable<Wait> WaitInputOrNotice(std::chrono::steady_clock::duration timeout);
  asio::awaitable<bool> StartTls();

  // Selected state.
  Selected& selected() { return selected_; }
  MailboxView& view() { return view_; }
  void Select(Selected selected);  // enters the selected state (view already filled)
  void Deselect();                 // back to authenticated, view dropped
  // Asks metad for changes since the view's MODSEQ and reports them: EXPUNGE (only when
  // allow_expunge), EXISTS, RECENT, FLAGS and FETCH. False if the mailbox is gone (the
  // session then says BYE).
  // How Sync learns what changed: kOwn asks metad for this session (NOOP, CHECK, after its
  // own APPEND or COPY into the mailbox); kShared takes what the process knows (a notice,
  // IDLE's start); kPoll is kShared after the poll interval ran out, when the process polls
  // the mailbox once for all its sessions (ChangeNotifier::Lookup).
  enum class SyncMode { kOwn, kShared, kPoll };
  asio::awaitable<bool> Sync(bool allow_expunge, SyncMode mode = SyncMode::kOwn);
  // Reports pending expunges (when the current command allows it).
  void FlushExpunges();
  // FLAGS / PERMANENTFLAGS when the view's keyword table grew since last announced.
  void AnnounceKeywords();
  bool shutting_down() const { return shutdown_; }
  void set_state(protocol::SessionState s) { state_ = s; }
  void RequestClose() { closing_ = true; }
  // STARTTLS: the handshake begins once the tagged OK has been sent.
  void RequestStartTls() { start_tls_ = true; }
  // The selected mailbox changed through this session (APPEND or COPY into it): resync
  // before the tagged response so EXISTS comes first.
  void MarkDirty() {
    notified_ = true;
    dirty_ = true;
  }
  // The handler wrote its own tagged response (or none is due).
  void SkipTagged() { skip_tagged_ = true; }
  // Facts about this connection for authd.
  auth::v1::ConnectionInfo Connection() const;

  // UIDs for metad from a sequence set of the command (UID or message numbers). False (BAD
  // already sent) for an invalid set.
  bool ToUidSet(std::string_view set_text, bool uid, metadata::v1::UidSet& out);
  bool ToUidSet(const protocol::SequenceSet& set, bool uid, metadata::v1::UidSet& out);
  // Saved SEARCH result ($, RFC 5182) is not supported: always empty.

 private:
  asio::awaitable<std::optional<protocol::Event>> NextEvent();
  // Applies one GetChanges result to the view and reports it (RFC 3501 7: EXPUNGE only when
  // allow_expunge, then EXISTS, RECENT, FETCH).
  void Apply(const ChangeBatch& batch, bool allow_expunge);
  asio::awaitable<bool> ReadMore(std::chrono::steady_clock::duration timeout);
  asio::awaitable<void> Dispatch(protocol::Command& command);
  std::chrono::steady_clock::duration IdleTimeout() const;
  void Status(std::string_view tag, protocol::Status status, std::string_view code,
              std::string_view text);

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
  std::string tag_;
  protocol::SessionState state_ = protocol::SessionState::kNotAuthenticated;
  bool closing_ = false;
  bool shutdown_ = false;

  // Set by Notify() on the strand; the wake channel interrupts IDLE.
  bool notified_ = false;
  bool dirty_ = false;  // this session changed the mailbox: sync for itself
  bool kicked_ = false;
  bool registered_ = false;  // in the session registry
  // The highest UID the client could know of (announced, or below UIDNEXT at SELECT). Never
  // goes down: after the last message is expunged, a batch kept in memory that still lists
  // it must not announce it again (RFC 3501 2.3.1.1: UIDs only grow).
  uint32_t high_uid_ = 0;
  asio::experimental::channel<void(asio::error_code, bool)> wake_;

  common::SessionToken token_;
  std::chrono::steady_clock::time_point login_deadline_;
  uint64_t user_id_ = 0;
  std::string user_;
  std::string request_id_;

  struct Result {
    protocol::Status status;
    std::string code;
    std::string text;
  };
  std::optional<Result> result_;
  bool skip_tagged_ = false;
  bool start_tls_ = false;
  bool timed_out_ = false;
  std::optional<auth::v1::ListMechanismsResponse> mechanisms_;

  Selected selected_;
  MailboxView view_;
  size_t announced_keywords_ = 0;
  absl::Time last_sync_;
  bool watching_ = false;
};

}  // namespace tern::imap::server
