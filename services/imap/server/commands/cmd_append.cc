// APPEND (RFC 3501 6.3.11) with APPENDUID (RFC 4315 3) and APPENDLIMIT (RFC 7889). The
// message is parsed once here (services/ingest), stored in blobd, then committed by metad;
// the OK goes out only after both are durable (invariant 1).

#include "services/common/strings.h"
#include "services/imap/protocol/datetime.h"
#include "services/imap/protocol/mutf7.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"
#include "services/ingest/ingest.h"

namespace tern::imap::server {

namespace md = metadata::v1;
std::string ParseFlagList(const protocol::Value& list, md::Flags& flags);  // cmd_store.cc

namespace {
constexpr size_t kPutChunk = 1 << 20;
}  // namespace

asio::awaitable<void> CmdAppend(Session& s, const protocol::Command& c) {
  if (c.args.size() < 2 || c.args.size() > 4 || !c.args[0].IsAstring() ||
      !c.args.back().IsString()) {
    s.Bad("APPEND expects a mailbox, optional flags and date, and a message literal");
    co_return;
  }
  std::optional<std::string> mailbox = protocol::DecodeMailboxName(c.args[0].text);
  if (!mailbox) {
    s.No("Invalid mailbox name", protocol::code::kCannot);
    co_return;
  }
  md::AppendItem item;
  for (size_t i = 1; i + 1 < c.args.size(); ++i) {
    const protocol::Value& v = c.args[i];
    if (v.IsList() && i == 1) {
      if (std::string error = ParseFlagList(v, *item.mutable_flags()); !error.empty()) {
        s.Bad(error);
        co_return;
      }
    } else if (v.IsString() && !item.has_internal_date()) {
      std::optional<protocol::DateTime> date = protocol::ParseDateTime(v.text);
      if (!date) {
        s.Bad("Invalid date-time");
        co_return;
      }
      item.mutable_internal_date()->set_seconds(date->unix_seconds);
      item.set_internal_date_utc_offset_minutes(date->utc_offset_minutes);
    } else {
      s.Bad("APPEND expects a mailbox, optional flags and date, and a message literal");
      co_return;
    }
  }
  const std::string& raw = c.args.back().text;
  if (raw.empty()) {
    s.No("Empty message", protocol::code::kCannot);
    co_return;
  }
  if (raw.size() > s.server().settings.append_limit) {
    s.No("Message exceeds APPENDLIMIT", protocol::code::kTooBig);
    co_return;
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  // 1. The bytes, durable in blobd.
  std::vector<blob::v1::PutRequest> put;
  put.emplace_back().mutable_header()->set_expected_size(raw.size());
  put.back().mutable_header()->set_content_hint(blob::v1::CONTENT_HINT_IMAP_APPEND);
  for (size_t off = 0; off < raw.size(); off += kPutChunk) {
    put.emplace_back().set_data(raw.substr(off, kPutChunk));
  }
  blob::v1::PutResponse stored;
  std::unique_ptr<WriteAll<blob::v1::PutRequest>> writer;
  Outcome outcome = co_await Call(
      s.Policy(true), *meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        writer = std::make_unique<WriteAll<blob::v1::PutRequest>>(put);
        s.server().blobd->async()->Put(ctx, &stored, writer.get());
        writer->Begin(std::move(done));
      });
  if (!outcome.ok()) {
    s.Fail(outcome, "APPEND");
    co_return;
  }
  // 2. The metadata, in one transaction.
  item.set_blob_id(stored.blob_id());
  item.set_size(stored.size());
  item.set_put_receipt(stored.put_receipt());
  *item.mutable_parsed() = ingest::Ingest(raw);
  md::AppendMessagesRequest req;
  req.set_mailbox(*mailbox);
  *req.add_items() = std::move(item);
  req.set_idempotency_key(Cat("imap-", s.id(), "-", common::NewRequestId()));
  md::AppendMessagesResponse resp;
  outcome = co_await Call(
      s.Policy(true), *meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        s.metad()->async()->AppendMessages(ctx, &req, &resp, std::move(done));
      });
  if (!outcome.ok()) {
    s.Fail(outcome, "APPEND");
    co_return;
  }
  if (s.state() == protocol::SessionState::kSelected &&
      resp.mailbox_id() == s.selected().mailbox_id) {
    s.MarkDirty();  // RFC 3501 6.3.11: the new message is announced with EXISTS
  }
  std::string uids;
  for (const md::UidRange& r : resp.uids().ranges()) {
    if (!uids.empty()) uids += ',';
    CatAppend(uids, r.first());
    if (r.last() != r.first()) CatAppend(uids, ":", r.last());
  }
  s.Ok("APPEND completed", Cat("APPENDUID ", resp.uidvalidity(), " ", uids));
}

}  // namespace tern::imap::server
