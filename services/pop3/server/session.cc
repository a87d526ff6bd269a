#include "services/pop3/server/session.h"

#include "services/common/log.h"
#include "services/common/sasl.h"
#include "services/common/strings.h"
#include "services/pop3/protocol/encoder.h"
#include "services/pop3/server/commands.h"

// co_await results are stored in named variables before they are tested, and coroutines get
// named objects, never temporaries: GCC 12 miscompiles co_await inside conditions and
// destroys such temporaries twice (see services/imap/server/session.cc).

namespace tern::pop3::server {
namespace {

namespace md = metadata::v1;

// How long a write may wait for the client to read.
constexpr std::chrono::seconds kWriteTimeout{120};
// Bytes read from blobd per call while a message is sent: bounds a session's memory.
constexpr uint64_t kBlobChunk = 1 << 20;
// Responses are written once this much is buffered, even in the middle of a message.
constexpr size_t kFlushAt = 256 << 10;
// A grant that expires sooner than this is refreshed before a message is read.
constexpr absl::Duration kGrantMargin = absl::Seconds(30);

}  // namespace

Session::Session(ServerContext& server, common::Accepted connection)
    : server_(server),
      strand_(asio::make_strand(connection.socket.get_executor())),
      stream_(std::move(connection.socket), strand_),
      implicit_tls_(connection.implicit_tls),
      peer_(std::move(connection.peer)),
      local_(std::move(connection.local)),
      loopback_(connection.loopback),
      id_(common::NewRequestId()),
      parser_(protocol::Limits{}) {}

Session::~Session() {
  // A session whose coroutine was destroyed without finishing (the event loop stopped).
  if (registered_ && server_.registry != nullptr) server_.registry->Unregister(id_);
}

void Session::Kick() {
  kicked_ = true;
  Shutdown();
}

void Session::Shutdown() {
  shutdown_ = true;
  // A command in progress finishes (a multi-line response is never cut short); a session
  // waiting for its client is woken now.
  if (waiting_) stream_.Cancel();
}

// ---- output ----

void Session::Ok(std::string_view text) { protocol::AppendOk(out_, text); }

void Session::Err(std::string_view text, std::string_view code) {
  protocol::AppendErr(out_, text, code);
}

asio::awaitable<bool> Session::Flush() {
  const bool ok = co_await stream_.Write(out_, kWriteTimeout);
  if (!ok) closing_ = true;
  co_return ok;
}

void Session::Fail(const common::Outcome& outcome, std::string_view what) {
  switch (outcome.status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Err(Cat(what, ": temporarily unavailable, try again later"), protocol::code::kSysTemp);
    default:
      common::LogError("pop3: backend call failed",
                       {{"session", id_},
                        {"request_id", request_id_},
                        {"what", what},
                        {"code", static_cast<int>(outcome.status.error_code())},
                        {"reason", outcome.reason},
                        {"error", outcome.status.error_message()}});
      return Err(Cat(what, ": server error"), protocol::code::kSysPerm);
  }
}

// ---- input ----

asio::awaitable<std::optional<protocol::Event>> Session::NextEvent() {
  for (;;) {
    if (!events_.empty()) {
      protocol::Event event = std::move(events_.front());
      events_.pop_front();
      co_return event;
    }
    if (closing_) co_return std::nullopt;
    const std::string_view pending = stream_.pending();
    if (!pending.empty()) {
      // One line at a time: after AUTH the next line is a SASL response, after STLS it
      // must not be read at all (protocol/parser.h).
      const size_t lf = pending.find('\n');
      const size_t len = lf == std::string_view::npos ? pending.size() : lf + 1;
      std::vector<protocol::Event> events;
      parser_.Feed(pending.substr(0, len), events);
      stream_.Consume(len);
      for (auto& e : events) events_.push_back(std::move(e));
      continue;
    }
    const bool flushed = co_await Flush();
    if (!flushed) co_return std::nullopt;
    const auto deadline = state_ == protocol::State::kAuthorization
                              ? login_deadline_
                              : std::chrono::steady_clock::now() + server_.settings.idle_timeout;
    for (;;) {
      if (shutdown_) {
        Err(kicked_ ? "Session ended by an administrator" : "Server shutting down, try again later",
            protocol::code::kSysTemp);
        co_return std::nullopt;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        // RFC 1939 3: on autologout the server "closes the TCP connection without removing
        // any messages or sending any response".
        common::LogInfo("pop3 autologout", {{"session", id_}, {"peer", peer_}});
        co_return std::nullopt;
      }
      waiting_ = true;
      const common::ClientStream::Read read = co_await stream_.ReadMore(
          std::min<std::chrono::steady_clock::duration>(deadline - now, HousekeepingIn()));
      waiting_ = false;
      if (read == common::ClientStream::Read::kData) break;
      if (read == common::ClientStream::Read::kClosed && !shutdown_) co_return std::nullopt;
      if (read == common::ClientStream::Read::kTimeout) {
        const bool alive = co_await Housekeeping();
        if (!alive) co_return std::nullopt;
      }
    }
  }
}

asio::awaitable<std::optional<std::string>> Session::ReadRawLine() {
  parser_.ExpectRawLine();
  std::optional<protocol::Event> event = co_await NextEvent();
  if (!event) co_return std::nullopt;
  if (auto* raw = std::get_if<protocol::RawLine>(&*event)) co_return std::move(raw->text);
  // Over the raw-line limit (ParseError with raw set): the exchange cannot go on.
  co_return std::nullopt;
}

std::optional<std::string> Session::TakePendingUser() {
  std::optional<std::string> user = std::move(pending_user_);
  pending_user_.reset();
  return user;
}

asio::awaitable<bool> Session::StartTls() {
  if (!server_.tls) co_return false;
  const bool ok = co_await stream_.StartTls(*server_.tls, std::chrono::seconds(30));
  // RFC 2595 4: nothing the client sent before the handshake counts.
  parser_.Reset();
  events_.clear();
  mechanisms_.reset();
  pending_user_.reset();
  if (!ok) common::LogInfo("pop3 tls handshake failed", {{"session", id_}, {"peer", peer_}});
  co_return ok;
}

// ---- authentication and backends ----

auth::v1::ConnectionInfo Session::Connection() const {
  return common::MakeConnectionInfo(auth::v1::PROTOCOL_POP3, peer_, local_, stream_.tls(),
                                    server_.settings.instance, id_);
}

common::CallPolicy Session::Policy(bool idempotent) const {
  return common::CallPolicy{
      .deadline = absl::FromChrono(server_.settings.backend_timeout),
      .idempotent = idempotent,
  };
}

asio::awaitable<std::optional<auth::v1::ListMechanismsResponse>> Session::Mechanisms() {
  if (!mechanisms_) {
    const auth::v1::ConnectionInfo connection = Connection();
    mechanisms_ = co_await server_.mechanisms_cache.Lookup(*server_.auth, connection, Policy(true),
                                                           loopback_);
  }
  co_return mechanisms_;
}

asio::awaitable<std::vector<std::string>> Session::Capabilities() {
  // RFC 2449 5: the list may differ between AUTHORIZATION and TRANSACTION; USER, SASL and
  // STLS only make sense before login.
  std::vector<std::string> caps = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                                   // RFC 2449 6.7: Tern never deletes mail by itself.
                                   "EXPIRE NEVER"};
  if (server_.settings.login_delay.count() > 0) {
    caps.push_back(Cat("LOGIN-DELAY ", server_.settings.login_delay.count()));
  }
  if (state_ == protocol::State::kAuthorization) {
    std::optional<auth::v1::ListMechanismsResponse> mechs = co_await Mechanisms();
    if (mechs) {
      // RFC 2595 4 / RFC 1939 7: USER is offered only where plaintext passwords are allowed.
      if (!mechs->login_disabled()) caps.push_back("USER");
      std::string sasl = "SASL";
      for (const std::string& m : mechs->mechanisms()) CatAppend(sasl, " ", m);
      if (mechs->mechanisms_size() > 0) caps.push_back(sasl);
    }
    if (server_.tls && !stream_.tls()) caps.push_back("STLS");
  }
  caps.push_back("IMPLEMENTATION Tern");
  co_return caps;
}

asio::awaitable<std::optional<common::CallMeta>> Session::Meta() {
  const common::SessionToken::Renewal renewal =
      co_await token_.RenewIfDue(*server_.auth, Policy(true), id_);
  if (renewal == common::SessionToken::Renewal::kExpired) {
    closing_ = true;
    co_return std::nullopt;
  }
  std::optional<common::CallMeta> meta(
      common::CallMeta{.request_id = request_id_, .session_token = token_.token()});
  co_return meta;
}

std::chrono::steady_clock::duration Session::HousekeepingIn() const {
  if (state_ != protocol::State::kTransaction) return std::chrono::hours(24);
  const auto lock_in = std::max<std::chrono::steady_clock::duration>(
      std::chrono::seconds(1), lock_renew_at_ - std::chrono::steady_clock::now());
  return std::min(token_.RenewIn(), lock_in);
}

asio::awaitable<bool> Session::Housekeeping() {
  if (state_ != protocol::State::kTransaction) co_return true;
  std::optional<common::CallMeta> meta = co_await Meta();
  if (!meta) {
    common::LogInfo("pop3: session expired", {{"session", id_}, {"user", user_}});
    co_return false;
  }
  if (!lock_lost_ && std::chrono::steady_clock::now() >= lock_renew_at_) {
    const MaildropLocks::Result result = co_await server_.locks->Renew(lock_, *meta);
    lock_renew_at_ = std::chrono::steady_clock::now() + server_.locks->renew_every();
    if (result != MaildropLocks::Result::kHeld) {
      // Another session has the maildrop now: this one may read on but never delete.
      lock_lost_ = true;
      common::LogWarn("pop3: maildrop lock lost", {{"session", id_}, {"user", user_}});
    }
  }
  co_return true;
}

// ---- the maildrop ----

void Session::Unregister() {
  if (registered_) server_.registry->Unregister(id_);
  registered_ = false;
}

asio::awaitable<void> Session::OpenMaildrop(const auth::v1::Session& session) {
  token_.Set(session);
  user_id_ = session.user_id();
  user_ = session.canonical_address();
  std::optional<common::CallMeta> meta = co_await Meta();
  if (!meta) {
    Err("Session could not be started, try again later", protocol::code::kSysTemp);
    co_return;
  }
  // RFC 2449 8.1.1: a login sooner than LOGIN-DELAY after the last one is refused.
  const bool too_soon = co_await server_.locks->TooSoon(user_id_, server_.settings.login_delay);
  if (too_soon) {
    token_ = common::SessionToken();
    Err("Logged in too recently, try again later", protocol::code::kLoginDelay);
    co_return;
  }
  if (server_.registry != nullptr) {
    // The cluster-wide per-user limit, and the entry `ternctl sessions` lists and kicks.
    const common::RegisteredSession entry{.id = id_,
                                          .user = user_,
                                          .protocol = "pop3",
                                          .instance = server_.settings.instance,
                                          .client = peer_,
                                          .started_ms = absl::ToUnixMillis(absl::Now()),
                                          .metad = server_.metad->AddressFor(user_id_)};
    const std::function<void()> kick = common::KickOnStrand(weak_from_this());
    const common::SessionRegistry::Admission admission =
        co_await server_.registry->Register(entry, kick);
    if (admission != common::SessionRegistry::Admission::kAdmitted) {
      token_ = common::SessionToken();
      // RFC 2449 8.1.2: IN-USE, the maildrop cannot be opened now.
      Err("Too many sessions for this user; close some and try again", protocol::code::kInUse);
      co_return;
    }
    registered_ = true;
  }
  lock_ =
      MaildropLocks::Lock{.user_id = user_id_, .holder = Cat(server_.settings.instance, "/", id_)};
  const MaildropLocks::Result locked = co_await server_.locks->Acquire(lock_, *meta);
  if (locked != MaildropLocks::Result::kHeld) {
    token_ = common::SessionToken();
    Unregister();
    // RFC 1939 4: the maildrop could not be locked, so the server answers -ERR and stays
    // in AUTHORIZATION; RFC 2449 8.1.2 gives the reason a code.
    if (locked == MaildropLocks::Result::kInUse) {
      Err("Maildrop is in use by another session", protocol::code::kInUse);
    } else {
      Err("Maildrop cannot be locked now, try again later", protocol::code::kSysTemp);
    }
    co_return;
  }
  lock_renew_at_ = std::chrono::steady_clock::now() + server_.locks->renew_every();
  lock_lost_ = false;
  const bool loaded = co_await LoadMaildrop();
  if (!loaded) {
    co_await ReleaseLock();
    Unregister();
    token_ = common::SessionToken();
    co_return;  // LoadMaildrop answered
  }
  state_ = protocol::State::kTransaction;
  uint64_t octets = 0;
  for (const Message& m : messages_) octets += m.size;
  common::LogInfo(
      "pop3 login",
      {{"session", id_},
       {"user", user_},
       {"peer", peer_},
       {"messages", messages_.size()},
       {"lock", lock_.backend == MaildropLocks::Backend::kRedis ? "redis" : "postgres"}});
  Ok(Cat("Maildrop has ", messages_.size(), " messages (", octets, " octets)"));
}

asio::awaitable<bool> Session::LoadMaildrop() {
  std::optional<common::CallMeta> meta = co_await Meta();
  if (!meta) {
    Err("Session expired", protocol::code::kSysTemp);
    co_return false;
  }
  md::GetStatusRequest status_req;
  status_req.set_name("INBOX");
  status_req.add_items(md::STATUS_ITEM_UIDNEXT);
  status_req.add_items(md::STATUS_ITEM_UIDVALIDITY);
  md::MailboxStatus status;
  common::Outcome outcome = co_await common::Call(
      Policy(true), *meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        metad()->async()->GetStatus(ctx, &status_req, &status, std::move(done));
      });
  if (!outcome.ok()) {
    Fail(outcome, "Maildrop cannot be opened");
    co_return false;
  }
  mailbox_id_ = status.mailbox_id();
  uidvalidity_ = status.uidvalidity();
  messages_.clear();
  if (status.uidnext() <= 1) co_return true;
  // RFC 1939 4: the listing is fixed at login; mail that arrives later waits for the next
  // session. Only UIDs below this UIDNEXT are listed.
  md::FetchMessagesRequest req;
  req.set_mailbox_id(mailbox_id_);
  req.set_uidvalidity(uidvalidity_);
  md::UidRange* range = req.mutable_uid_set()->add_ranges();
  range->set_first(1);
  range->set_last(status.uidnext() - 1);
  req.mutable_attributes()->set_size(true);
  req.mutable_attributes()->set_pop3_size(true);
  req.mutable_attributes()->set_blob_id(true);
  std::vector<md::FetchMessagesResponse> chunks;
  outcome = co_await common::CallStream<md::FetchMessagesResponse>(
      Policy(true), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        metad()->async()->FetchMessages(ctx, &req, reader);
      });
  if (!outcome.ok()) {
    Fail(outcome, "Maildrop cannot be listed");
    co_return false;
  }
  for (md::FetchMessagesResponse& chunk : chunks) {
    for (md::MessageMeta& m : *chunk.mutable_messages()) {
      Message msg;
      msg.uid = m.uid();
      msg.raw_size = m.size();
      msg.size = m.pop3_size() > 0 ? m.pop3_size() : m.size();
      msg.blob_id = std::move(*m.mutable_blob_id());
      msg.grant = std::move(*m.mutable_blob_grant());
      msg.grant_expires = absl::FromUnixSeconds(m.blob_grant_expires_at().seconds());
      messages_.push_back(std::move(msg));
    }
  }
  co_return true;
}

Message* Session::Lookup(std::string_view number, uint32_t* number_out) {
  const std::optional<uint32_t> n = protocol::ParseMessageNumber(number);
  if (!n || *n > messages_.size()) {
    Err("No such message");
    return nullptr;
  }
  Message& m = messages_[*n - 1];
  // RFC 1939 5: a message marked as deleted may not be referred to.
  if (m.deleted) {
    Err("Message is deleted");
    return nullptr;
  }
  if (number_out != nullptr) *number_out = *n;
  return &m;
}

std::string Session::UniqueId(const Message& m) const {
  // RFC 1939 7: the same message keeps its unique-id across sessions. UIDVALIDITY values
  // come from one cluster-wide sequence (metad's schema), so (UIDVALIDITY, UID) names one
  // message forever, on every front-end and after every restart, and a user deleted and
  // created again under the same address does not get ids a client has already seen.
  return Cat(uidvalidity_, ".", m.uid);
}

asio::awaitable<bool> Session::RefreshGrant(Message& m) {
  if (m.grant_expires - kGrantMargin > absl::Now()) co_return true;
  std::optional<common::CallMeta> meta = co_await Meta();
  if (!meta) {
    Err("Session expired", protocol::code::kSysTemp);
    co_return false;
  }
  md::FetchMessagesRequest req;
  req.set_mailbox_id(mailbox_id_);
  req.set_uidvalidity(uidvalidity_);
  md::UidRange* range = req.mutable_uid_set()->add_ranges();
  range->set_first(m.uid);
  range->set_last(m.uid);
  req.mutable_attributes()->set_blob_id(true);
  std::vector<md::FetchMessagesResponse> chunks;
  common::Outcome outcome = co_await common::CallStream<md::FetchMessagesResponse>(
      Policy(true), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        metad()->async()->FetchMessages(ctx, &req, reader);
      });
  if (!outcome.ok()) {
    Fail(outcome, "Message cannot be read");
    co_return false;
  }
  for (const md::FetchMessagesResponse& chunk : chunks) {
    for (const md::MessageMeta& meta_msg : chunk.messages()) {
      m.grant = meta_msg.blob_grant();
      m.grant_expires = absl::FromUnixSeconds(meta_msg.blob_grant_expires_at().seconds());
      co_return true;
    }
  }
  // Expunged by an IMAP session meanwhile: the bytes are gone.
  Err("Message was removed by another session");
  co_return false;
}

asio::awaitable<void> Session::SendMessage(Message& m, std::string_view ok_text,
                                           std::optional<uint64_t> top_lines) {
  const bool granted = co_await RefreshGrant(m);
  if (!granted) co_return;
  protocol::DotStuffer stuffer;
  std::optional<protocol::TopFilter> top;
  if (top_lines) top.emplace(*top_lines);
  uint64_t offset = 0;
  bool started = false;
  for (;;) {
    std::optional<common::CallMeta> meta = co_await Meta();
    if (!meta) break;
    blob::v1::GetRequest req;
    req.set_blob_id(m.blob_id);
    req.set_blob_grant(m.grant);
    blob::v1::ByteRange* range = req.add_ranges();
    range->set_offset(offset);
    range->set_length(kBlobChunk);
    std::vector<blob::v1::GetResponse> chunks;
    common::Outcome outcome = co_await common::CallStream<blob::v1::GetResponse>(
        Policy(true), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
          server_.blobd->async()->Get(ctx, &req, reader);
        });
    if (!outcome.ok()) {
      if (!started) {
        Fail(outcome, "Message cannot be read");
        co_return;
      }
      // The +OK and part of the message are out: a multi-line response cannot be taken
      // back, so the connection ends without the terminator and nothing is deleted.
      common::LogWarn("pop3: blob read failed during RETR; closing",
                      {{"session", id_}, {"error", outcome.status.error_message()}});
      closing_ = true;
      co_return;
    }
    if (!started) {
      Ok(ok_text);
      started = true;
    }
    uint64_t got = 0;
    for (const blob::v1::GetResponse& c : chunks) {
      got += c.data().size();
      std::string_view data = c.data();
      if (top) {
        data = top->Take(data);
      }
      stuffer.Append(data, out_);
      if (top && top->done()) break;
    }
    offset += got;
    if (server_.metrics) server_.metrics->retrieved_bytes.Increment(static_cast<double>(got));
    if (got == 0 || offset >= m.raw_size || (top && top->done())) break;
    if (out_.size() >= kFlushAt) {
      const bool flushed = co_await Flush();
      if (!flushed) co_return;
      // A long download renews what it holds between chunks.
      if (std::chrono::steady_clock::now() >= lock_renew_at_ || token_.RenewIn().count() <= 0) {
        const bool alive = co_await Housekeeping();
        if (!alive) {
          closing_ = true;
          co_return;
        }
      }
    }
  }
  if (!started) {
    Err("Session expired", protocol::code::kSysTemp);
    co_return;
  }
  stuffer.Finish(out_);
}

asio::awaitable<void> Session::ReleaseLock() {
  if (lock_.backend == MaildropLocks::Backend::kNone) co_return;
  std::optional<common::CallMeta> meta = co_await Meta();
  const common::CallMeta fallback{.request_id = request_id_, .session_token = token_.token()};
  const common::CallMeta& use = meta ? *meta : fallback;
  co_await server_.locks->Release(lock_, use);
}

asio::awaitable<void> Session::Update() {
  state_ = protocol::State::kUpdate;
  closing_ = true;
  md::ExpungeRequest req;
  req.set_mailbox_id(mailbox_id_);
  req.set_uidvalidity(uidvalidity_);
  req.set_ignore_deleted_flag(true);
  size_t kept = 0;
  for (const Message& m : messages_) {
    if (!m.deleted) {
      ++kept;
      continue;
    }
    md::UidRange* r = req.mutable_uid_set()->add_ranges();
    r->set_first(m.uid);
    r->set_last(m.uid);
  }
  std::optional<common::CallMeta> meta = co_await Meta();
  if (req.uid_set().ranges_size() > 0) {
    if (!meta) {
      Err("Session expired; no messages were deleted", protocol::code::kSysTemp);
      co_return;
    }
    // The lock must still be this session's when anything is deleted (RFC 1939 8).
    if (!lock_lost_) {
      const MaildropLocks::Result renewed = co_await server_.locks->Renew(lock_, *meta);
      lock_lost_ = renewed != MaildropLocks::Result::kHeld;
    }
    if (lock_lost_) {
      co_await ReleaseLock();
      Err("Maildrop lock was lost; no messages were deleted", protocol::code::kSysTemp);
      co_return;
    }
    md::ExpungeResponse resp;
    // All deletions in one transaction: all of them or none (RFC 1939 6).
    common::Outcome outcome = co_await common::Call(
        Policy(true), *meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
          metad()->async()->Expunge(ctx, &req, &resp, std::move(done));
        });
    co_await ReleaseLock();
    if (!outcome.ok()) {
      common::LogWarn(
          "pop3: UPDATE failed",
          {{"session", id_}, {"user", user_}, {"error", outcome.status.error_message()}});
      // RFC 1939 6: "-ERR some deleted messages not removed".
      Err("Some deleted messages not removed", protocol::code::kSysTemp);
      co_return;
    }
  } else {
    co_await ReleaseLock();
  }
  Ok(Cat("Tern POP3 server signing off (", kept, " messages left)"));
}

// ---- the command loop ----

asio::awaitable<void> Session::Dispatch(const protocol::Command& command) {
  request_id_ = common::NewRequestId();
  const protocol::CommandSpec* spec = protocol::FindCommand(command.verb);
  const auto start = std::chrono::steady_clock::now();
  std::string_view verb = "UNKNOWN";
  const size_t before = out_.size();
  // RFC 1939 7: PASS must follow USER directly; any other command forgets the user name.
  if (command.verb != "PASS") pending_user_.reset();
  switch (protocol::Check(spec, state_, command.args.size())) {
    case protocol::Gate::kUnknown:
      Err("Unknown command");
      break;
    case protocol::Gate::kWrongState:
      verb = spec->verb;
      Err(state_ == protocol::State::kAuthorization ? "Log in first"
                                                    : "Command not valid in this state");
      break;
    case protocol::Gate::kBadArgs:
      verb = spec->verb;
      Err("Wrong number of arguments");
      break;
    case protocol::Gate::kAllowed: {
      verb = spec->verb;
      if (state_ == protocol::State::kTransaction) {
        const bool alive = co_await Housekeeping();
        if (!alive) {
          Err("Session expired, please log in again", protocol::code::kSysTemp);
          closing_ = true;
          break;
        }
      }
      const Handler handler = FindHandler(spec->verb);
      co_await handler(*this, command);
      break;
    }
  }
  const bool ok = out_.size() > before && out_[before] == '+';
  if (server_.metrics) server_.metrics->Command(verb, ok ? "ok" : "err", start);
}

asio::awaitable<void> Session::Run() {
  if (server_.metrics) {
    server_.metrics->connections.Increment();
    server_.metrics->connections_total.Increment();
  }
  login_deadline_ = std::chrono::steady_clock::now() + server_.settings.login_timeout;
  bool ok = true;
  if (implicit_tls_) ok = co_await StartTls();
  if (ok) {
    // No APOP timestamp: APOP is not offered (authd keeps no plaintext secrets).
    protocol::AppendGreeting(out_, "Tern POP3 server ready", "");
    while (!closing_) {
      std::optional<protocol::Event> event = co_await NextEvent();
      if (!event) break;
      if (auto* error = std::get_if<protocol::ParseError>(&*event)) {
        // RFC 1939 7: PASS only directly after USER; an invalid line in between counts.
        pending_user_.reset();
        Err(error->message);
        continue;
      }
      if (std::holds_alternative<protocol::RawLine>(*event)) continue;  // not expected here
      co_await Dispatch(std::get<protocol::Command>(*event));
      if (out_.size() >= kFlushAt) {
        const bool flushed = co_await Flush();
        if (!flushed) break;
      }
      if (start_tls_) {
        start_tls_ = false;
        const bool flushed = co_await Flush();
        if (!flushed) break;
        const bool started = co_await StartTls();
        if (!started) break;
      }
    }
  }
  // The registry forgets the session before the client hears QUIT's answer (a new login
  // right after it must find the place free).
  if (registered_) {
    registered_ = false;
    co_await server_.registry->Release(id_);
  }
  co_await Flush();
  // A connection that ends without QUIT deletes nothing (RFC 1939 6); its lock goes.
  co_await ReleaseLock();
  co_await stream_.Close(!ok || shutdown_);
  if (server_.metrics) server_.metrics->connections.Decrement();
  common::LogDebug("pop3 session ended", {{"session", id_}, {"peer", peer_}});
}

}  // namespace tern::pop3::server
