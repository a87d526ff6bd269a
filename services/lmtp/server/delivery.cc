#include "services/lmtp/server/delivery.h"

#include "absl/strings/escaping.h"
#include "services/common/credentials.h"
#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/ingest/ingest.h"

// co_await results are stored in named variables before they are tested, and coroutines get
// named objects, never temporaries (GCC 12; see services/imap/server/session.cc).

namespace tern::lmtp::server {
namespace {

namespace md = metadata::v1;

// blobd takes at most 1 MiB per PutRequest (blob.proto).
constexpr size_t kPutChunk = 1 << 20;
// A DELIVER token this close to its expiry is replaced before it is used.
constexpr absl::Duration kTokenMargin = absl::Seconds(30);
// Appends of one message running at once (one per recipient).
constexpr size_t kParallelAppends = 4;

std::string Sha256Hex(std::string_view data) {
  const std::string digest = common::Sha256(data);
  return absl::BytesToHexString(absl::string_view(digest.data(), digest.size()));
}

common::CallPolicy Policy(const ServerContext& server, bool idempotent) {
  return common::CallPolicy{.deadline = absl::FromChrono(server.settings.backend_timeout),
                            .idempotent = idempotent};
}

protocol::Reply Unavailable() {
  return protocol::MakeReply(451, "4.3.0", "Temporary failure, please try again later");
}

// Refreshes a recipient's DELIVER token when it is about to expire (a long DATA phase).
asio::awaitable<std::optional<protocol::Reply>> FreshToken(ServerContext& server, Recipient& r,
                                                           const std::string& request_id) {
  if (absl::Now() + kTokenMargin < r.token_expires) co_return std::nullopt;
  // The canonical address, not r.address: that is the RCPT argument as given, which for
  // "<Postmaster>" (RFC 5321 4.1.1.3) has no domain and would be refused as bad syntax.
  std::variant<Recipient, protocol::Reply> again =
      co_await LookupRecipient(server, r.canonical, request_id);
  if (auto* reply = std::get_if<protocol::Reply>(&again)) co_return *reply;
  const Recipient& fresh = std::get<Recipient>(again);
  if (fresh.user_id != r.user_id) co_return Unavailable();  // the address changed hands
  r.token = fresh.token;
  r.token_expires = fresh.token_expires;
  co_return std::nullopt;
}

struct Stored {
  blob::v1::PutResponse put;
  md::ParsedMessage parsed;
};

// One append into `mailbox`.
asio::awaitable<common::Outcome> Append(ServerContext& server, const Recipient& r,
                                        const Stored& stored, const std::string& mailbox,
                                        const std::string& key, const std::string& request_id,
                                        md::AppendMessagesResponse& resp) {
  md::AppendMessagesRequest req;
  req.set_mailbox(mailbox);
  req.set_idempotency_key(key);
  md::AppendItem* item = req.add_items();
  item->set_blob_id(stored.put.blob_id());
  item->set_size(stored.put.size());
  item->set_put_receipt(stored.put.put_receipt());
  *item->mutable_parsed() = stored.parsed;
  common::CallMeta meta{.request_id = request_id, .session_token = r.token};
  // The idempotency key makes a retried append store nothing twice (metadata.proto). A
  // delivery can wait: more attempts than an interactive command gets, so a busy metad
  // (RESOURCE_EXHAUSTED) is retried within the deadline rather than answered 451.
  common::CallPolicy policy = Policy(server, true);
  policy.max_attempts = 10;
  policy.max_backoff = absl::Seconds(1);
  common::Outcome outcome = co_await common::Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        server.metad->For(r.user_id)->async()->AppendMessages(ctx, &req, &resp, std::move(done));
      });
  co_return outcome;
}

void CountDelivery(ServerContext& server, const std::string& protocol,
                   const protocol::Reply& reply) {
  const char* result = reply.positive()    ? "delivered"
                       : reply.transient() ? "temporary"
                                           : "permanent";
  server.metrics->deliveries.Add({{"protocol", protocol}, {"result", result}}).Increment();
}

// Stores the put message for one recipient and sets `reply`.
asio::awaitable<void> DeliverOne(ServerContext& server, const Message& message,
                                 const Stored& stored, Recipient& r, const std::string& request_id,
                                 const std::string& protocol, protocol::Reply& reply) {
  std::optional<protocol::Reply> refused = co_await FreshToken(server, r, request_id);
  if (refused) {
    reply = *refused;
    CountDelivery(server, protocol, reply);
    co_return;
  }
  const std::string key =
      Cat("lmtp-", Sha256Hex(Cat(message.fingerprint, "\n", r.canonical, "\n", r.detail)));
  md::AppendMessagesResponse resp;
  std::string mailbox = r.detail.empty() ? "INBOX" : r.detail;
  common::Outcome outcome = co_await Append(server, r, stored, mailbox, key, request_id, resp);
  // Sub-addressing: user+tag goes to the folder "tag" when there is one, else INBOX.
  if (mailbox != "INBOX" &&
      (outcome.reason == "ERROR_REASON_TRYCREATE" || outcome.reason == "ERROR_REASON_NOSELECT" ||
       outcome.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)) {
    mailbox = "INBOX";
    outcome = co_await Append(server, r, stored, mailbox, key, request_id, resp);
  }
  if (outcome.ok()) {
    const uint64_t uid = resp.uids().ranges_size() > 0 ? resp.uids().ranges(0).first() : 0;
    reply = protocol::MakeReply(250, "2.0.0",
                                Cat("<", r.address, "> delivered to ", mailbox, " as UID ", uid));
    common::LogInfo("lmtp delivered", {{"request_id", request_id},
                                       {"user", r.canonical},
                                       {"mailbox", mailbox},
                                       {"uid", uid},
                                       {"size", message.data.size()}});
  } else if (outcome.reason == "ERROR_REASON_IDEMPOTENCY_KEY_REUSED") {
    // The same content from the same sender was already stored for this recipient: an MTA
    // retrying a delivery whose answer it never got.
    reply = protocol::MakeReply(250, "2.0.0", Cat("<", r.address, "> already delivered"));
    server.metrics->deliveries.Add({{"protocol", protocol}, {"result", "duplicate"}}).Increment();
    common::LogInfo("lmtp duplicate suppressed",
                    {{"request_id", request_id}, {"user", r.canonical}});
    co_return;
  } else if (outcome.reason == "ERROR_REASON_OVERQUOTA") {
    // RFC 3463 X.2.2: mailbox full, transient or permanent as configured.
    reply = server.settings.over_quota_permanent
                ? protocol::MakeReply(552, "5.2.2", "Mailbox full")
                : protocol::MakeReply(452, "4.2.2", "Mailbox full, try again later");
  } else if (outcome.reason == "ERROR_REASON_TOOBIG") {
    reply = protocol::MakeReply(552, "5.3.4", "Message too big for this mailbox");
  } else {
    common::LogWarn("lmtp: append failed", {{"request_id", request_id},
                                            {"user", r.canonical},
                                            {"code", static_cast<int>(outcome.status.error_code())},
                                            {"reason", outcome.reason},
                                            {"error", outcome.status.error_message()}});
    reply = Unavailable();
  }
  CountDelivery(server, protocol, reply);
}

}  // namespace

std::string Fingerprint(std::string_view reverse_path, std::string_view content) {
  // The content is hashed once; keys per recipient then hash only this digest.
  return Sha256Hex(Cat(reverse_path, "\n", Sha256Hex(content)));
}

asio::awaitable<std::variant<Recipient, protocol::Reply>> LookupRecipient(ServerContext& server,
                                                                          std::string address,
                                                                          std::string request_id) {
  auth::v1::LookupRecipientRequest req;
  req.set_address(address);
  auth::v1::LookupRecipientResponse resp;
  common::CallMeta meta{.request_id = request_id, .service_token = server.settings.service_token};
  const common::CallPolicy policy = Policy(server, true);
  common::Outcome outcome = co_await common::Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        server.auth->async()->LookupRecipient(ctx, &req, &resp, std::move(done));
      });
  if (!outcome.ok()) {
    switch (outcome.status.error_code()) {
      case grpc::StatusCode::NOT_FOUND:
        // RFC 3463 5.1.1: bad destination mailbox address.
        co_return protocol::MakeReply(550, "5.1.1", "No such user here");
      case grpc::StatusCode::INVALID_ARGUMENT:
        // The address is valid SMTP (the parser checked) but cannot name a Tern user, e.g. a
        // quoted local part with a space: no such mailbox.
        co_return protocol::MakeReply(550, "5.1.1", "No such user here");
      default:
        common::LogWarn("lmtp: recipient lookup failed",
                        {{"request_id", request_id},
                         {"code", static_cast<int>(outcome.status.error_code())},
                         {"error", outcome.status.error_message()}});
        co_return Unavailable();
    }
  }
  if (!resp.enabled()) {
    co_return protocol::MakeReply(550, "5.2.1", "Mailbox disabled, not accepting messages");
  }
  Recipient r;
  r.address = std::move(address);
  r.canonical = resp.canonical_address();
  r.detail = resp.detail();
  r.user_id = resp.user_id();
  r.token = resp.deliver_token();
  r.token_expires = absl::FromUnixSeconds(resp.deliver_token_expires_at().seconds());
  co_return r;
}

asio::awaitable<std::vector<protocol::Reply>> Deliver(ServerContext& server, const Message& message,
                                                      std::vector<Recipient>& recipients,
                                                      std::string request_id,
                                                      std::string protocol) {
  std::vector<protocol::Reply> replies(recipients.size());
  if (recipients.empty()) co_return replies;
  auto count = [&](const protocol::Reply& reply) { CountDelivery(server, protocol, reply); };

  // 1. The bytes, once, durable in blobd. Any recipient's DELIVER token may put them; the
  // receipt is not bound to a user (blob.proto PutResponse.put_receipt). A recipient whose
  // token cannot be renewed (disabled meanwhile, authd down) gets that answer.
  Stored stored;
  std::vector<bool> done(recipients.size(), false);
  size_t putter = recipients.size();
  for (size_t i = 0; i < recipients.size() && putter == recipients.size(); ++i) {
    std::optional<protocol::Reply> refused = co_await FreshToken(server, recipients[i], request_id);
    if (refused) {
      replies[i] = *refused;
      done[i] = true;
      count(replies[i]);
    } else {
      putter = i;
    }
  }
  if (putter == recipients.size()) co_return replies;
  std::vector<blob::v1::PutRequest> put;
  put.emplace_back().mutable_header()->set_expected_size(message.data.size());
  put.back().mutable_header()->set_content_hint(blob::v1::CONTENT_HINT_DELIVERY);
  for (size_t off = 0; off < message.data.size(); off += kPutChunk) {
    put.emplace_back().set_data(message.data.substr(off, kPutChunk));
  }
  std::unique_ptr<common::WriteAll<blob::v1::PutRequest>> writer;
  common::CallMeta put_meta{.request_id = request_id, .session_token = recipients[putter].token};
  const common::CallPolicy put_policy = Policy(server, true);  // content-addressed
  common::Outcome outcome = co_await common::Call(
      put_policy, put_meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        writer = std::make_unique<common::WriteAll<blob::v1::PutRequest>>(put);
        server.blobd->async()->Put(ctx, &stored.put, writer.get());
        writer->Begin(std::move(done));
      });
  put.clear();
  if (!outcome.ok()) {
    protocol::Reply reply = Unavailable();
    if (outcome.reason == "ERROR_REASON_TOO_LARGE") {
      reply = protocol::MakeReply(552, "5.3.4", "Message too big for system");
    } else {
      common::LogWarn("lmtp: blob put failed",
                      {{"request_id", request_id},
                       {"code", static_cast<int>(outcome.status.error_code())},
                       {"reason", outcome.reason},
                       {"error", outcome.status.error_message()}});
    }
    for (size_t i = 0; i < recipients.size(); ++i) {
      if (done[i]) continue;
      replies[i] = reply;
      count(reply);
    }
    co_return replies;
  }
  server.metrics->delivered_bytes.Increment(static_cast<double>(message.data.size()));
  // Parsed once for every recipient (DESIGN.md: MIME is parsed where a message enters).
  stored.parsed = ingest::Ingest(message.data);

  // 2. One append per recipient, each its own transaction in metad, several at once: they
  // are independent, and metad commits them together (PostgreSQL's group commit). The same
  // recipient named twice (same user and folder) is stored once and answered twice.
  std::vector<size_t> first_of(recipients.size());
  size_t pending = 0;
  for (size_t i = 0; i < recipients.size(); ++i) {
    first_of[i] = i;
    for (size_t j = 0; j < i; ++j) {
      if (recipients[j].user_id == recipients[i].user_id &&
          recipients[j].detail == recipients[i].detail) {
        first_of[i] = j;
        break;
      }
    }
  }
  // At most kParallelAppends at a time: metad's bounded work queue is shared by every
  // front-end, and a burst beyond it is turned away (RESOURCE_EXHAUSTED).
  std::vector<size_t> todo;
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (!done[i] && first_of[i] == i) todo.push_back(i);
  }
  const auto executor = co_await asio::this_coro::executor;  // the session's strand
  for (size_t wave = 0; wave < todo.size(); wave += kParallelAppends) {
    const size_t end = std::min(todo.size(), wave + kParallelAppends);
    pending = end - wave;
    asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
    for (size_t k = wave; k < end; ++k) {
      const size_t i = todo[k];
      asio::co_spawn(
          executor,
          DeliverOne(server, message, stored, recipients[i], request_id, protocol, replies[i]),
          [&pending, &all_done](std::exception_ptr) {
            if (--pending == 0) all_done.cancel();
          });
    }
    // Every spawned delivery ends (a backend call has a deadline and shutdown cancels it);
    // this frame, which they refer to, outlives them.
    // The completions run on this strand, so none can slip in between the test and the wait.
    if (pending > 0) {
      asio::error_code ec;
      co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (!done[i] && first_of[i] != i) {
      replies[i] = replies[first_of[i]];
      CountDelivery(server, protocol, replies[i]);
    }
  }
  co_return replies;
}

}  // namespace tern::lmtp::server
