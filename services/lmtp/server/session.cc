#include "services/lmtp/server/session.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/lmtp/protocol/trace.h"
#include "services/lmtp/server/delivery.h"

// co_await results are stored in named variables before they are tested, and coroutines get
// named objects, never temporaries: GCC 12 miscompiles co_await inside conditions and
// destroys such temporaries twice (see services/imap/server/session.cc).

namespace tern::lmtp::server {
namespace {

// How long a write may wait for the client to read.
constexpr std::chrono::seconds kWriteTimeout{120};

std::string IpOf(std::string_view peer) {
  // "ip:port" or "[v6]:port".
  if (!peer.empty() && peer.front() == '[') {
    const size_t close = peer.find(']');
    return std::string(peer.substr(1, close == std::string_view::npos ? peer.size() : close - 1));
  }
  return std::string(peer.substr(0, peer.rfind(':')));
}

// RFC 5321 3.8 / 4.2.2: 421 before closing the connection on the server's initiative.
protocol::Reply TooManyErrors(const ServerContext& server) {
  return protocol::MakeReply(421, "4.7.0", Cat(server.settings.hostname, " Too many errors"));
}

}  // namespace

Session::Session(ServerContext& server, Mode mode, common::Accepted connection)
    : server_(server),
      mode_(mode),
      strand_(asio::make_strand(connection.socket.get_executor())),
      stream_(std::move(connection.socket), strand_),
      peer_(std::move(connection.peer)),
      peer_ip_(IpOf(peer_)),
      id_(common::NewRequestId()),
      reader_(server.Limits(mode == Mode::kLmtp)) {}

Session::~Session() = default;

void Session::Shutdown() {
  shutdown_ = true;
  // A delivery in progress finishes; a session waiting for its client is woken now.
  if (waiting_) {
    woken_ = true;
    stream_.Cancel();
  }
}

common::FrontendMetrics& Session::Metrics() const {
  return lmtp() ? server_.metrics->lmtp : server_.metrics->smtp;
}

// ---- output ----

void Session::Reply(const protocol::Reply& reply) {
  protocol::AppendReply(out_, reply);
  last_code_ = reply.code;
  if (CountError(reply)) {
    protocol::AppendReply(out_, TooManyErrors(server_));
    closing_ = true;
  }
}

void Session::Reply(int code, std::string_view enhanced, std::string_view text) {
  Reply(protocol::MakeReply(code, enhanced, text));
}

bool Session::CountError(const protocol::Reply& reply) {
  if (!reply.permanent()) return false;
  return ++errors_ >= server_.settings.max_errors;
}

asio::awaitable<bool> Session::Flush() {
  const bool ok = co_await stream_.Write(out_, kWriteTimeout);
  if (!ok) closing_ = true;
  co_return ok;
}

// ---- the loop ----

asio::awaitable<void> Session::Run() {
  auto self = shared_from_this();
  Metrics().connections.Increment();
  Metrics().connections_total.Increment();
  common::LogDebug("lmtp connection",
                   {{"session", id_}, {"peer", peer_}, {"protocol", lmtp() ? "lmtp" : "smtp"}});
  // RFC 5321 4.2 / RFC 2033 4: the greeting names the server.
  Reply(220, "", Cat(server_.settings.hostname, lmtp() ? " LMTP" : " ESMTP", " Tern ready"));
  // When the BDAT being read was received: it is answered once its chunk is in.
  auto bdat_start = std::chrono::steady_clock::now();
  while (!closing_) {
    const std::string_view pending = stream_.pending();
    size_t consumed = 0;
    std::optional<protocol::Event> event = reader_.Next(pending, consumed);
    stream_.Consume(consumed);
    if (!event) {
      const bool flushed = co_await Flush();
      if (!flushed) break;
      if (shutdown_ && !reader_.in_data()) {
        // RFC 3463 4.3.2: system not accepting network messages.
        Reply(421, "4.3.2", Cat(server_.settings.hostname, " Service shutting down"));
        co_await Flush();
        break;
      }
      waiting_ = true;
      const common::ClientStream::Read read = co_await stream_.ReadMore(server_.settings.timeout);
      waiting_ = false;
      if (read == common::ClientStream::Read::kData) continue;
      if (read == common::ClientStream::Read::kClosed && woken_) {
        woken_ = false;  // Shutdown() cancelled the read; the connection itself is fine
        continue;
      }
      if (read == common::ClientStream::Read::kTimeout) {
        // RFC 5321 4.5.3.2.7: the server may close after its timeout, with a 421.
        Reply(421, "4.4.2", Cat(server_.settings.hostname, " Timeout, closing connection"));
        co_await Flush();
        common::LogInfo("lmtp timeout", {{"session", id_}, {"peer", peer_}});
      }
      break;
    }
    if (auto* cmd = std::get_if<protocol::CommandEvent>(&*event)) {
      const auto start = std::chrono::steady_clock::now();
      const std::string verb(protocol::VerbName(cmd->command.verb));
      last_code_ = 0;
      co_await Handle(cmd->command);
      if (cmd->command.verb == protocol::Verb::kBdat) {
        bdat_start = start;  // counted with its reply, at ChunkEnd
        continue;
      }
      Metrics().Command(verb, last_code_ >= 200 && last_code_ < 400 ? "ok" : "error", start);
    } else if (auto* error = std::get_if<protocol::ErrorEvent>(&*event)) {
      Reply(error->reply);
    } else if (std::holds_alternative<protocol::DataEnd>(*event)) {
      co_await Finish();
    } else if (auto* chunk = std::get_if<protocol::ChunkEnd>(&*event)) {
      last_code_ = 0;
      co_await ChunkDone(chunk->last);
      Metrics().Command("BDAT", last_code_ >= 200 && last_code_ < 400 ? "ok" : "error", bdat_start);
    }
  }
  if (!out_.empty()) co_await Flush();
  co_await stream_.Close(false);
  Metrics().connections.Decrement();
}

asio::awaitable<void> Session::Handle(const protocol::Command& c) {
  using protocol::Verb;
  switch (c.verb) {
    case Verb::kLhlo:
    case Verb::kEhlo:
    case Verb::kHelo:
      Hello(c);
      co_return;
    case Verb::kMail:
      Mail(c);
      co_return;
    case Verb::kRcpt:
      co_await Rcpt(c);
      co_return;
    case Verb::kData:
      Data();
      co_return;
    case Verb::kBdat:
      Bdat();
      co_return;
    case Verb::kRset:
      // RFC 5321 4.1.1.5.
      ResetTransaction();
      Reply(250, "2.0.0", "OK");
      co_return;
    case Verb::kNoop:
      Reply(250, "2.0.0", "OK");
      co_return;
    case Verb::kQuit:
      Reply(221, "2.0.0", Cat(server_.settings.hostname, " closing connection"));
      closing_ = true;
      co_return;
    case Verb::kVrfy:
      // RFC 5321 3.5.3: 252 when the server will not verify but will try to deliver.
      Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
      co_return;
    case Verb::kExpn:
      Reply(502, "5.5.1", "EXPN not available");
      co_return;
    case Verb::kHelp:
      Reply(214, "2.0.0", "See RFC 5321 and RFC 2033");
      co_return;
    case Verb::kStartTls:
      co_await StartTls();
      co_return;
  }
}

// ---- greeting and extensions ----

void Session::Hello(const protocol::Command& c) {
  // RFC 2033 4.1: LMTP greets with LHLO, and HELO/EHLO are not LMTP; SMTP has no LHLO.
  if (lmtp() != (c.verb == protocol::Verb::kLhlo)) {
    Reply(500, "5.5.1", lmtp() ? "Use LHLO in LMTP" : "LHLO is LMTP, use EHLO");
    return;
  }
  // RFC 5321 4.1.4: EHLO/HELO in the middle of a transaction resets it, as RSET does.
  ResetTransaction();
  helo_ = c.argument;
  esmtp_ = c.verb != protocol::Verb::kHelo;
  if (!esmtp_) {
    Reply(250, "", server_.settings.hostname);
    return;
  }
  protocol::Reply reply{.code = 250};
  reply.lines.push_back(Cat(server_.settings.hostname, " greets ", helo_));
  reply.lines.push_back("PIPELINING");                                              // RFC 2920
  reply.lines.push_back("8BITMIME");                                                // RFC 6152
  reply.lines.push_back("ENHANCEDSTATUSCODES");                                     // RFC 2034
  reply.lines.push_back(Cat("SIZE ", server_.settings.max_message_size));           // RFC 1870
  reply.lines.push_back("SMTPUTF8");                                                // RFC 6531
  reply.lines.push_back("CHUNKING");                                                // RFC 3030
  if (!lmtp() && server_.tls && !stream_.tls()) reply.lines.push_back("STARTTLS");  // RFC 3207
  Reply(reply);
}

asio::awaitable<void> Session::StartTls() {
  if (lmtp() || !server_.tls) {
    Reply(502, "5.5.1", "STARTTLS not available");
    co_return;
  }
  if (stream_.tls()) {
    Reply(503, "5.5.1", "TLS already active");
    co_return;
  }
  if (!esmtp_) {
    Reply(503, "5.5.1", "Send EHLO first");
    co_return;
  }
  Reply(220, "2.0.0", "Ready to start TLS");
  const bool flushed = co_await Flush();
  if (!flushed) co_return;
  // RFC 3207 4.2: whatever the client sent before the handshake is discarded, and the
  // session starts over: "The server MUST discard any knowledge obtained from the client,
  // such as the argument to the EHLO command".
  stream_.Consume(stream_.pending().size());
  reader_.Reset();
  const bool ok = co_await stream_.StartTls(*server_.tls, std::chrono::seconds(30));
  helo_.clear();
  esmtp_ = false;
  ResetTransaction();
  if (!ok) {
    common::LogInfo("smtp tls handshake failed", {{"session", id_}, {"peer", peer_}});
    closing_ = true;
  }
}

// ---- the transaction ----

void Session::ResetTransaction() {
  txn_ = Transaction{};
  refuse_chunk_.reset();
  if (!reader_.in_data()) reader_.content().Clear();
}

void Session::Mail(const protocol::Command& c) {
  // RFC 5321 4.1.4: "a client MUST issue HELO or EHLO before starting a mail transaction".
  if (helo_.empty()) {
    Reply(503, "5.5.1", lmtp() ? "Send LHLO first" : "Send EHLO first");
    return;
  }
  if (txn_.active) {
    Reply(503, "5.5.1", "Nested MAIL command");
    return;
  }
  if (!esmtp_ && (c.size || c.body != protocol::Body::kUnspecified || c.smtputf8)) {
    Reply(555, "5.5.4", "Parameters need EHLO");  // RFC 5321 4.1.1.11
    return;
  }
  // RFC 6531 3.4: a non-ASCII address needs SMTPUTF8 on this MAIL command.
  if (c.utf8 && !c.smtputf8) {
    Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
    return;
  }
  // RFC 1870 6.1: a declared size above the fixed maximum is refused at once.
  if (c.size && *c.size > server_.settings.max_message_size) {
    Reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    return;
  }
  txn_ = Transaction{};
  txn_.active = true;
  txn_.reverse_path = c.path ? protocol::FormatMailbox(*c.path) : "";
  txn_.smtputf8 = c.smtputf8;
  reader_.content().Clear();
  ++transactions_;
  Reply(250, "2.1.0", "Sender OK");
}

asio::awaitable<void> Session::Rcpt(const protocol::Command& c) {
  if (!txn_.active) {
    Reply(503, "5.5.1", "Need MAIL before RCPT");
    co_return;
  }
  if (txn_.bdat) {
    Reply(503, "5.5.1", "RCPT after BDAT");  // RFC 3030 2: all RCPTs come before BDAT
    co_return;
  }
  if (c.utf8 && !txn_.smtputf8) {
    Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");  // RFC 6531 3.4
    co_return;
  }
  if (txn_.recipients.size() >= server_.settings.max_recipients) {
    // RFC 5321 4.5.3.1.10: "452 Too many recipients"; RFC 3463 4.5.3.
    Reply(452, "4.5.3", "Too many recipients");
    co_return;
  }
  protocol::Mailbox mailbox = *c.path;
  if (mailbox.domain.empty()) {
    // "<Postmaster>" (RFC 5321 4.1.1.3): the postmaster of the first local domain.
    if (server_.settings.local_domains.empty()) {
      Reply(550, "5.1.1", "No such user here");
      co_return;
    }
    mailbox.domain = server_.settings.local_domains.front();
  }
  if (!lmtp()) {
    // Inbound SMTP is for the local domains only: anything else would be relaying.
    const std::string domain = absl::AsciiStrToLower(mailbox.domain);
    const auto& local = server_.settings.local_domains;
    if (std::find(local.begin(), local.end(), domain) == local.end()) {
      Reply(550, "5.7.1", "Relaying denied");
      co_return;
    }
  }
  std::string address = mailbox.local + "@" + mailbox.domain;
  // RFC 5321 4.5.1: mail to postmaster at a local domain must be accepted; --postmaster
  // names the mailbox that takes it when no user of that name exists.
  if (!server_.settings.postmaster.empty() &&
      absl::AsciiStrToLower(mailbox.local) == "postmaster") {
    const std::string domain = absl::AsciiStrToLower(mailbox.domain);
    const auto& local = server_.settings.local_domains;
    if (std::find(local.begin(), local.end(), domain) != local.end()) {
      address = server_.settings.postmaster;
    }
  }
  const std::string request_id = Cat(id_, "-", transactions_);
  std::variant<Recipient, protocol::Reply> found =
      co_await LookupRecipient(server_, address, request_id);
  if (auto* refused = std::get_if<protocol::Reply>(&found)) {
    Reply(*refused);
    co_return;
  }
  Recipient r = std::get<Recipient>(std::move(found));
  r.address = protocol::FormatMailbox(*c.path);
  txn_.recipients.push_back(std::move(r));
  Reply(250, "2.1.5", "Recipient OK");
}

void Session::Data() {
  if (!txn_.active) {
    Reply(503, "5.5.1", "Need MAIL before DATA");
    return;
  }
  if (txn_.bdat) {
    Reply(503, "5.5.1", "DATA after BDAT");  // RFC 3030 2
    return;
  }
  if (txn_.recipients.empty()) {
    // RFC 5321 3.3 allows 503 or 554; RFC 2033 4.2: LMTP "MUST fail with a 503".
    Reply(lmtp() ? 503 : 554, "5.5.1", "No valid recipients");
    return;
  }
  Reply(354, "", "End data with <CR><LF>.<CR><LF>");
  reader_.StartData();
}

void Session::Bdat() {
  // The reader is already taking the chunk's octets; the reply comes when they are in.
  refuse_chunk_.reset();
  if (!txn_.active) {
    refuse_chunk_ = protocol::MakeReply(503, "5.5.1", "Need MAIL before BDAT");
  } else if (txn_.recipients.empty()) {
    refuse_chunk_ = protocol::MakeReply(lmtp() ? 503 : 554, "5.5.1", "No valid recipients");
  } else {
    txn_.bdat = true;
  }
}

asio::awaitable<void> Session::ChunkDone(bool last) {
  if (refuse_chunk_) {
    const protocol::Reply reply = *refuse_chunk_;
    refuse_chunk_.reset();
    if (!txn_.active || !txn_.bdat) reader_.content().Clear();
    Reply(reply);
    co_return;
  }
  if (reader_.content().problem() != protocol::ContentProblem::kNone && !last) {
    // RFC 3030 2: a failed chunk ends the transaction; later chunks get 503.
    Reply(protocol::ProblemReply(reader_.content().problem()));
    ResetTransaction();
    co_return;
  }
  if (!last) {
    Reply(250, "2.0.0", Cat(reader_.content().received(), " octets received"));
    co_return;
  }
  co_await Finish();
}

asio::awaitable<void> Session::Finish() {
  const auto start = std::chrono::steady_clock::now();
  protocol::Content& content = reader_.content();
  const size_t n = txn_.recipients.size();
  std::vector<protocol::Reply> replies;
  if (content.problem() != protocol::ContentProblem::kNone) {
    replies.assign(n, protocol::ProblemReply(content.problem()));
  } else {
    Message message;
    message.fingerprint = Fingerprint(txn_.reverse_path, content.message());
    protocol::TraceInfo trace{
        .reverse_path = txn_.reverse_path,
        .helo = helo_,
        .peer_ip = peer_ip_,
        .by = server_.settings.hostname,
        .with = protocol::WithProtocol(lmtp(), esmtp_, stream_.tls(), txn_.smtputf8),
        .id = Cat(id_, "-", transactions_),  // an Atom (RFC 5321 4.4)
        // RFC 5321 7.2: naming one recipient of many would disclose the others (Bcc).
        .recipient = n == 1 ? std::optional(txn_.recipients[0].address) : std::nullopt,
        .time = absl::Now(),
    };
    message.data = protocol::TraceHeaders(trace);
    message.data += content.message();
    content.Clear();
    const std::string request_id = Cat(id_, "-", transactions_);
    const std::string protocol_name = lmtp() ? "lmtp" : "smtp";
    replies = co_await Deliver(server_, message, txn_.recipients, request_id, protocol_name);
  }
  if (lmtp()) {
    // RFC 2033 4.2: one reply per successful RCPT, in the order of the RCPTs. Refusals count
    // towards the error limit, but its 421 comes after the last of them: a 421 among them
    // would be taken for a recipient's reply.
    bool too_many = false;
    for (const protocol::Reply& r : replies) {
      protocol::AppendReply(out_, r);
      last_code_ = r.code;
      too_many = CountError(r) || too_many;
    }
    if (too_many) {
      protocol::AppendReply(out_, TooManyErrors(server_));
      closing_ = true;
    }
  } else if (std::all_of(replies.begin(), replies.end(),
                         [](const protocol::Reply& r) { return r.positive(); })) {
    Reply(250, "2.0.0", Cat("OK, id ", id_, "-", transactions_));
  } else if (std::all_of(replies.begin(), replies.end(),
                         [&](const protocol::Reply& r) { return r == replies.front(); })) {
    Reply(replies.front());
  } else {
    // SMTP has one reply for all recipients (RFC 5321 4.1.1.4). Some copies are stored and
    // some are not: a temporary failure makes the MTA send the message again, and the
    // copies already stored are not stored twice (delivery.h).
    Reply(451, "4.3.0", "Delivery incomplete, please try again later");
  }
  server_.metrics->delivery_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  ResetTransaction();
}

}  // namespace tern::lmtp::server
