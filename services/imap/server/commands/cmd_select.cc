// SELECT and EXAMINE (RFC 3501 6.3.1-2), CLOSE (6.4.2) and UNSELECT (RFC 3691).

#include "services/common/strings.h"
#include "services/imap/protocol/mutf7.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;

// Unsigned LEB128 (metadata.proto IndexChunk).
bool ReadVarint(const std::string& bytes, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < bytes.size(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>(bytes[pos++]);
    value |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Fills the view from the compact message index. False if the index is malformed.
bool LoadIndex(const md::SelectHeader& header, const std::vector<md::SelectChunk>& chunks,
               MailboxView& view) {
  std::vector<MessageFlags> dictionary;
  view.AddKeywords({header.keywords().begin(), header.keywords().end()});
  for (const md::SelectChunk& c : chunks) {
    if (!c.has_index()) continue;
    const md::IndexChunk& chunk = c.index();
    for (const md::FlagSet& set : chunk.flag_set_dictionary_additions()) {
      MessageFlags flags{.system = set.system_flags(), .keywords = {}};
      for (uint32_t k : set.keyword_indexes()) {
        if (k >= static_cast<uint32_t>(header.keywords_size())) return false;
        flags.keywords.push_back(header.keywords(static_cast<int>(k)));
      }
      dictionary.push_back(std::move(flags));
    }
    size_t up = 0;
    size_t mp = 0;
    size_t fp = 0;
    uint64_t uid = 0;
    int64_t modseq = 0;
    for (uint32_t i = 0; i < chunk.count(); ++i) {
      uint64_t du = 0;
      uint64_t zm = 0;
      uint64_t fi = 0;
      if (!ReadVarint(chunk.uid_deltas(), up, du) ||
          !ReadVarint(chunk.modseq_zigzag_deltas(), mp, zm) ||
          !ReadVarint(chunk.flag_set_index(), fp, fi) || fi >= dictionary.size()) {
        return false;
      }
      uid += du;
      modseq += static_cast<int64_t>((zm >> 1) ^ (~(zm & 1) + 1));
      if (uid <= view.last_uid() || uid > UINT32_MAX) return false;
      view.Append(static_cast<uint32_t>(uid), static_cast<uint64_t>(modseq), dictionary[fi]);
    }
  }
  return view.exists() == header.exists();
}

std::string FlagList(const std::vector<std::string>& keywords, bool with_star) {
  std::string out = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
  for (const std::string& k : keywords) CatAppend(out, " ", k);
  if (with_star) out += " \\*";
  out += ")";
  return out;
}

}  // namespace

asio::awaitable<void> CmdSelect(Session& s, const protocol::Command& c) {
  const bool examine = c.name == "EXAMINE";
  if (c.args.size() != 1 || !c.args[0].IsAstring()) {
    s.Bad(Cat(c.name, " expects a mailbox name"));
    co_return;
  }
  // RFC 3501 6.3.1: a SELECT deselects the current mailbox first, even if it then fails.
  s.Deselect();
  std::optional<std::string> name = protocol::DecodeMailboxName(c.args[0].text);
  if (!name) {
    s.No("Invalid mailbox name", protocol::code::kCannot);
    co_return;
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::SelectMailboxRequest req;
  req.set_name(*name);
  req.set_read_only(examine);
  std::vector<md::SelectChunk> chunks;
  Outcome outcome = co_await CallStream<md::SelectChunk>(
      s.Policy(examine), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        s.metad()->async()->SelectMailbox(ctx, &req, reader);
      });
  if (!outcome.ok()) {
    s.Fail(outcome, c.name);
    co_return;
  }
  if (chunks.empty() || !chunks[0].has_header()) {
    s.No("Mailbox index unavailable", protocol::code::kServerBug);
    co_return;
  }
  const md::SelectHeader& header = chunks[0].header();
  MailboxView& view = s.view();
  if (!LoadIndex(header, chunks, view)) {
    view.Clear();
    {
      s.No("Mailbox index malformed", protocol::code::kServerBug);
      co_return;
    }
  }
  s.Select(Selected{.mailbox_id = header.mailbox_id(),
                    .uidvalidity = header.uidvalidity(),
                    .name = header.name(),
                    .read_only = header.read_only(),
                    .synced_modseq = header.highest_modseq(),
                    .uidnext = header.uidnext(),
                    .may_create_keywords = header.may_create_keywords()});
  // RFC 3501 6.3.1: FLAGS, EXISTS, RECENT, and the OK codes UNSEEN, PERMANENTFLAGS,
  // UIDNEXT and UIDVALIDITY.
  s.Untagged(Cat("FLAGS ", FlagList(view.keywords(), false)));
  if (header.read_only()) {
    s.Untagged("OK [PERMANENTFLAGS ()] Read-only mailbox");
  } else {
    s.Untagged(Cat("OK [PERMANENTFLAGS ", FlagList(view.keywords(), header.may_create_keywords()),
                   "] Flags permitted"));
  }
  s.Untagged(Cat(view.exists(), " EXISTS"));
  s.Untagged(Cat(view.recent(), " RECENT"));
  if (header.has_first_unseen_seq()) {
    s.Untagged(Cat("OK [UNSEEN ", header.first_unseen_seq(), "] First unseen"));
  }
  s.Untagged(Cat("OK [UIDVALIDITY ", header.uidvalidity(), "] UIDs valid"));
  s.Untagged(Cat("OK [UIDNEXT ", header.uidnext(), "] Predicted next UID"));
  s.Ok(Cat(c.name, " completed"),
       header.read_only() ? protocol::code::kReadOnly : protocol::code::kReadWrite);
}

asio::awaitable<void> CmdClose(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad(Cat(c.name, " takes no arguments"));
    co_return;
  }
  if (c.name == "CLOSE" && !s.selected().read_only) {
    // RFC 3501 6.4.2: silently expunge the \Deleted messages; no EXPUNGE responses.
    std::optional<common::CallMeta> meta = co_await s.Meta();
    if (!meta) co_return;
    md::ExpungeRequest req;
    req.set_mailbox_id(s.selected().mailbox_id);
    req.set_uidvalidity(s.selected().uidvalidity);
    md::ExpungeResponse resp;
    Outcome outcome =
        co_await Call(s.Policy(true), *meta,
                      [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
                        s.metad()->async()->Expunge(ctx, &req, &resp, std::move(done));
                      });
    if (!outcome.ok()) {
      s.Fail(outcome, "CLOSE");
      co_return;
    }
  }
  s.Deselect();
  s.Ok(Cat(c.name, " completed"));
}

}  // namespace tern::imap::server
