// FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8, 7.4.2). Metadata (flags, dates, sizes,
// ENVELOPE, BODYSTRUCTURE, cached header fields) comes from metad, which parsed the message
// once at ingest; body bytes are read from blobd by range, using the part offsets metad
// cached, so no message is parsed again here.

#include <map>

#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/imap/protocol/fetch_items.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/render.h"
#include "services/imap/server/session.h"
#include "services/mime/message.h"

namespace tern::imap::server {
namespace {

namespace md = metadata::v1;
using protocol::FetchItem;
using protocol::Partial;
using protocol::Section;

constexpr size_t kFlushAt = 256 << 10;
constexpr size_t kFetchBatch = 500;  // messages per FetchMessages call

// Where the bytes of one body item come from.
struct Piece {
  enum class Kind { kRange, kHeaderFilter, kCachedFields, kEmpty };
  Kind kind = Kind::kEmpty;
  uint64_t begin = 0;
  uint64_t end = 0;
  int range_index = -1;   // in the blobd Get request
  bool windowed = false;  // begin/end already narrowed to the item's <partial>
};

const md::PartOffsets* FindPart(const md::MessageMeta& m, const std::string& section) {
  for (const md::PartOffsets& p : m.part_offsets()) {
    if (p.section() == section) return &p;
  }
  return nullptr;
}

std::string PartPath(const Section& section) {
  std::string path;
  for (uint32_t n : section.part) CatAppend(path, path.empty() ? "" : ".", n);
  return path;
}

// Maps a body item onto the message's byte ranges (metadata.proto PartOffsets).
Piece Locate(const FetchItem& item, const md::MessageMeta& m, bool cache_usable) {
  Section section = item.section;
  switch (item.kind) {
    case FetchItem::Kind::kRfc822:
      section = Section{};
      break;
    case FetchItem::Kind::kRfc822Header:
      section = Section{.part = {}, .text = Section::Text::kHeader, .fields = {}};
      break;
    case FetchItem::Kind::kRfc822Text:
      section = Section{.part = {}, .text = Section::Text::kText, .fields = {}};
      break;
    default:
      break;
  }
  const uint64_t size = m.size();
  Piece piece;
  const bool fields = section.text == Section::Text::kHeaderFields ||
                      section.text == Section::Text::kHeaderFieldsNot;
  if (section.part.empty()) {
    const md::PartOffsets* top = FindPart(m, "");
    const uint64_t body_start = top ? top->body_start() : 0;
    if (section.text == Section::Text::kHeaderFields && cache_usable) {
      piece.kind = Piece::Kind::kCachedFields;
      return piece;
    }
    piece.kind = fields ? Piece::Kind::kHeaderFilter : Piece::Kind::kRange;
    switch (section.text) {
      case Section::Text::kNone:
        piece.begin = 0;
        piece.end = size;
        break;
      case Section::Text::kText:
        piece.begin = body_start;
        piece.end = size;
        break;
      default:  // HEADER and HEADER.FIELDS[.NOT]
        piece.begin = 0;
        piece.end = body_start;
        break;
    }
    if (!top && section.text != Section::Text::kNone) piece.kind = Piece::Kind::kEmpty;
    return piece;
  }
  const md::PartOffsets* part = FindPart(m, PartPath(section));
  if (!part) return piece;  // a part that does not exist reads as empty
  piece.kind = fields ? Piece::Kind::kHeaderFilter : Piece::Kind::kRange;
  switch (section.text) {
    case Section::Text::kNone:
      piece.begin = part->body_start();
      piece.end = part->end();
      break;
    case Section::Text::kMime:
      piece.begin = part->header_start();
      piece.end = part->body_start();
      break;
    case Section::Text::kText:
      if (!part->has_message_body_start()) return Piece{};
      piece.begin = part->message_body_start();
      piece.end = part->end();
      break;
    default:  // HEADER, HEADER.FIELDS[.NOT] of a message/rfc822 part
      if (!part->has_message_body_start()) return Piece{};
      piece.begin = part->body_start();
      piece.end = part->message_body_start();
      break;
  }
  return piece;
}

std::string ItemName(const FetchItem& item) {
  switch (item.kind) {
    case FetchItem::Kind::kRfc822:
      return "RFC822";
    case FetchItem::Kind::kRfc822Header:
      return "RFC822.HEADER";
    case FetchItem::Kind::kRfc822Text:
      return "RFC822.TEXT";
    default: {
      // RFC 3501 7.4.2: BODY[section]<origin>, never .PEEK, with only the origin octet.
      std::string name = Cat("BODY[", item.section.ToString(), "]");
      if (item.partial) CatAppend(name, "<", item.partial->offset, ">");
      return name;
    }
  }
}

bool IsBodyItem(const FetchItem& item) {
  return item.kind == FetchItem::Kind::kBodySection || item.kind == FetchItem::Kind::kRfc822 ||
         item.kind == FetchItem::Kind::kRfc822Header || item.kind == FetchItem::Kind::kRfc822Text;
}

// Reads the given ranges of one blob from blobd.
asio::awaitable<Outcome> ReadRanges(Session& s, const common::CallMeta& meta,
                                    const md::MessageMeta& m,
                                    const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                                    std::vector<std::string>& data) {
  blob::v1::GetRequest req;
  req.set_blob_id(m.blob_id());
  req.set_blob_grant(m.blob_grant());
  for (const auto& [b, e] : ranges) {
    blob::v1::ByteRange* r = req.add_ranges();
    r->set_offset(b);
    r->set_length(e - b);
  }
  std::vector<blob::v1::GetResponse> chunks;
  Outcome outcome = co_await CallStream<blob::v1::GetResponse>(
      s.Policy(true), meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
        s.server().blobd->async()->Get(ctx, &req, reader);
      });
  if (!outcome.ok()) co_return outcome;
  data.assign(ranges.size(), std::string());
  for (const blob::v1::GetResponse& c : chunks) {
    if (c.range_index() < data.size()) data[c.range_index()] += c.data();
  }
  co_return outcome;
}

}  // namespace

asio::awaitable<void> CmdFetch(Session& s, const protocol::Command& c) {
  const bool uid = c.name == "UID FETCH";
  if (c.args.size() < 2 || c.args.size() > 3 || !c.args[0].IsAtom()) {
    s.Bad("FETCH expects a sequence set and data items");
    co_return;
  }
  absl::StatusOr<protocol::FetchRequest> parsed =
      protocol::ParseFetchItems(c.args[1], c.args.size() == 3 ? &c.args[2] : nullptr);
  if (!parsed.ok()) {
    s.Bad(FromAbsl(parsed.status().message()));
    co_return;
  }
  const protocol::FetchRequest& request = *parsed;
  if (request.changed_since || request.vanished) {
    s.Bad("CHANGEDSINCE and VANISHED need CONDSTORE/QRESYNC, which are not enabled");
    co_return;
  }
  md::FetchMessagesRequest req;
  req.set_mailbox_id(s.selected().mailbox_id);
  req.set_uidvalidity(s.selected().uidvalidity);
  if (!s.ToUidSet(c.args[0].text, uid, *req.mutable_uid_set())) co_return;
  if (req.uid_set().ranges().empty()) {
    s.Ok("FETCH completed");
    co_return;
  }
  md::FetchAttributes& attrs = *req.mutable_attributes();
  bool sets_seen = false;
  bool needs_blob = false;
  std::vector<std::string> cached_names;
  bool only_cached_fields = true;
  for (const FetchItem& item : request.items) {
    switch (item.kind) {
      case FetchItem::Kind::kFlags:
        attrs.set_flags(true);
        break;
      case FetchItem::Kind::kInternalDate:
        attrs.set_internal_date(true);
        break;
      case FetchItem::Kind::kRfc822Size:
        attrs.set_size(true);
        break;
      case FetchItem::Kind::kEnvelope:
        attrs.set_envelope(true);
        break;
      case FetchItem::Kind::kBody:
      case FetchItem::Kind::kBodyStructure:
        attrs.set_body_structure(true);
        break;
      case FetchItem::Kind::kModseq: {
        s.Bad("MODSEQ needs CONDSTORE, which is not enabled");
        co_return;
      }
      case FetchItem::Kind::kBinary:
      case FetchItem::Kind::kBinarySize: {
        s.Bad("BINARY is not supported");
        co_return;
      }
      default:
        break;
    }
    if (IsBodyItem(item)) {
      needs_blob = true;
      if (item.kind == FetchItem::Kind::kBodySection && item.section.part.empty() &&
          item.section.text == Section::Text::kHeaderFields) {
        cached_names.insert(cached_names.end(), item.section.fields.begin(),
                            item.section.fields.end());
      } else {
        only_cached_fields = false;
      }
    }
    sets_seen = sets_seen || item.SetsSeen();
  }
  if (needs_blob) {
    attrs.set_blob_id(true);
    attrs.set_part_offsets(true);
    attrs.set_size(true);
    for (const std::string& n : cached_names) attrs.add_header_fields(n);
  }
  // RFC 3501 6.4.5: BODY[...] without .PEEK, RFC822 and RFC822.TEXT set \Seen; an
  // EXAMINEd mailbox is never changed.
  if (sets_seen && !s.selected().read_only) {
    req.set_set_seen(true);
    attrs.set_flags(true);
    attrs.set_modseq(true);  // so the view knows the new MODSEQ and Sync stays quiet
  }
  // The messages in the client's view that the set names, fetched in batches: memory and
  // each call's deadline stay bounded however large the mailbox is.
  MailboxView& view = s.view();
  std::vector<uint32_t> targets;
  for (const md::UidRange& r : req.uid_set().ranges()) {
    view.CollectUids(std::min(r.first(), r.last()), std::max(r.first(), r.last()), targets);
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  for (size_t batch_start = 0; batch_start < targets.size(); batch_start += kFetchBatch) {
    const size_t batch_end = std::min(targets.size(), batch_start + kFetchBatch);
    md::FetchMessagesRequest batch = req;
    batch.clear_uid_set();
    for (size_t i = batch_start; i < batch_end; ++i) {
      const uint32_t u = targets[i];
      auto* ranges = batch.mutable_uid_set()->mutable_ranges();
      if (!ranges->empty() && ranges->rbegin()->last() + 1 == u) {
        ranges->rbegin()->set_last(u);
      } else {
        md::UidRange* r = batch.mutable_uid_set()->add_ranges();
        r->set_first(u);
        r->set_last(u);
      }
    }
    std::optional<common::CallMeta> meta = co_await s.Meta();
    if (!meta) co_return;
    std::vector<md::FetchMessagesResponse> chunks;
    Outcome outcome = co_await CallStream<md::FetchMessagesResponse>(
        s.Policy(true), *meta, chunks, [&](grpc::ClientContext* ctx, auto* reader) {
          s.metad()->async()->FetchMessages(ctx, &batch, reader);
        });
    if (!outcome.ok()) {
      s.Fail(outcome, "FETCH");
      co_return;
    }
    for (const md::FetchMessagesResponse& chunk : chunks) {
      for (const md::MessageMeta& m : chunk.messages()) {
        const std::optional<uint32_t> seq = view.SeqOf(m.uid());
        // A message the client has not heard of yet (appended since its last EXISTS) is
        // announced first by a later EXISTS; one expunged meanwhile keeps its number.
        if (!seq || view.IsExpunged(m.uid())) continue;
        bool flags_changed = false;
        if (m.has_flags()) {
          MessageFlags flags{.system = m.flags().system(), .keywords = {}};
          flags.keywords.assign(m.flags().keywords().begin(), m.flags().keywords().end());
          const MessageFlags before = view.FlagsAt(*seq);
          view.Update(*seq, std::max(m.modseq(), view.ModseqAt(*seq)), flags);
          flags_changed = !(view.FlagsAt(*seq) == before);
        }
        // Body data, read from blobd in one call per message.
        std::vector<Piece> pieces(request.items.size());
        std::vector<std::pair<uint64_t, uint64_t>> ranges;
        std::map<std::pair<uint64_t, uint64_t>, int> range_index;
        uint64_t total = 0;
        const bool cache_usable = only_cached_fields && m.header_fields_complete();
        for (size_t i = 0; i < request.items.size(); ++i) {
          if (!IsBodyItem(request.items[i])) continue;
          Piece& piece = pieces[i];
          piece = Locate(request.items[i], m, cache_usable);
          if (piece.kind != Piece::Kind::kRange && piece.kind != Piece::Kind::kHeaderFilter)
            continue;
          piece.end = std::min(piece.end, m.size());
          piece.begin = std::min(piece.begin, piece.end);
          // A partial of plain bytes reads only its window (a header filter needs it all).
          if (piece.kind == Piece::Kind::kRange && request.items[i].partial) {
            const Partial& p = *request.items[i].partial;
            piece.begin = std::min<uint64_t>(piece.end, piece.begin + p.offset);
            piece.end = std::min<uint64_t>(piece.end, piece.begin + p.length);
            piece.windowed = true;
          }
          if (piece.begin == piece.end) {
            piece.kind = Piece::Kind::kEmpty;
            continue;
          }
          auto [it, inserted] = range_index.emplace(std::make_pair(piece.begin, piece.end),
                                                    static_cast<int>(ranges.size()));
          if (inserted) {
            ranges.emplace_back(piece.begin, piece.end);
            total += piece.end - piece.begin;
          }
          piece.range_index = it->second;
        }
        // Many overlapping sections of one big message would multiply it in memory.
        if (total > 2 * m.size() + (1 << 20)) {
          s.Bad("FETCH asks for too many overlapping sections of one message");
          co_return;
        }
        std::vector<std::string> data;
        if (!ranges.empty()) {
          if (ranges.size() > 64) {  // blobd's limit: read the whole message once
            std::vector<std::string> whole;
            const std::optional<common::CallMeta> fresh = co_await s.Meta();
            if (!fresh) co_return;
            meta = fresh;
            // (A named vector: GCC 12 cannot keep an initializer_list across co_await.)
            std::vector<std::pair<uint64_t, uint64_t>> everything;
            everything.emplace_back(0, m.size());
            Outcome read = co_await ReadRanges(s, *meta, m, everything, whole);
            if (!read.ok()) {
              s.Fail(read, "FETCH");
              co_return;
            }
            for (const auto& [b, e] : ranges) data.push_back(whole[0].substr(b, e - b));
          } else {
            const std::optional<common::CallMeta> fresh = co_await s.Meta();
            if (!fresh) co_return;
            meta = fresh;
            Outcome read = co_await ReadRanges(s, *meta, m, ranges, data);
            if (!read.ok()) {
              s.Fail(read, "FETCH");
              co_return;
            }
          }
        }
        std::string& out = s.out();
        CatAppend(out, "* ", *seq, " FETCH (");
        bool first = true;
        auto sep = [&] {
          if (!first) out += ' ';
          first = false;
        };
        // RFC 3501 6.4.8: UID FETCH responses always carry the UID.
        if (uid && !request.Has(FetchItem::Kind::kUid)) {
          sep();
          CatAppend(out, "UID ", m.uid());
        }
        for (size_t i = 0; i < request.items.size(); ++i) {
          const FetchItem& item = request.items[i];
          sep();
          switch (item.kind) {
            case FetchItem::Kind::kUid:
              CatAppend(out, "UID ", m.uid());
              break;
            case FetchItem::Kind::kFlags:
              CatAppend(out, "FLAGS ", FormatFlags(view.FlagsAt(*seq)));
              break;
            case FetchItem::Kind::kInternalDate:
              out += "INTERNALDATE ";
              protocol::AppendDateTime(out, m.internal_date().seconds(),
                                       m.internal_date_utc_offset_minutes());
              break;
            case FetchItem::Kind::kRfc822Size:
              CatAppend(out, "RFC822.SIZE ", m.size());
              break;
            case FetchItem::Kind::kEnvelope:
              out += "ENVELOPE ";
              AppendEnvelope(out, m.envelope());
              break;
            case FetchItem::Kind::kBody:
              out += "BODY ";
              AppendBodyStructure(out, m.body_structure(), false);
              break;
            case FetchItem::Kind::kBodyStructure:
              out += "BODYSTRUCTURE ";
              AppendBodyStructure(out, m.body_structure(), true);
              break;
            default: {
              const Piece& piece = pieces[i];
              std::string bytes;
              switch (piece.kind) {
                case Piece::Kind::kRange:
                  bytes = data[piece.range_index];  // ranges may be shared by several items
                  break;
                case Piece::Kind::kHeaderFilter:
                  bytes = mime::HeaderFields(data[piece.range_index], item.section.fields,
                                             item.section.text == Section::Text::kHeaderFieldsNot);
                  break;
                case Piece::Kind::kCachedFields: {
                  // The ingest cache holds the raw fields in message order; the blank line
                  // that ends a header belongs to HEADER.FIELDS (RFC 3501 6.4.5).
                  for (const md::HeaderField& f : m.header_fields()) {
                    for (const std::string& want : item.section.fields) {
                      if (mime::EqualsIgnoreCase(f.name(), want)) {
                        bytes += f.raw();
                        break;
                      }
                    }
                  }
                  bytes += "\r\n";
                  break;
                }
                case Piece::Kind::kEmpty:
                  break;
              }
              if (item.partial && !piece.windowed) {
                bytes = item.partial->offset >= bytes.size()
                            ? std::string()
                            : bytes.substr(item.partial->offset, item.partial->length);
              }
              CatAppend(out, ItemName(item), " ");
              protocol::AppendLiteral(out, bytes);
              break;
            }
          }
        }
        // RFC 3501 6.4.5: when \Seen was set implicitly, the new flags go with the data.
        if (flags_changed && !request.Has(FetchItem::Kind::kFlags)) {
          sep();
          CatAppend(out, "FLAGS ", FormatFlags(view.FlagsAt(*seq)));
        }
        out += ")\r\n";
        if (out.size() >= kFlushAt) {
          // (No co_await inside && or ||: GCC 12 miscompiles it.)
          const bool flushed = co_await s.Flush();
          if (!flushed) co_return;
        }
      }
    }
  }  // batches
  s.Ok(Cat(c.name, " completed"));
}

}  // namespace tern::imap::server
