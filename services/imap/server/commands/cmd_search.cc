// SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8). The criteria are evaluated by metad; the
// front-end translates message numbers to UIDs and the result back.

#include "services/common/strings.h"
#include "services/imap/protocol/search_keys.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;
using protocol::SearchKey;

void SetDate(md::SearchKey& out, md::DateCriterion::Field field,
             md::DateCriterion::Comparison comparison, const protocol::Date& date) {
  md::DateCriterion* d = out.mutable_date();
  d->set_field(field);
  d->set_comparison(comparison);
  d->mutable_date()->set_year(date.year);
  d->mutable_date()->set_month(date.month);
  d->mutable_date()->set_day(date.day);
}

// False (with BAD set) if a sequence set is invalid for the view.
bool Convert(Session& s, const SearchKey& in, md::SearchKey& out) {
  using K = SearchKey::Kind;
  switch (in.kind) {
    case K::kAll:
      out.set_all(true);
      return true;
    case K::kAnd:
      for (const SearchKey& child : in.children) {
        if (!Convert(s, child, *out.mutable_and_keys()->add_keys())) return false;
      }
      return true;
    case K::kOr:
      return Convert(s, in.children[0], *out.mutable_or_keys()->mutable_first()) &&
             Convert(s, in.children[1], *out.mutable_or_keys()->mutable_second());
    case K::kNot:
      return Convert(s, in.children[0], *out.mutable_not_key());
    case K::kSequence:
      return s.ToUidSet(in.set, false, *out.mutable_uid_set());
    case K::kUid:
      return s.ToUidSet(in.set, true, *out.mutable_uid_set());
    case K::kFlag: {
      md::SystemFlag flag = md::SYSTEM_FLAG_SEEN;
      switch (in.flag) {
        case SearchKey::Flag::kAnswered:
          flag = md::SYSTEM_FLAG_ANSWERED;
          break;
        case SearchKey::Flag::kDeleted:
          flag = md::SYSTEM_FLAG_DELETED;
          break;
        case SearchKey::Flag::kDraft:
          flag = md::SYSTEM_FLAG_DRAFT;
          break;
        case SearchKey::Flag::kFlagged:
          flag = md::SYSTEM_FLAG_FLAGGED;
          break;
        case SearchKey::Flag::kSeen:
          flag = md::SYSTEM_FLAG_SEEN;
          break;
      }
      out.mutable_flag()->set_flag(flag);
      out.mutable_flag()->set_set(in.set_flag);
      return true;
    }
    case K::kKeyword:
      out.mutable_keyword()->set_keyword(in.text);
      out.mutable_keyword()->set_set(in.set_flag);
      return true;
    case K::kRecent:
      out.mutable_recency()->set_kind(md::RecencyCriterion::KIND_RECENT);
      return true;
    case K::kNew:
      out.mutable_recency()->set_kind(md::RecencyCriterion::KIND_NEW);
      return true;
    case K::kOld:
      out.mutable_recency()->set_kind(md::RecencyCriterion::KIND_OLD);
      return true;
    case K::kHeader:
      out.mutable_header()->set_field_name(in.field);
      out.mutable_header()->set_value(in.text);
      return true;
    case K::kBody:
    case K::kText:
      out.mutable_text()->set_scope(in.kind == K::kBody ? md::TextCriterion::SCOPE_BODY
                                                        : md::TextCriterion::SCOPE_TEXT);
      out.mutable_text()->set_value(in.text);
      return true;
    case K::kBefore:
      SetDate(out, md::DateCriterion::FIELD_INTERNAL_DATE, md::DateCriterion::COMPARISON_BEFORE,
              in.date);
      return true;
    case K::kOn:
      SetDate(out, md::DateCriterion::FIELD_INTERNAL_DATE, md::DateCriterion::COMPARISON_ON,
              in.date);
      return true;
    case K::kSince:
      SetDate(out, md::DateCriterion::FIELD_INTERNAL_DATE, md::DateCriterion::COMPARISON_SINCE,
              in.date);
      return true;
    case K::kSentBefore:
      SetDate(out, md::DateCriterion::FIELD_SENT_DATE, md::DateCriterion::COMPARISON_BEFORE,
              in.date);
      return true;
    case K::kSentOn:
      SetDate(out, md::DateCriterion::FIELD_SENT_DATE, md::DateCriterion::COMPARISON_ON, in.date);
      return true;
    case K::kSentSince:
      SetDate(out, md::DateCriterion::FIELD_SENT_DATE, md::DateCriterion::COMPARISON_SINCE,
              in.date);
      return true;
    case K::kLarger:
    case K::kSmaller:
      out.mutable_size()->set_comparison(in.kind == K::kLarger
                                             ? md::SizeCriterion::COMPARISON_LARGER
                                             : md::SizeCriterion::COMPARISON_SMALLER);
      out.mutable_size()->set_octets(in.number);
      return true;
    case K::kModseq:
      s.Bad("MODSEQ needs CONDSTORE, which is not enabled");
      return false;
  }
  return false;
}

}  // namespace

asio::awaitable<void> CmdSearch(Session& s, const protocol::Command& c) {
  const bool uid = c.name == "UID SEARCH";
  absl::StatusOr<protocol::SearchProgram> program = protocol::ParseSearch(c.args);
  if (!program.ok()) {
    s.Bad(FromAbsl(program.status().message()));
    co_return;
  }
  if (program->return_options) {
    s.Bad("SEARCH RETURN (ESEARCH) is not supported");
    co_return;
  }
  md::SearchMessagesRequest req;
  req.set_mailbox_id(s.selected().mailbox_id);
  req.set_uidvalidity(s.selected().uidvalidity);
  req.set_charset(program->charset);
  if (!Convert(s, program->key, *req.mutable_key())) co_return;
  for (uint32_t r : s.view().RecentUids()) {  // ascending: consecutive UIDs share a range
    auto* ranges = req.mutable_recent_uids()->mutable_ranges();
    if (!ranges->empty() && ranges->rbegin()->last() + 1 == r) {
      ranges->rbegin()->set_last(r);
    } else {
      md::UidRange* range = req.mutable_recent_uids()->add_ranges();
      range->set_first(r);
      range->set_last(r);
    }
  }
  std::optional<common::CallMeta> meta = co_await s.Meta();
  if (!meta) co_return;
  std::vector<md::SearchMessagesResponse> chunks;
  Outcome outcome = co_await CallStream<md::SearchMessagesResponse>(
      s.Policy(true), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        s.metad()->async()->SearchMessages(ctx, &req, reader);
      });
  if (!outcome.ok()) {
    s.Fail(outcome, "SEARCH");
    co_return;
  }
  std::string line = "SEARCH";
  const MailboxView& view = s.view();
  std::vector<uint32_t> numbers;
  for (const md::SearchMessagesResponse& chunk : chunks) {
    for (const md::UidRange& r : chunk.uids().ranges()) {
      for (uint64_t u = r.first(); u <= r.last() && u != 0; ++u) {
        const std::optional<uint32_t> seq = view.SeqOf(static_cast<uint32_t>(u));
        if (!seq) continue;  // not yet announced to this client
        numbers.push_back(uid ? static_cast<uint32_t>(u) : *seq);
      }
    }
  }
  std::sort(numbers.begin(), numbers.end());
  for (uint32_t n : numbers) CatAppend(line, " ", n);
  s.Untagged(line);
  s.Ok(Cat(c.name, " completed"));
}

}  // namespace tern::imap::server
