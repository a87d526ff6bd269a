// COPY, MOVE and their UID forms (RFC 3501 6.4.7; MOVE RFC 6851; COPYUID RFC 4315 3).

#include "services/common/strings.h"
#include "services/imap/protocol/mutf7.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {

namespace md = metadata::v1;

// "1:3,7" for a UidSet as metad returns it (ascending, non-overlapping).
std::string FormatUidSet(const md::UidSet& set) {
  std::string out;
  for (const md::UidRange& r : set.ranges()) {
    if (!out.empty()) out += ',';
    if (r.first() == r.last()) {
      CatAppend(out, r.first());
    } else {
      CatAppend(out, r.first(), ":", r.last());
    }
  }
  return out;
}

asio::awaitable<void> CmdCopy(Session& s, const protocol::Command& c) {
  const bool uid = c.name.starts_with("UID ");
  const bool move = c.name.ends_with("MOVE");
  if (c.args.size() != 2 || !c.args[0].IsAtom() || !c.args[1].IsAstring()) {
    s.Bad(Cat(c.name, " expects a sequence set and a mailbox name"));
    co_return;
  }
  std::optional<std::string> destination = protocol::DecodeMailboxName(c.args[1].text);
  if (!destination) {
    s.No("Invalid mailbox name", protocol::code::kCannot);
    co_return;
  }
  md::UidSet set;
  if (!s.ToUidSet(c.args[0].text, uid, set)) co_return;
  if (move && s.selected().read_only) {
    s.No("Mailbox is read-only", protocol::code::kReadOnly);
    co_return;
  }
  if (set.ranges().empty()) {
    s.Ok(Cat(c.name, " completed"));
    co_return;
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  // Invariant 6: the key makes a retry after a lost response copy nothing twice.
  const std::string key = Cat("imap-", s.id(), "-", common::NewRequestId());
  md::CopyUid copy_uid;
  md::UidSet expunged;
  Outcome outcome;
  if (move) {
    md::MoveMessagesRequest req;
    req.set_source_mailbox_id(s.selected().mailbox_id);
    req.set_source_uidvalidity(s.selected().uidvalidity);
    *req.mutable_uid_set() = set;
    req.set_destination(*destination);
    req.set_idempotency_key(key);
    md::MoveMessagesResponse resp;
    outcome =
        co_await Call(s.Policy(true), *meta,
                      [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
                        s.metad()->async()->MoveMessages(ctx, &req, &resp, std::move(done));
                      });
    copy_uid = resp.copy_uid();
    expunged = resp.expunged_source_uids();
  } else {
    md::CopyMessagesRequest req;
    req.set_source_mailbox_id(s.selected().mailbox_id);
    req.set_source_uidvalidity(s.selected().uidvalidity);
    *req.mutable_uid_set() = set;
    req.set_destination(*destination);
    req.set_idempotency_key(key);
    md::CopyMessagesResponse resp;
    outcome =
        co_await Call(s.Policy(true), *meta,
                      [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
                        s.metad()->async()->CopyMessages(ctx, &req, &resp, std::move(done));
                      });
    copy_uid = resp.copy_uid();
  }
  if (!outcome.ok()) {
    s.Fail(outcome, c.name);
    co_return;
  }
  std::string code;
  if (!copy_uid.source_uids().ranges().empty()) {
    code =
        Cat("COPYUID ", copy_uid.destination_uidvalidity(), " ",
            FormatUidSet(copy_uid.source_uids()), " ", FormatUidSet(copy_uid.destination_uids()));
  }
  if (copy_uid.destination_mailbox_id() == s.selected().mailbox_id) s.MarkDirty();
  if (!move) {
    s.Ok(Cat(c.name, " completed"), code);
    co_return;
  }
  // RFC 6851 4.3: COPYUID goes in an untagged OK before the EXPUNGE responses.
  if (!code.empty()) s.Untagged(Cat("OK [", code, "] Moved"));
  for (const md::UidRange& r : expunged.ranges()) {
    for (uint64_t u = r.first(); u <= r.last() && u != 0; ++u) {
      s.view().MarkExpunged(static_cast<uint32_t>(u));
    }
  }
  s.FlushExpunges();
  s.Ok(Cat(c.name, " completed"));
}

asio::awaitable<void> CmdExpunge(Session& s, const protocol::Command& c) {
  const bool uid = c.name == "UID EXPUNGE";
  if (c.args.size() != (uid ? 1u : 0u) || (uid && !c.args[0].IsAtom())) {
    s.Bad(uid ? "UID EXPUNGE expects a UID set" : "EXPUNGE takes no arguments");
    co_return;
  }
  md::ExpungeRequest req;
  req.set_mailbox_id(s.selected().mailbox_id);
  req.set_uidvalidity(s.selected().uidvalidity);
  if (uid && !s.ToUidSet(c.args[0].text, true, *req.mutable_uid_set())) co_return;
  if (s.selected().read_only) {
    s.No("Mailbox is read-only", protocol::code::kReadOnly);
    co_return;
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::ExpungeResponse resp;
  Outcome outcome = co_await Call(
      s.Policy(true), *meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        s.metad()->async()->Expunge(ctx, &req, &resp, std::move(done));
      });
  if (!outcome.ok()) {
    s.Fail(outcome, c.name);
    co_return;
  }
  // RFC 3501 6.4.3: one untagged EXPUNGE per removed message.
  for (const md::UidRange& r : resp.expunged_uids().ranges()) {
    for (uint64_t u = r.first(); u <= r.last() && u != 0; ++u) {
      s.view().MarkExpunged(static_cast<uint32_t>(u));
    }
  }
  s.FlushExpunges();
  s.Ok(Cat(c.name, " completed"));
}

}  // namespace tern::imap::server
