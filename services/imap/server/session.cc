#include "services/imap/server/session.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "google/protobuf/util/time_util.h"
#include "services/common/log.h"
#include "services/common/sasl.h"
#include "services/common/strings.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/notifier.h"

// A note on style: co_await results are stored in a named variable before they are tested
// (never `if (!co_await f())`, `a && co_await f()` or a temporary argument to a coroutine):
// GCC 12 miscompiles co_await inside conditions and destroys such temporaries twice.

namespace tern::imap::server {
namespace {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
namespace md = metadata::v1;

constexpr auto kUse = as_tuple(asio::use_awaitable);
// How long a write may wait for the client to read.
constexpr std::chrono::seconds kWriteTimeout{120};
// Literals before login carry a user name or password at most (RFC 7888 4 lets a server
// limit them); after it, APPENDLIMIT applies.
constexpr size_t kPreLoginLiteral = 8192;

std::string NewSessionId() { return common::NewRequestId(); }

MessageFlags FromProto(const md::Flags& flags) {
  MessageFlags out{.system = flags.system(), .keywords = {}};
  out.keywords.assign(flags.keywords().begin(), flags.keywords().end());
  return out;
}

}  // namespace

Session::Session(ServerContext& server, common::Accepted connection)
    : server_(server),
      strand_(asio::make_strand(connection.socket.get_executor())),
      stream_(std::move(connection.socket), strand_),
      implicit_tls_(connection.implicit_tls),
      peer_(std::move(connection.peer)),
      local_(std::move(connection.local)),
      loopback_(connection.loopback),
      id_(NewSessionId()),
      parser_(protocol::Limits{.max_line = server.settings.max_line,
                               .max_literal = server.settings.append_limit,
                               .max_depth = 16,
                               .max_items = 100000}),
      wake_(strand_, 1) {}

Session::~Session() {
  // A session whose coroutine was destroyed without finishing (the event loop stopped).
  if (registered_ && server_.registry != nullptr) server_.registry->Unregister(id_);
}

void Session::Notify() {
  notified_ = true;
  wake_.try_send(asio::error_code{}, true);
}

void Session::Kick() {
  kicked_ = true;
  Shutdown();
}

void Session::Shutdown() {
  shutdown_ = true;
  wake_.try_send(asio::error_code{}, true);
  stream_.Cancel();
}

std::chrono::steady_clock::duration Session::PollInterval() const {
  const bool notices = server_.notifier != nullptr && server_.notifier->connected();
  return notices ? server_.settings.resync_interval : server_.settings.poll_interval;
}

std::chrono::steady_clock::duration Session::IdleTimeout() const {
  if (state_ == protocol::SessionState::kNotAuthenticated) {
    // Before login the limit is absolute: NOOPs do not keep an anonymous connection open.
    return std::max<std::chrono::steady_clock::duration>(
        std::chrono::seconds(0), login_deadline_ - std::chrono::steady_clock::now());
  }
  return server_.settings.idle_timeout;
}

// ---- output ----

void Session::Untagged(std::string_view line) {
  out_ += "* ";
  out_ += line;
  out_ += "\r\n";
}

void Session::Status(std::string_view tag, protocol::Status status, std::string_view code,
                     std::string_view text) {
  protocol::AppendStatus(out_, tag, status, code, text);
}

void Session::Ok(std::string_view text, std::string_view code) {
  result_ = Result{protocol::Status::kOk, std::string(code), std::string(text)};
}
void Session::No(std::string_view text, std::string_view code) {
  result_ = Result{protocol::Status::kNo, std::string(code), std::string(text)};
}
void Session::Bad(std::string_view text, std::string_view code) {
  result_ = Result{protocol::Status::kBad, std::string(code), std::string(text)};
}

asio::awaitable<bool> Session::Flush() {
  // A client that stops reading must not hold the session (and out_) forever.
  const bool ok = co_await stream_.Write(out_, kWriteTimeout);
  if (!ok) closing_ = true;
  co_return ok;
}

// ---- input ----

asio::awaitable<Session::Wait> Session::WaitInputOrNotice(
    std::chrono::steady_clock::duration timeout) {
  if (stream_.HasBufferedInput()) co_return Wait::kInput;
  if (shutdown_) co_return Wait::kClosed;
  if (notified_) co_return Wait::kNotified;
  asio::steady_timer timer(strand_, timeout);
  for (;;) {
    auto result = co_await (stream_.socket().async_wait(asio::socket_base::wait_read, kUse) ||
                            timer.async_wait(kUse) || wake_.async_receive(kUse));
    if (shutdown_) co_return Wait::kClosed;
    switch (result.index()) {
      case 0:
        co_return std::get<0>(std::get<0>(result)) ? Wait::kClosed : Wait::kInput;
      case 1:
        co_return Wait::kTimeout;
      default:
        // A wake-up left over from a notice already handled (Sync clears notified_ but
        // not the channel): keep waiting until the same deadline.
        if (notified_) co_return Wait::kNotified;
        break;
    }
  }
}

// Reads what the connection has into the stream's input. False at end of stream, error or
// timeout (timed_out_ tells which).
asio::awaitable<bool> Session::ReadMore(std::chrono::steady_clock::duration timeout) {
  const common::ClientStream::Read read = co_await stream_.ReadMore(timeout);
  if (read == common::ClientStream::Read::kTimeout) timed_out_ = true;
  co_return read == common::ClientStream::Read::kData;
}

asio::awaitable<std::optional<protocol::Event>> Session::NextEvent() {
  for (;;) {
    if (!events_.empty()) {
      protocol::Event event = std::move(events_.front());
      events_.pop_front();
      if (std::holds_alternative<protocol::NeedContinuation>(event)) {
        protocol::AppendContinuation(out_, "Ready for literal data");
        const bool awaited1 = co_await Flush();
        if (!awaited1) co_return std::nullopt;
        continue;
      }
      co_return event;
    }
    if (parser_.closed() || closing_) co_return std::nullopt;
    if (!stream_.pending().empty()) {
      // Literal bytes go in bulk; otherwise one line at a time: a command ends at the end
      // of what was fed, so bytes after it (IDLE's DONE, an AUTHENTICATE response) stay in
      // the input for the command to read raw.
      const std::string_view pending = stream_.pending();
      size_t len =
          static_cast<size_t>(std::min<uint64_t>(parser_.literal_remaining(), pending.size()));
      if (len == 0) {
        const size_t lf = pending.find('\n');
        len = lf == std::string::npos ? pending.size() : lf + 1;
      }
      std::vector<protocol::Event> events;
      parser_.Feed(pending.substr(0, len), events);
      stream_.Consume(len);
      for (auto& e : events) events_.push_back(std::move(e));
      continue;
    }
    const bool flushed = co_await Flush();
    if (!flushed) co_return std::nullopt;
    // Wait for the client, waking to renew the session token while it stays quiet.
    const auto deadline = std::chrono::steady_clock::now() + IdleTimeout();
    bool got = false;
    while (!got) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        Untagged("BYE Autologout; idle for too long");
        co_return std::nullopt;
      }
      timed_out_ = false;
      got = co_await ReadMore(
          std::min<std::chrono::steady_clock::duration>(deadline - now, RenewIn()));
      if (got) break;
      if (shutdown_) {
        Untagged(ShutdownBye());
        co_return std::nullopt;
      }
      if (!timed_out_) co_return std::nullopt;  // the connection ended
      if (state_ != protocol::SessionState::kNotAuthenticated) {
        const std::optional<common::CallMeta> renewed = co_await Meta();
        if (!renewed) co_return std::nullopt;
      }
    }
  }
}

std::chrono::steady_clock::duration Session::RenewIn() const {
  if (state_ == protocol::SessionState::kNotAuthenticated) return std::chrono::hours(24);
  return token_.RenewIn();
}

asio::awaitable<std::optional<std::string>> Session::ReadRawLine(size_t max_bytes) {
  for (;;) {
    const std::string_view pending = stream_.pending();
    const size_t lf = pending.find('\n');
    if (lf != std::string::npos) {
      if (lf > max_bytes) co_return std::nullopt;
      std::string line(pending.substr(0, lf));
      stream_.Consume(lf + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      co_return line;
    }
    if (pending.size() > max_bytes) co_return std::nullopt;
    const bool awaited4 = co_await Flush();
    if (!awaited4) co_return std::nullopt;
    timed_out_ = false;
    const bool awaited5 = co_await ReadMore(IdleTimeout());
    if (!awaited5) co_return std::nullopt;
  }
}

asio::awaitable<bool> Session::StartTls() {
  if (!server_.tls || stream_.tls()) co_return false;
  // The stream drops what the client sent before the handshake: it must not be taken as
  // protected (RFC 3501 6.2.1; a STARTTLS command-injection defence).
  const bool ok = co_await stream_.StartTls(*server_.tls, server_.settings.login_timeout);
  events_.clear();
  mechanisms_.reset();
  if (!ok) common::LogInfo("imap tls handshake failed", {{"session", id_}, {"peer", peer_}});
  co_return ok;
}

// ---- capabilities, authentication ----

asio::awaitable<std::string> Session::Capabilities() {
  std::string caps =
      "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN "
      "SPECIAL-USE";
  CatAppend(caps, " APPENDLIMIT=", server_.settings.append_limit);
  if (state_ != protocol::SessionState::kNotAuthenticated) co_return caps;
  if (server_.tls && !stream_.tls()) caps += " STARTTLS";
  if (!mechanisms_) {
    // The answer depends only on TLS and loopback (auth.proto ListMechanisms), so the
    // process keeps it for a minute instead of asking authd at every greeting.
    const auth::v1::ConnectionInfo connection = Connection();
    mechanisms_ = co_await server_.mechanisms_cache.Lookup(*server_.auth, connection, Policy(true),
                                                           loopback_);
    if (!mechanisms_) {
      // Without authd nobody can log in; say so and advertise nothing that would fail.
      caps += " LOGINDISABLED";
      co_return caps;
    }
  }
  if (mechanisms_->login_disabled()) caps += " LOGINDISABLED";
  for (const std::string& m : mechanisms_->mechanisms()) CatAppend(caps, " AUTH=", m);
  co_return caps;
}

auth::v1::ConnectionInfo Session::Connection() const {
  return common::MakeConnectionInfo(auth::v1::PROTOCOL_IMAP, peer_, local_, stream_.tls(),
                                    server_.settings.instance, id_);
}

asio::awaitable<bool> Session::LoggedIn(const auth::v1::Session& session) {
  if (server_.registry != nullptr) {
    // The cluster-wide per-user limit, and the entry `ternctl sessions` lists and kicks.
    const common::RegisteredSession entry{
        .id = id_,
        .user = session.canonical_address(),
        .protocol = "imap",
        .instance = server_.settings.instance,
        .client = peer_,
        .started_ms = absl::ToUnixMillis(absl::Now()),
        .metad = server_.metad->AddressFor(session.user_id())};
    const std::function<void()> kick = common::KickOnStrand(weak_from_this());
    const common::SessionRegistry::Admission admission =
        co_await server_.registry->Register(entry, kick);
    if (admission != common::SessionRegistry::Admission::kAdmitted) {
      common::LogInfo("imap login refused: too many sessions for the user",
                      {{"session", id_}, {"user", session.canonical_address()}, {"peer", peer_}});
      co_return false;
    }
    registered_ = true;
  }
  token_.Set(session);
  parser_.SetMaxLiteral(server_.settings.append_limit);
  user_id_ = session.user_id();
  user_ = session.canonical_address();
  state_ = protocol::SessionState::kAuthenticated;
  common::LogInfo("imap login", {{"session", id_}, {"user", user_}, {"peer", peer_}});
  co_return true;
}

common::CallPolicy Session::Policy(bool idempotent) const {
  return common::CallPolicy{
      .deadline = absl::FromChrono(server_.settings.backend_timeout),
      .idempotent = idempotent,
  };
}

asio::awaitable<std::optional<common::CallMeta>> Session::Meta() {
  const common::SessionToken::Renewal renewal =
      co_await token_.RenewIfDue(*server_.auth, Policy(true), id_);
  if (renewal == common::SessionToken::Renewal::kExpired) {
    Untagged("BYE [UNAVAILABLE] Session expired, please log in again");
    closing_ = true;
    co_return std::nullopt;
  }
  std::optional<common::CallMeta> meta(
      common::CallMeta{.request_id = request_id_, .session_token = token_.token()});
  co_return meta;
}

void Session::Fail(const Outcome& outcome, std::string_view what) {
  md::ErrorReason reason = md::ERROR_REASON_UNSPECIFIED;
  if (!outcome.reason.empty()) md::ErrorReason_Parse(outcome.reason, &reason);
  switch (reason) {
    case md::ERROR_REASON_TRYCREATE:
      return No(Cat(what, ": no such mailbox"), protocol::code::kTryCreate);
    case md::ERROR_REASON_NONEXISTENT:
      return No(Cat(what, ": no such mailbox"), protocol::code::kNonExistent);
    case md::ERROR_REASON_ALREADYEXISTS:
      return No(Cat(what, ": mailbox already exists"), protocol::code::kAlreadyExists);
    case md::ERROR_REASON_OVERQUOTA:
      return No(Cat(what, ": quota exceeded"), protocol::code::kOverQuota);
    case md::ERROR_REASON_TOOBIG:
      return No(Cat(what, ": message too big"), protocol::code::kTooBig);
    case md::ERROR_REASON_LIMIT:
      return No(Cat(what, ": limit reached"), protocol::code::kLimit);
    case md::ERROR_REASON_NOSELECT:
      return No(Cat(what, ": mailbox is not selectable"), protocol::code::kCannot);
    case md::ERROR_REASON_HASCHILDREN:
      return No(Cat(what, ": mailbox has inferior names"), protocol::code::kHasChildren);
    case md::ERROR_REASON_CANNOT:
      return No(Cat(what, ": not possible"), protocol::code::kCannot);
    case md::ERROR_REASON_USEATTR:
      return No(Cat(what, ": special-use attribute not supported"), protocol::code::kUseAttr);
    case md::ERROR_REASON_BADCHARSET:
      return No(Cat(what, ": charset not supported"), "BADCHARSET (US-ASCII UTF-8)");
    default:
      break;
  }
  switch (outcome.status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return No(Cat(what, ": invalid arguments"), protocol::code::kCannot);
    case grpc::StatusCode::NOT_FOUND:
      return No(Cat(what, ": no such mailbox"), protocol::code::kNonExistent);
    case grpc::StatusCode::ALREADY_EXISTS:
      return No(Cat(what, ": already exists"), protocol::code::kAlreadyExists);
    case grpc::StatusCode::PERMISSION_DENIED:
      return No(Cat(what, ": permission denied"), protocol::code::kNoPerm);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Without a reason it is a full work queue (metadata.proto conventions): busy, not a
      // limit of the user's; Call already retried it.
      if (outcome.reason.empty()) {
        return No(Cat(what, ": server busy, try again"), protocol::code::kUnavailable);
      }
      return No(Cat(what, ": limit reached"), protocol::code::kLimit);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return No(Cat(what, ": temporarily unavailable, try again"), protocol::code::kUnavailable);
    default:
      common::LogError("imap: backend call failed",
                       {{"session", id_},
                        {"request_id", request_id_},
                        {"what", what},
                        {"code", static_cast<int>(outcome.status.error_code())},
                        {"reason", outcome.reason},
                        {"error", outcome.status.error_message()}});
      return No(Cat(what, ": internal server error"), protocol::code::kServerBug);
  }
}

// ---- selected state ----

void Session::Select(Selected selected) {
  // The caller deselected before loading the view (RFC 3501 6.3.1).
  if (watching_ && server_.notifier) server_.notifier->Unwatch(selected_.mailbox_id, this);
  watching_ = false;
  selected_ = std::move(selected);
  state_ = protocol::SessionState::kSelected;
  high_uid_ = std::max(view_.last_uid(), selected_.uidnext > 0 ? selected_.uidnext - 1 : 0);
  announced_keywords_ = view_.keywords().size();
  last_sync_ = absl::Now();
  notified_ = false;
  if (server_.notifier) {
    server_.notifier->Watch(selected_.mailbox_id, selected_.synced_modseq, weak_from_this());
    watching_ = true;
  }
}

void Session::Deselect() {
  if (watching_ && server_.notifier) server_.notifier->Unwatch(selected_.mailbox_id, this);
  watching_ = false;
  selected_ = Selected{};
  view_.Clear();
  if (state_ == protocol::SessionState::kSelected) state_ = protocol::SessionState::kAuthenticated;
}

void Session::FlushExpunges() {
  for (uint32_t seq : view_.TakeExpunged()) Untagged(Cat(seq, " EXPUNGE"));
}

asio::awaitable<bool> Session::Sync(bool allow_expunge, SyncMode mode) {
  const bool poll = mode == SyncMode::kPoll;
  const bool shared = (notified_ || mode != SyncMode::kOwn) && !dirty_;
  notified_ = false;
  dirty_ = false;
  if (state_ != protocol::SessionState::kSelected) co_return true;
  ChangeNotifier* hub = server_.notifier;
  ChangeNotifier::Plan plan;
  plan.kind = ChangeNotifier::Plan::kDirect;
  // A notice or a poll: the process fetches once for all its sessions on this mailbox
  // (notifier.h). Its own change (APPEND, COPY into it) or a command that asks (NOOP,
  // CHECK, IDLE's start): this session asks for itself.
  if (shared && hub != nullptr) {
    plan = hub->Lookup(selected_.mailbox_id, selected_.synced_modseq, this, !selected_.read_only,
                       poll ? PollInterval() : std::chrono::steady_clock::duration{});
  }
  switch (plan.kind) {
    case ChangeNotifier::Plan::kNone:
    case ChangeNotifier::Plan::kWait:
      // Up to date with what the process knows, or woken again when the fetch is in.
      if (allow_expunge) FlushExpunges();
      last_sync_ = absl::Now();
      co_return true;
    case ChangeNotifier::Plan::kApply:
      for (const auto& batch : plan.batches) Apply(*batch, allow_expunge);
      last_sync_ = absl::Now();
      co_return true;
    case ChangeNotifier::Plan::kFetch:
    case ChangeNotifier::Plan::kDirect:
      break;
  }
  const bool fetch = plan.kind == ChangeNotifier::Plan::kFetch;
  std::optional<common::CallMeta> meta = co_await Meta();
  if (!meta) {
    if (fetch) hub->Publish(selected_.mailbox_id, nullptr, this);
    co_return false;
  }
  md::GetChangesRequest req;
  req.set_mailbox_id(selected_.mailbox_id);
  req.set_uidvalidity(selected_.uidvalidity);
  req.set_since_modseq(fetch ? plan.since : selected_.synced_modseq);
  req.set_claim_recent(!selected_.read_only);
  auto batch = std::make_shared<ChangeBatch>();
  batch->from = req.since_modseq();
  batch->recent_owner = this;
  Outcome outcome = co_await CallStream<md::GetChangesResponse>(
      Policy(true), *meta, batch->chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        metad()->async()->GetChanges(ctx, &req, reader);
      });
  last_sync_ = absl::Now();
  if (!outcome.ok()) {
    if (fetch) hub->Publish(selected_.mailbox_id, nullptr, this);
    md::ErrorReason reason = md::ERROR_REASON_UNSPECIFIED;
    if (!outcome.reason.empty()) md::ErrorReason_Parse(outcome.reason, &reason);
    if (reason == md::ERROR_REASON_NONEXISTENT || reason == md::ERROR_REASON_UIDVALIDITY_CHANGED ||
        outcome.status.error_code() == grpc::StatusCode::NOT_FOUND ||
        reason == md::ERROR_REASON_CHANGES_PRUNED) {
      // The mailbox was deleted or re-created under us: the view cannot be kept
      // (RFC 3501 2.3.1.1 forbids reusing UIDs under one UIDVALIDITY).
      Untagged("BYE [UNAVAILABLE] The selected mailbox was deleted or changed; please reconnect");
      closing_ = true;
      co_return false;
    }
    // Transient: keep the view and try again at the next opportunity.
    common::LogWarn("imap: GetChanges failed",
                    {{"session", id_}, {"error", outcome.status.error_message()}});
    co_return true;
  }
  batch->to = batch->from;
  for (const md::GetChangesResponse& chunk : batch->chunks) {
    if (chunk.has_summary()) {
      batch->to = std::max(batch->from, chunk.summary().highest_modseq());
      batch->uidnext = chunk.summary().uidnext();
    }
  }
  std::shared_ptr<const ChangeBatch> done = batch;
  if (fetch) {
    hub->Publish(selected_.mailbox_id, done, this);
    for (const auto& b : plan.batches) Apply(*b, allow_expunge);
  } else if (hub != nullptr && !selected_.read_only) {
    // (A read-only session's batch claimed no \Recent: not for its neighbours.)
    hub->Offer(selected_.mailbox_id, done);
  }
  Apply(*done, allow_expunge);
  co_return true;
}

void Session::Apply(const ChangeBatch& batch, bool allow_expunge) {
  // \Recent belongs to the session whose call claimed it (RFC 3501 2.3.2).
  const bool mine = batch.recent_owner == this;
  auto flags_of = [mine](const md::MessageFlags& m) {
    MessageFlags f = FromProto(m.flags());
    if (!mine) f.system &= ~kRecent;
    return f;
  };
  const uint32_t old_exists = view_.exists();
  const uint32_t old_recent = view_.recent();
  std::vector<const md::MessageFlags*> flag_changes;
  std::vector<const md::MessageFlags*> added;
  for (const md::GetChangesResponse& chunk : batch.chunks) {
    for (const md::MessageFlags& m : chunk.changed()) {
      if (m.uid() > high_uid_) {
        added.push_back(&m);
      } else if (std::optional<uint32_t> seq = view_.SeqOf(m.uid())) {
        // A batch kept in memory may be older than what this session stored itself.
        if (view_.IsExpunged(m.uid()) || view_.ModseqAt(*seq) > m.modseq()) continue;
        if (view_.Update(*seq, m.modseq(), flags_of(m))) flag_changes.push_back(&m);
      }
    }
    for (const md::UidRange& r : chunk.vanished().ranges()) {
      const uint32_t last = r.last() == 0 ? view_.last_uid() : r.last();
      view_.MarkExpungedRange(std::min(r.first(), last), std::max(r.first(), last));
    }
  }
  if (allow_expunge) FlushExpunges();
  for (const md::MessageFlags* m : added) {
    view_.Append(m->uid(), m->modseq(), flags_of(*m));
    high_uid_ = m->uid();
  }
  AnnounceKeywords();
  if (view_.exists() != old_exists || !added.empty()) {
    Untagged(Cat(view_.exists(), " EXISTS"));
  }
  if (view_.recent() != old_recent) Untagged(Cat(view_.recent(), " RECENT"));
  // Numbers are looked up after the expunges just sent, which renumbered the view.
  for (const md::MessageFlags* m : flag_changes) {
    const std::optional<uint32_t> seq = view_.SeqOf(m->uid());
    if (!seq || view_.IsExpunged(m->uid())) continue;
    Untagged(Cat(*seq, " FETCH (UID ", m->uid(), " FLAGS ", FormatFlags(view_.FlagsAt(*seq)), ")"));
  }
  if (batch.to > selected_.synced_modseq) {
    selected_.synced_modseq = batch.to;
    if (batch.uidnext != 0) selected_.uidnext = batch.uidnext;
  }
}

void Session::AnnounceKeywords() {
  // RFC 3501 7.2.6: FLAGS (and PERMANENTFLAGS) again when the set of keywords grows, from
  // another session or through this one's STORE or FETCH.
  if (state_ != protocol::SessionState::kSelected ||
      view_.keywords().size() == announced_keywords_) {
    return;
  }
  announced_keywords_ = view_.keywords().size();
  std::string flags = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
  for (const std::string& k : view_.keywords()) CatAppend(flags, " ", k);
  Untagged(Cat("FLAGS ", flags, ")"));
  if (!selected_.read_only) {
    Untagged(Cat("OK [PERMANENTFLAGS ", flags, selected_.may_create_keywords ? " \\*" : "",
                 ")] Flags permitted"));
  }
}

bool Session::ToUidSet(std::string_view set_text, bool uid, md::UidSet& out) {
  std::optional<protocol::SequenceSet> set = protocol::ParseSequenceSet(set_text);
  if (!set) {
    Bad("Invalid sequence set");
    return false;
  }
  return ToUidSet(*set, uid, out);
}

bool Session::ToUidSet(const protocol::SequenceSet& set, bool uid, md::UidSet& out) {
  if (set.saved_result) {
    Bad("$ (SEARCHRES) is not supported");
    return false;
  }
  if (uid) {
    // Only messages the client has heard of: "*" is the last UID in the view, and ranges
    // are cut there, so UID STORE/MOVE 1:* never touches mail announced later.
    const uint32_t last = view_.last_uid();
    for (const protocol::SequenceRange& r : set.ranges) {
      uint32_t a = r.first == 0 ? last : r.first;
      uint32_t b = r.last == 0 ? last : r.last;
      if (a > b) std::swap(a, b);
      if (a > last || a == 0) continue;
      md::UidRange* range = out.add_ranges();
      range->set_first(a);
      range->set_last(std::min(b, last));
    }
    return true;
  }
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  if (!view_.SeqSetToUidRanges(set, ranges)) {
    Bad("Invalid message sequence number");
    return false;
  }
  for (const auto& [a, b] : ranges) {
    md::UidRange* range = out.add_ranges();
    range->set_first(a);
    range->set_last(b);
  }
  return true;
}

// ---- the command loop ----

asio::awaitable<void> Session::Dispatch(protocol::Command& command) {
  tag_ = command.tag;
  request_id_ = common::NewRequestId();
  result_.reset();
  const protocol::CommandSpec* spec = protocol::FindCommand(command.name);
  const auto start = std::chrono::steady_clock::now();
  std::string_view verb = "UNKNOWN";
  switch (protocol::CheckCommand(spec, state_)) {
    case protocol::Gate::kUnknown:
      Bad("Unknown command");
      break;
    case protocol::Gate::kWrongState:
      verb = spec->name;
      Bad(state_ == protocol::SessionState::kNotAuthenticated
              ? "Log in first"
              : (state_ == protocol::SessionState::kSelected ||
                         !(spec->states & static_cast<uint8_t>(protocol::SessionState::kSelected))
                     ? "Command not valid in this state"
                     : "Select a mailbox first"));
      break;
    case protocol::Gate::kAllowed: {
      verb = spec->name;
      const Handler handler = FindHandler(spec->name);
      co_await handler(*this, command);
      // A handler that ended the session (BYE already written) owes no tagged response.
      if (!result_ && !closing_) No("Command failed", protocol::code::kServerBug);
      if (state_ == protocol::SessionState::kSelected && !closing_ &&
          (notified_ || absl::Now() - last_sync_ > absl::FromChrono(PollInterval()))) {
        co_await Sync(!(spec->flags & protocol::kUsesSeqs),
                      notified_ ? SyncMode::kShared : SyncMode::kPoll);
      } else if (state_ == protocol::SessionState::kSelected &&
                 !(spec->flags & protocol::kUsesSeqs)) {
        FlushExpunges();
      }
      break;
    }
  }
  AnnounceKeywords();
  if (result_ && !skip_tagged_) Status(tag_, result_->status, result_->code, result_->text);
  skip_tagged_ = false;
  const char* result_label = !result_                                   ? "none"
                             : result_->status == protocol::Status::kOk ? "ok"
                             : result_->status == protocol::Status::kNo ? "no"
                                                                        : "bad";
  if (server_.metrics) server_.metrics->Command(verb, result_label, start);
}

asio::awaitable<void> Session::Run() {
  if (server_.metrics) {
    server_.metrics->connections.Increment();
    server_.metrics->connections_total.Increment();
  }
  login_deadline_ = std::chrono::steady_clock::now() + server_.settings.login_timeout;
  parser_.SetMaxLiteral(kPreLoginLiteral);
  bool ok = true;
  if (implicit_tls_) ok = co_await StartTls();
  if (ok) {
    const std::string caps = co_await Capabilities();
    Untagged(Cat("OK [CAPABILITY ", caps, "] Tern IMAP4rev1 ready"));
    while (!closing_) {
      std::optional<protocol::Event> event = co_await NextEvent();
      if (!event) break;
      if (auto* error = std::get_if<protocol::ParseError>(&*event)) {
        const std::string tag = error->tag.empty() ? "*" : error->tag;
        if (error->fatal) {
          Untagged(Cat("BYE ", error->message));
          break;
        }
        if (error->too_big) {
          Status(tag, protocol::Status::kNo, protocol::code::kTooBig, error->message);
        } else {
          Status(tag, protocol::Status::kBad, "", error->message);
        }
        continue;
      }
      co_await Dispatch(std::get<protocol::Command>(*event));
      if (state_ == protocol::SessionState::kLogout) break;
      if (out_.size() >= (256 << 10)) {
        // Pipelined commands must not pile up responses without bound.
        const bool flushed = co_await Flush();
        if (!flushed) break;
      }
      if (start_tls_) {
        start_tls_ = false;
        const bool awaited6 = co_await Flush();
        if (!awaited6) break;
        const bool awaited7 = co_await StartTls();
        if (!awaited7) break;
      }
    }
  }
  // The registry forgets the session before the client hears LOGOUT's OK (a new login
  // right after it must find the place free).
  if (registered_) {
    registered_ = false;
    co_await server_.registry->Release(id_);
  }
  co_await Flush();
  Deselect();
  co_await stream_.Close(!ok || shutdown_);
  if (server_.metrics) server_.metrics->connections.Decrement();
  common::LogDebug("imap session ended", {{"session", id_}, {"peer", peer_}});
}

}  // namespace tern::imap::server
