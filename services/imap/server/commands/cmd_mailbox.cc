// Commands on mailbox names: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB and
// STATUS (RFC 3501 6.3.3-6.3.10; CHILDREN RFC 3348; SPECIAL-USE RFC 6154; APPENDLIMIT
// RFC 7889). Names travel as modified UTF-7 (RFC 3501 5.1.3) and as UTF-8 to metad.

#include <map>
#include <set>

#include "services/common/strings.h"
#include "services/imap/protocol/mutf7.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;

// The mailbox name argument at `i`, decoded; BAD/NO already set when nullopt.
std::optional<std::string> NameArg(Session& s, const protocol::Command& c, size_t i) {
  if (i >= c.args.size() || !c.args[i].IsAstring()) {
    s.Bad(Cat(c.name, ": mailbox name expected"));
    return std::nullopt;
  }
  std::optional<std::string> name = protocol::DecodeMailboxName(c.args[i].text);
  if (!name)
    s.No("Invalid mailbox name (RFC 3501 5.1.3 modified UTF-7 expected)", protocol::code::kCannot);
  return name;
}

template <typename Req, typename Resp>
asio::awaitable<Outcome> Unary(
    Session& s, const common::CallMeta& meta, bool idempotent, const Req& req, Resp& resp,
    void (md::MetadataService::Stub::async::*method)(grpc::ClientContext*, const Req*, Resp*,
                                                     std::function<void(grpc::Status)>)) {
  Outcome outcome =
      co_await Call(s.Policy(idempotent), meta,
                    [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
                      (s.metad()->async()->*method)(ctx, &req, &resp, std::move(done));
                    });
  co_return outcome;
}

std::string_view AttributeName(md::MailboxAttribute a) {
  switch (a) {
    case md::MAILBOX_ATTRIBUTE_NOSELECT:
    case md::MAILBOX_ATTRIBUTE_NONEXISTENT:  // plain LIST has no \NonExistent (RFC 5258)
      return "\\Noselect";
    case md::MAILBOX_ATTRIBUTE_NOINFERIORS:
      return "\\Noinferiors";
    case md::MAILBOX_ATTRIBUTE_HAS_CHILDREN:
      return "\\HasChildren";
    case md::MAILBOX_ATTRIBUTE_HAS_NO_CHILDREN:
      return "\\HasNoChildren";
    case md::MAILBOX_ATTRIBUTE_MARKED:
      return "\\Marked";
    case md::MAILBOX_ATTRIBUTE_UNMARKED:
      return "\\Unmarked";
    default:
      return {};
  }
}

std::string_view SpecialUseName(md::SpecialUse u) {
  switch (u) {
    case md::SPECIAL_USE_ALL:
      return "\\All";
    case md::SPECIAL_USE_ARCHIVE:
      return "\\Archive";
    case md::SPECIAL_USE_DRAFTS:
      return "\\Drafts";
    case md::SPECIAL_USE_FLAGGED:
      return "\\Flagged";
    case md::SPECIAL_USE_JUNK:
      return "\\Junk";
    case md::SPECIAL_USE_SENT:
      return "\\Sent";
    case md::SPECIAL_USE_TRASH:
      return "\\Trash";
    default:
      return {};
  }
}

// LIST wildcards (RFC 3501 6.3.8): "*" matches anything, "%" anything but the delimiter.
// Dynamic programming over (pattern, name) prefixes: O(|pattern| * |name|), so no pattern
// can make it backtrack exponentially.
bool Matches(std::string_view pattern, std::string_view name) {
  // row[j]: pattern[0..i) matches name[0..j)
  std::vector<char> row(name.size() + 1, 0);
  row[0] = 1;
  for (char p : pattern) {
    std::vector<char> next(name.size() + 1, 0);
    if (p == '*' || p == '%') {
      next[0] = row[0];
      for (size_t j = 1; j <= name.size(); ++j) {
        // Either the wildcard matches nothing more, or it takes name[j-1] too.
        next[j] = row[j] || (next[j - 1] && (p == '*' || name[j - 1] != '/'));
      }
    } else {
      for (size_t j = 1; j <= name.size(); ++j) next[j] = row[j - 1] && name[j - 1] == p;
    }
    row.swap(next);
  }
  return row[name.size()] != 0;
}

// "inbox/x" names INBOX's child: the INBOX part of a pattern is case-insensitive.
std::string CanonicalPattern(std::string pattern) {
  if (pattern.size() >= 5 && (pattern.size() == 5 || pattern[5] == '/')) {
    std::string head = pattern.substr(0, 5);
    for (char& ch : head) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (head == "INBOX") pattern.replace(0, 5, "INBOX");
  }
  return pattern;
}

// LSUB (RFC 3501 6.3.9) from the full subscription list: the subscribed names that match,
// and, for "%", the unsubscribed superiors of subscribed names that match, as \Noselect.
void AnswerLsub(Session& s, const md::ListMailboxesResponse& subscribed, std::string_view pattern) {
  std::map<std::string, std::string> lines;  // name -> attributes
  std::set<std::string> names;
  for (const md::MailboxInfo& m : subscribed.mailboxes()) names.insert(m.name());
  for (const md::MailboxInfo& m : subscribed.mailboxes()) {
    if (Matches(pattern, m.name())) {
      bool noselect = false;
      for (int a : m.attributes()) {
        noselect |= a == md::MAILBOX_ATTRIBUTE_NOSELECT || a == md::MAILBOX_ATTRIBUTE_NONEXISTENT;
      }
      lines[m.name()] = noselect ? "\\Noselect" : "";
    }
    for (size_t slash = m.name().find('/'); slash != std::string::npos;
         slash = m.name().find('/', slash + 1)) {
      const std::string superior = m.name().substr(0, slash);
      if (!names.contains(superior) && Matches(pattern, superior)) lines[superior] = "\\Noselect";
    }
  }
  for (const auto& [name, attrs] : lines) {
    std::string line = Cat("LSUB (", attrs, ") \"/\" ");
    protocol::AppendMailbox(line, name);
    s.Untagged(line);
  }
}

}  // namespace

asio::awaitable<void> CmdCreate(Session& s, const protocol::Command& c) {
  if (c.args.size() != 1) {
    s.Bad("CREATE expects a mailbox name");
    co_return;
  }
  std::optional<std::string> name = NameArg(s, c, 0);
  if (!name) co_return;
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::CreateMailboxRequest req;
  req.set_name(*name);
  md::Mailbox resp;
  Outcome outcome =
      co_await Unary(s, *meta, false, req, resp, &md::MetadataService::Stub::async::CreateMailbox);
  if (!outcome.ok()) {
    s.Fail(outcome, "CREATE");
    co_return;
  }
  s.Ok("CREATE completed");
}

asio::awaitable<void> CmdDelete(Session& s, const protocol::Command& c) {
  if (c.args.size() != 1) {
    s.Bad("DELETE expects a mailbox name");
    co_return;
  }
  std::optional<std::string> name = NameArg(s, c, 0);
  if (!name) co_return;
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::DeleteMailboxRequest req;
  req.set_name(*name);
  md::DeleteMailboxResponse resp;
  Outcome outcome =
      co_await Unary(s, *meta, false, req, resp, &md::MetadataService::Stub::async::DeleteMailbox);
  if (!outcome.ok()) {
    s.Fail(outcome, "DELETE");
    co_return;
  }
  s.Ok("DELETE completed");
}

asio::awaitable<void> CmdRename(Session& s, const protocol::Command& c) {
  if (c.args.size() != 2) {
    s.Bad("RENAME expects two mailbox names");
    co_return;
  }
  std::optional<std::string> from = NameArg(s, c, 0);
  if (!from) co_return;
  std::optional<std::string> to = NameArg(s, c, 1);
  if (!to) co_return;
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::RenameMailboxRequest req;
  req.set_old_name(*from);
  req.set_new_name(*to);
  md::Mailbox resp;
  Outcome outcome =
      co_await Unary(s, *meta, false, req, resp, &md::MetadataService::Stub::async::RenameMailbox);
  if (!outcome.ok()) {
    s.Fail(outcome, "RENAME");
    co_return;
  }
  s.Ok("RENAME completed");
}

asio::awaitable<void> CmdSubscribe(Session& s, const protocol::Command& c) {
  if (c.args.size() != 1) {
    s.Bad(Cat(c.name, " expects a mailbox name"));
    co_return;
  }
  std::optional<std::string> name = NameArg(s, c, 0);
  if (!name) co_return;
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  Outcome outcome;
  if (c.name == "SUBSCRIBE") {
    md::SubscribeRequest req;
    req.set_name(*name);
    md::SubscribeResponse resp;
    outcome =
        co_await Unary(s, *meta, true, req, resp, &md::MetadataService::Stub::async::Subscribe);
  } else {
    md::UnsubscribeRequest req;
    req.set_name(*name);
    md::UnsubscribeResponse resp;
    outcome =
        co_await Unary(s, *meta, true, req, resp, &md::MetadataService::Stub::async::Unsubscribe);
  }
  if (!outcome.ok()) {
    s.Fail(outcome, c.name);
    co_return;
  }
  s.Ok(Cat(c.name, " completed"));
}

asio::awaitable<void> CmdList(Session& s, const protocol::Command& c) {
  const bool lsub = c.name == "LSUB";
  if (c.args.size() != 2 || !c.args[0].IsAstring() || !c.args[1].IsAstring()) {
    s.Bad(Cat(c.name, " expects a reference name and a mailbox pattern"));
    co_return;
  }
  std::optional<std::string> reference = protocol::DecodeMailboxName(c.args[0].text);
  std::optional<std::string> pattern = protocol::DecodeMailboxName(c.args[1].text);
  if (!reference || !pattern) {
    s.Bad("Invalid modified UTF-7 in the mailbox name");
    co_return;
  }
  if (pattern->empty()) {
    // RFC 3501 6.3.8: LIST "" "" asks for the hierarchy delimiter and the root.
    if (!lsub) s.Untagged(R"(LIST (\Noselect) "/" "")");
    {
      s.Ok(Cat(c.name, " completed"));
      co_return;
    }
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::ListMailboxesRequest req;
  if (lsub) {
    // Every subscribed name; the matching (with implied superiors) is done here.
    req.add_patterns("*");
  } else {
    req.set_reference(*reference);
    req.add_patterns(*pattern);
  }
  req.mutable_selection()->set_subscribed(lsub);
  req.mutable_return_options()->set_children(true);     // RFC 3348
  req.mutable_return_options()->set_special_use(true);  // RFC 6154 2
  md::ListMailboxesResponse resp;
  Outcome outcome =
      co_await Unary(s, *meta, true, req, resp, &md::MetadataService::Stub::async::ListMailboxes);
  if (!outcome.ok()) {
    s.Fail(outcome, c.name);
    co_return;
  }
  if (lsub) {
    AnswerLsub(s, resp, CanonicalPattern(*reference + *pattern));
    s.Ok("LSUB completed");
    co_return;
  }
  for (const md::MailboxInfo& m : resp.mailboxes()) {
    std::string attrs;
    auto add = [&](std::string_view a) {
      if (a.empty() || attrs.find(a) != std::string::npos) return;
      CatAppend(attrs, attrs.empty() ? "" : " ", a);
    };
    for (int a : m.attributes()) add(AttributeName(static_cast<md::MailboxAttribute>(a)));
    if (!lsub) {
      for (int u : m.special_use()) add(SpecialUseName(static_cast<md::SpecialUse>(u)));
    }
    std::string line = Cat(c.name, " (", attrs, ") \"/\" ");
    protocol::AppendMailbox(line, m.name());
    s.Untagged(line);
  }
  s.Ok(Cat(c.name, " completed"));
}

asio::awaitable<void> CmdStatus(Session& s, const protocol::Command& c) {
  if (c.args.size() != 2 || !c.args[1].IsList() || c.args[1].list.empty()) {
    s.Bad("STATUS expects a mailbox name and a list of items");
    co_return;
  }
  std::optional<std::string> name = NameArg(s, c, 0);
  if (!name) co_return;
  md::GetStatusRequest req;
  req.set_name(*name);
  std::vector<std::pair<std::string, md::StatusItem>> items;
  for (const protocol::Value& v : c.args[1].list) {
    if (!v.IsAtom()) {
      s.Bad("STATUS items are atoms");
      co_return;
    }
    std::string item = v.text;
    for (char& ch : item) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    md::StatusItem si = md::STATUS_ITEM_UNSPECIFIED;
    if (item == "MESSAGES")
      si = md::STATUS_ITEM_MESSAGES;
    else if (item == "RECENT")
      si = md::STATUS_ITEM_RECENT;
    else if (item == "UIDNEXT")
      si = md::STATUS_ITEM_UIDNEXT;
    else if (item == "UIDVALIDITY")
      si = md::STATUS_ITEM_UIDVALIDITY;
    else if (item == "UNSEEN")
      si = md::STATUS_ITEM_UNSEEN;
    else if (item == "APPENDLIMIT")
      si = md::STATUS_ITEM_APPENDLIMIT;  // RFC 7889 3.2
    else {
      s.Bad(Cat("Unknown STATUS item ", item));
      co_return;
    }
    items.emplace_back(item, si);
    req.add_items(si);
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  md::MailboxStatus st;
  Outcome outcome =
      co_await Unary(s, *meta, true, req, st, &md::MetadataService::Stub::async::GetStatus);
  if (!outcome.ok()) {
    s.Fail(outcome, "STATUS");
    co_return;
  }
  std::string line = "STATUS ";
  protocol::AppendMailbox(line, *name);
  line += " (";
  bool first = true;
  for (const auto& [item, si] : items) {
    if (!first) line += ' ';
    first = false;
    line += item;
    line += ' ';
    switch (si) {
      case md::STATUS_ITEM_MESSAGES:
        CatAppend(line, st.messages());
        break;
      case md::STATUS_ITEM_RECENT:
        CatAppend(line, st.recent());
        break;
      case md::STATUS_ITEM_UIDNEXT:
        CatAppend(line, st.uidnext());
        break;
      case md::STATUS_ITEM_UIDVALIDITY:
        CatAppend(line, st.uidvalidity());
        break;
      case md::STATUS_ITEM_UNSEEN:
        CatAppend(line, st.unseen());
        break;
      case md::STATUS_ITEM_APPENDLIMIT:
        if (st.append_limit() == 0) {
          line += "NIL";
        } else {
          CatAppend(line, st.append_limit());
        }
        break;
      default:
        break;
    }
  }
  line += ")";
  s.Untagged(line);
  s.Ok("STATUS completed");
}

}  // namespace tern::imap::server
