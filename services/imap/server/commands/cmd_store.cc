// STORE and UID STORE (RFC 3501 6.4.6, 6.4.8).

#include "services/common/strings.h"
#include "services/imap/protocol/encoder.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Parses one flag (RFC 3501 9 flag): a system flag or a keyword atom. \Recent may not be
// stored (RFC 3501 2.3.2); other backslash names are not flags. Empty string on success.
std::string AddFlag(const protocol::Value& v, md::Flags& flags) {
  if (!v.IsAtom() || v.text.empty()) return "Flags are atoms";
  if (v.text[0] == '\\') {
    const std::string f = Upper(v.text);
    if (f == "\\SEEN")
      flags.set_system(flags.system() | kSeen);
    else if (f == "\\ANSWERED")
      flags.set_system(flags.system() | kAnswered);
    else if (f == "\\FLAGGED")
      flags.set_system(flags.system() | kFlagged);
    else if (f == "\\DELETED")
      flags.set_system(flags.system() | kDeleted);
    else if (f == "\\DRAFT")
      flags.set_system(flags.system() | kDraft);
    else if (f == "\\RECENT")
      return "\\Recent cannot be stored";
    else
      return Cat("Unknown system flag ", v.text);
    return {};
  }
  for (char ch : v.text) {
    if (!protocol::IsAtomChar(ch)) return "Invalid keyword";
  }
  for (const std::string& k : flags.keywords()) {
    if (Upper(k) == Upper(v.text)) return {};
  }
  flags.add_keywords(v.text);
  return {};
}

}  // namespace

// Shared with APPEND: a flag list "(\Seen $Work)" into proto flags.
std::string ParseFlagList(const protocol::Value& list, md::Flags& flags) {
  if (!list.IsList()) return "A parenthesized flag list is expected";
  for (const protocol::Value& v : list.list) {
    if (std::string error = AddFlag(v, flags); !error.empty()) return error;
  }
  return {};
}

asio::awaitable<void> CmdStore(Session& s, const protocol::Command& c) {
  const bool uid = c.name == "UID STORE";
  if (c.args.size() < 3 || !c.args[0].IsAtom() || !c.args[1].IsAtom()) {
    s.Bad("STORE expects a sequence set, a data item and flags");
    co_return;
  }
  const std::string item = Upper(c.args[1].text);
  md::StoreMode mode = md::STORE_MODE_REPLACE;
  std::string_view base = item;
  if (!base.empty() && (base[0] == '+' || base[0] == '-')) {
    mode = base[0] == '+' ? md::STORE_MODE_ADD : md::STORE_MODE_REMOVE;
    base.remove_prefix(1);
  }
  bool silent = false;
  if (base == "FLAGS.SILENT") {
    silent = true;
  } else if (base != "FLAGS") {
    s.Bad("STORE data item must be FLAGS, +FLAGS or -FLAGS (optionally .SILENT)");
    co_return;
  }
  md::StoreFlagsRequest req;
  req.set_mailbox_id(s.selected().mailbox_id);
  req.set_uidvalidity(s.selected().uidvalidity);
  req.set_mode(mode);
  // RFC 3501 9: flag-list, or flags separated by spaces without parentheses.
  if (c.args.size() == 3 && c.args[2].IsList()) {
    if (std::string error = ParseFlagList(c.args[2], *req.mutable_flags()); !error.empty()) {
      s.Bad(error);
      co_return;
    }
  } else {
    for (size_t i = 2; i < c.args.size(); ++i) {
      if (std::string error = AddFlag(c.args[i], *req.mutable_flags()); !error.empty()) {
        s.Bad(error);
        co_return;
      }
    }
  }
  std::optional<protocol::SequenceSet> set = protocol::ParseSequenceSet(c.args[0].text);
  if (!set) {
    s.Bad("Invalid sequence set");
    co_return;
  }
  if (!s.ToUidSet(*set, uid, *req.mutable_uid_set())) co_return;
  if (s.selected().read_only) {
    s.No("Mailbox is read-only", protocol::code::kReadOnly);
    co_return;
  }
  if (req.uid_set().ranges().empty()) {
    s.Ok("STORE completed");
    co_return;
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  std::vector<md::StoreFlagsResponse> chunks;
  Outcome outcome = co_await CallStream<md::StoreFlagsResponse>(
      s.Policy(true), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        s.metad()->async()->StoreFlags(ctx, &req, reader);
      });
  if (!outcome.ok()) {
    s.Fail(outcome, "STORE");
    co_return;
  }
  MailboxView& view = s.view();
  for (const md::StoreFlagsResponse& chunk : chunks) {
    for (const md::MessageFlags& m : chunk.updated()) {
      const std::optional<uint32_t> seq = view.SeqOf(m.uid());
      if (!seq) continue;
      MessageFlags flags{.system = m.flags().system(), .keywords = {}};
      flags.keywords.assign(m.flags().keywords().begin(), m.flags().keywords().end());
      view.Update(*seq, m.modseq(), flags);
    }
  }
  if (!silent) {
    // RFC 3501 6.4.6: the new flags of every message in the set, changed or not.
    for (uint32_t seq = 1; seq <= view.exists(); ++seq) {
      const uint32_t u = view.UidAt(seq);
      if (view.IsExpunged(u)) continue;
      const bool in_set =
          uid ? set->Contains(u, view.last_uid()) : set->Contains(seq, view.exists());
      if (!in_set) continue;
      if (uid) {
        s.Untagged(Cat(seq, " FETCH (UID ", u, " FLAGS ", FormatFlags(view.FlagsAt(seq)), ")"));
      } else {
        s.Untagged(Cat(seq, " FETCH (FLAGS ", FormatFlags(view.FlagsAt(seq)), ")"));
      }
    }
  }
  s.Ok(Cat(c.name, " completed"));
}

}  // namespace tern::imap::server
