#include "services/metadata/store.h"

#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/metadata/names.h"
#include "services/metadata/sort.h"
#include "services/metadata/uid_set.h"

namespace tern::metadata {
namespace {

constexpr char kReasonUrl[] = "type.tern/error-reason";
constexpr uint32_t kAllSystemFlags = 0x1F;  // \Seen \Answered \Flagged \Deleted \Draft
constexpr uint32_t kRecentBit = v1::SYSTEM_FLAG_RECENT;
constexpr uint32_t kSeenBit = v1::SYSTEM_FLAG_SEEN;
constexpr uint32_t kDeletedBit = v1::SYSTEM_FLAG_DELETED;
constexpr uint32_t kMaxChunk = 65536;
constexpr int kMaxMailboxes = 10000;
constexpr int kMaxAppendItems = 1000;
constexpr uint64_t kUidLimit = 4294967295ull;

// ---- rows and SQL helpers -------------------------------------------------------------

struct MailboxRow {
  uint64_t id = 0;
  std::string name;
  bool selectable = true;
  uint32_t uidvalidity = 0;
  uint64_t uidnext = 1;
  uint64_t highest_modseq = 1;
  uint64_t recent_uid = 1;
  std::vector<int> special_use;
  std::vector<std::string> keywords;
};

constexpr char kMailboxColumns[] =
    "id, name, selectable, uidvalidity, uidnext, highest_modseq, recent_uid,"
    " array_to_string(special_use, ','), array_to_string(keywords, ' ')";

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size() && !s.empty()) {
    size_t end = s.find(sep, pos);
    if (end == std::string::npos) end = s.size();
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out.push_back(sep);
    out += p;
  }
  return out;
}

MailboxRow MailboxFromRow(const pqxx::row& r) {
  MailboxRow m;
  m.id = r[0].as<uint64_t>();
  m.name = r[1].as<std::string>();
  m.selectable = r[2].as<bool>();
  m.uidvalidity = r[3].as<uint32_t>();
  m.uidnext = r[4].as<uint64_t>();
  m.highest_modseq = r[5].as<uint64_t>();
  m.recent_uid = r[6].as<uint64_t>();
  for (const std::string& s : Split(r[7].as<std::string>(), ','))
    m.special_use.push_back(std::stoi(s));
  m.keywords = Split(r[8].as<std::string>(), ' ');
  return m;
}

// A PostgreSQL array literal of integers.
template <typename T>
std::string IntArray(const std::vector<T>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(values[i]);
  }
  return out + "}";
}

// A PostgreSQL array literal of text, every element quoted.
std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

struct RangeArrays {
  std::string firsts;
  std::string lasts;
};
RangeArrays Arrays(const std::vector<UidRange>& ranges) {
  std::vector<uint64_t> f, l;
  for (const UidRange& r : ranges) {
    f.push_back(r.first);
    l.push_back(r.last);
  }
  return {IntArray(f), IntArray(l)};
}

// Selects messages of $1 whose uid is in the ranges $2/$3.
constexpr char kInRanges[] =
    " JOIN unnest($2::bigint[], $3::bigint[]) AS r(f, l) ON m.uid BETWEEN r.f AND r.l ";

v1::Flags FlagsOf(uint32_t system, const std::vector<std::string>& keywords) {
  v1::Flags f;
  f.set_system(system);
  for (const std::string& k : keywords) f.add_keywords(k);
  return f;
}

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

absl::Status NotFoundMailbox(std::string_view what) {
  return ReasonError(absl::StatusCode::kNotFound, v1::ERROR_REASON_NONEXISTENT,
                     Cat("no mailbox ", what));
}

// RFC 3501 flag-keyword: an atom, not beginning with '\'.
bool IsKeyword(std::string_view k) {
  if (k.empty() || k.size() > 100 || k[0] == '\\') return false;
  for (char c : k) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' ||
        c == '"' || c == '\\' || c == ']') {
      return false;
    }
  }
  return true;
}

// Runs fn in a transaction; retried on serialization failures, deadlocks and the unique
// violations two racing idempotent retries can cause. libpqxx exceptions end here.
template <typename Txn, typename Fn>
auto WithTxn(common::PgPool& pool, Fn&& fn) -> decltype(fn(std::declval<Txn&>())) {
  for (int attempt = 1;; ++attempt) {
    auto lease = pool.Acquire();
    if (!lease.ok()) return lease.status();
    try {
      Txn txn(**lease);
      auto result = fn(txn);
      if (result.ok()) txn.commit();
      return result;
    } catch (const pqxx::broken_connection& e) {
      lease->MarkBroken();
      return absl::UnavailableError(Cat("postgresql: ", e.what()));
    } catch (const pqxx::sql_error& e) {
      const std::string state = e.sqlstate();
      const bool retry = state == "40001" || state == "40P01" || state == "23505";
      if (retry && attempt < 5) continue;
      if (state == "23503") return absl::PermissionDeniedError("the user no longer exists");
      if (state == "57014") return absl::DeadlineExceededError("statement timeout");
      return absl::InternalError(Cat("metadata sql: ", e.what()));
    } catch (const std::exception& e) {
      return absl::InternalError(Cat("metadata: ", e.what()));
    }
  }
}

// A user's mailboxes come into being on the user's first call: INBOX and the default
// folders with their special-use attributes (RFC 6154), which clients such as Thunderbird
// and Apple Mail pick up from LIST.
constexpr std::pair<const char*, v1::SpecialUse> kDefaultFolders[] = {
    {"Sent", v1::SPECIAL_USE_SENT},       {"Drafts", v1::SPECIAL_USE_DRAFTS},
    {"Trash", v1::SPECIAL_USE_TRASH},     {"Junk", v1::SPECIAL_USE_JUNK},
    {"Archive", v1::SPECIAL_USE_ARCHIVE},
};

void EnsureInbox(pqxx::work& txn, uint64_t user) {
  const pqxx::result created = txn.exec_params(
      "INSERT INTO mailboxes (user_id, name) VALUES ($1, 'INBOX') ON CONFLICT DO NOTHING"
      " RETURNING id",
      static_cast<int64_t>(user));
  if (created.empty()) return;
  for (const auto& [name, use] : kDefaultFolders) {
    txn.exec_params(
        "INSERT INTO mailboxes (user_id, name, special_use) VALUES ($1, $2, ARRAY[$3]::smallint[])"
        " ON CONFLICT DO NOTHING",
        static_cast<int64_t>(user), std::string(name), static_cast<int>(use));
  }
  txn.exec_params("INSERT INTO quota_usage (user_id) VALUES ($1) ON CONFLICT DO NOTHING",
                  static_cast<int64_t>(user));
}

std::optional<MailboxRow> FindByName(pqxx::transaction_base& txn, uint64_t user,
                                     const std::string& name, bool lock) {
  const pqxx::result r = txn.exec_params(
      Cat("SELECT ", kMailboxColumns, " FROM mailboxes WHERE user_id = $1 AND name = $2",
          lock ? " FOR UPDATE" : ""),
      static_cast<int64_t>(user), name);
  if (r.empty()) return std::nullopt;
  return MailboxFromRow(r[0]);
}

// The selected mailbox of an RPC: NONEXISTENT, UIDVALIDITY_CHANGED or NOSELECT otherwise.
absl::StatusOr<MailboxRow> Selected(pqxx::transaction_base& txn, uint64_t user, uint64_t id,
                                    uint32_t uidvalidity, bool lock) {
  const pqxx::result r = txn.exec_params(
      Cat("SELECT ", kMailboxColumns, " FROM mailboxes WHERE user_id = $1 AND id = $2",
          lock ? " FOR UPDATE" : ""),
      static_cast<int64_t>(user), static_cast<int64_t>(id));
  if (r.empty()) return NotFoundMailbox(std::to_string(id));
  MailboxRow m = MailboxFromRow(r[0]);
  if (m.uidvalidity != uidvalidity) {
    return ReasonError(absl::StatusCode::kFailedPrecondition, v1::ERROR_REASON_UIDVALIDITY_CHANGED,
                       "UIDVALIDITY changed");
  }
  if (!m.selectable) return NotFoundMailbox(m.name);
  return m;
}

uint32_t MaxUid(pqxx::transaction_base& txn, uint64_t mailbox) {
  const pqxx::row r =
      txn.exec_params1("SELECT COALESCE(MAX(uid), 0) FROM messages WHERE mailbox_id = $1",
                       static_cast<int64_t>(mailbox));
  return r[0].as<uint32_t>();
}

// Every change to a mailbox takes a new MODSEQ above its HIGHESTMODSEQ (invariant 3).
uint64_t BumpModseq(pqxx::work& txn, MailboxRow& m) {
  const pqxx::row r = txn.exec_params1(
      "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1"
      " RETURNING highest_modseq",
      static_cast<int64_t>(m.id));
  m.highest_modseq = r[0].as<uint64_t>();
  return m.highest_modseq;
}

void AdjustUsage(pqxx::work& txn, uint64_t user, int64_t bytes, int64_t messages) {
  txn.exec_params(
      "INSERT INTO quota_usage (user_id, storage_bytes, messages) VALUES ($1, $2, $3)"
      " ON CONFLICT (user_id) DO UPDATE SET storage_bytes = quota_usage.storage_bytes + $2,"
      " messages = quota_usage.messages + $3",
      static_cast<int64_t>(user), bytes, messages);
}

// OVERQUOTA when adding bytes/messages would pass the user's limits (locks the usage row).
absl::Status CheckQuota(pqxx::work& txn, uint64_t user, uint64_t bytes, uint64_t messages) {
  const pqxx::result r = txn.exec_params(
      "SELECT u.quota_storage_bytes, u.quota_messages, COALESCE(q.storage_bytes, 0),"
      " COALESCE(q.messages, 0) FROM users u LEFT JOIN quota_usage q ON q.user_id = u.id"
      " WHERE u.id = $1 FOR UPDATE OF u",
      static_cast<int64_t>(user));
  if (r.empty()) return absl::PermissionDeniedError("the user no longer exists");
  const pqxx::row& row = r[0];
  if (!row[0].is_null() && row[2].as<uint64_t>() + bytes > row[0].as<uint64_t>()) {
    return ReasonError(absl::StatusCode::kResourceExhausted, v1::ERROR_REASON_OVERQUOTA,
                       "storage quota exceeded");
  }
  if (!row[1].is_null() && row[3].as<uint64_t>() + messages > row[1].as<uint64_t>()) {
    return ReasonError(absl::StatusCode::kResourceExhausted, v1::ERROR_REASON_OVERQUOTA,
                       "message quota exceeded");
  }
  return absl::OkStatus();
}

// Keywords spelled as the mailbox first saw them (case-insensitive), new ones added to it.
absl::StatusOr<std::vector<std::string>> CanonicalKeywords(
    MailboxRow& m, const google::protobuf::RepeatedPtrField<std::string>& requested,
    size_t max_keywords, bool& mailbox_changed) {
  std::vector<std::string> out;
  for (const std::string& k : requested) {
    if (!IsKeyword(k)) return absl::InvalidArgumentError(Cat("not a keyword: ", k));
    const std::string lower = absl::AsciiStrToLower(k);
    std::string spelling;
    for (const std::string& known : m.keywords) {
      if (absl::AsciiStrToLower(known) == lower) spelling = known;
    }
    if (spelling.empty()) {
      if (m.keywords.size() >= max_keywords) {
        return ReasonError(absl::StatusCode::kResourceExhausted, v1::ERROR_REASON_LIMIT,
                           "too many keywords in this mailbox");
      }
      m.keywords.push_back(k);
      mailbox_changed = true;
      spelling = k;
    }
    if (std::find(out.begin(), out.end(), spelling) == out.end()) out.push_back(spelling);
  }
  return out;
}

void SaveKeywords(pqxx::work& txn, const MailboxRow& m) {
  txn.exec_params("UPDATE mailboxes SET keywords = $2::text[] WHERE id = $1",
                  static_cast<int64_t>(m.id), TextArray(m.keywords));
}

v1::ChangeNotice Notice(uint64_t user, const MailboxRow& m, v1::ChangeKind kind) {
  v1::ChangeNotice n;
  n.set_mailbox_id(m.id);
  n.set_uidvalidity(m.uidvalidity);
  n.set_highest_modseq(m.highest_modseq);
  n.set_uidnext(static_cast<uint32_t>(std::min<uint64_t>(m.uidnext, kUidLimit)));
  n.add_kinds(kind);
  n.set_user_id(user);
  n.set_mailbox_name(m.name);
  return n;
}

v1::Mailbox ToProto(const MailboxRow& m) {
  v1::Mailbox out;
  out.set_mailbox_id(m.id);
  out.set_name(m.name);
  out.set_uidvalidity(m.uidvalidity);
  out.set_uidnext(static_cast<uint32_t>(std::min<uint64_t>(m.uidnext, kUidLimit)));
  out.set_highest_modseq(m.highest_modseq);
  for (int s : m.special_use) out.add_special_use(static_cast<v1::SpecialUse>(s));
  return out;
}

// Idempotency (Append, Copy, Move): a stored answer for (user, key), or nullopt. The same
// key with a different request is IDEMPOTENCY_KEY_REUSED.
absl::StatusOr<std::optional<std::string>> StoredAnswer(pqxx::work& txn, uint64_t user,
                                                        const std::string& key,
                                                        const std::string& request_hash) {
  const pqxx::result r = txn.exec_params(
      "SELECT request_hash, response FROM idempotency WHERE user_id = $1 AND key = $2",
      static_cast<int64_t>(user), key);
  if (r.empty()) return std::optional<std::string>();
  if (pqxx::binarystring(r[0][0]).str() != request_hash) {
    return ReasonError(absl::StatusCode::kFailedPrecondition,
                       v1::ERROR_REASON_IDEMPOTENCY_KEY_REUSED,
                       "idempotency key used for another request");
  }
  return std::optional<std::string>(pqxx::binarystring(r[0][1]).str());
}

void StoreAnswer(pqxx::work& txn, uint64_t user, const std::string& key,
                 const std::string& request_hash, const std::string& response) {
  txn.exec_params(
      "INSERT INTO idempotency (user_id, key, request_hash, response) VALUES ($1, $2, $3, $4)",
      static_cast<int64_t>(user), key, pqxx::binarystring(request_hash),
      pqxx::binarystring(response));
}

struct NewMessage {
  uint32_t uid;
  uint32_t system_flags;
  std::string keywords;  // space separated
  std::string blob_id;
  uint64_t size;
  int64_t internal_micros;
  int32_t tz_offset;
  std::string parsed;  // serialized ParsedMessage
  uint64_t crlf_size;  // ParsedMessage.crlf_size; 0 = unknown (stored as NULL)
};

// One INSERT for the whole batch.
void InsertMessages(pqxx::work& txn, uint64_t mailbox, uint64_t modseq,
                    const std::vector<NewMessage>& msgs) {
  std::vector<uint64_t> uids, flags, sizes;
  std::vector<int64_t> dates, tz, crlf_sizes;
  std::vector<std::string> keywords, blobs, parsed;
  for (const NewMessage& m : msgs) {
    uids.push_back(m.uid);
    flags.push_back(m.system_flags);
    sizes.push_back(m.size);
    dates.push_back(m.internal_micros);
    tz.push_back(m.tz_offset);
    keywords.push_back(m.keywords);
    blobs.push_back(m.blob_id);
    parsed.push_back(absl::BytesToHexString(ToAbsl(m.parsed)));
    crlf_sizes.push_back(static_cast<int64_t>(m.crlf_size));
  }
  txn.exec_params(
      "INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, blob_id, size,"
      " internal_date, tz_offset_min, parsed, crlf_size)"
      " SELECT $1, v.uid, $2, v.flags, string_to_array(v.kw, ' '), v.blob, v.size,"
      " to_timestamp(v.micros / 1000000.0), v.tz, decode(v.parsed, 'hex'), NULLIF(v.crlf, 0)"
      " FROM unnest($3::bigint[], $4::integer[], $5::text[], $6::text[], $7::bigint[],"
      " $8::bigint[], $9::integer[], $10::text[], $11::bigint[]) AS v(uid, flags, kw, blob,"
      " size, micros, tz, parsed, crlf)",
      static_cast<int64_t>(mailbox), static_cast<int64_t>(modseq), IntArray(uids), IntArray(flags),
      TextArray(keywords), TextArray(blobs), IntArray(sizes), IntArray(dates), IntArray(tz),
      TextArray(parsed), IntArray(crlf_sizes));
}

// Allocates n consecutive UIDs (the mailbox row is locked).
absl::StatusOr<uint32_t> AllocateUids(pqxx::work& txn, MailboxRow& m, size_t n) {
  if (m.uidnext + n - 1 > kUidLimit) {
    return ReasonError(absl::StatusCode::kResourceExhausted, v1::ERROR_REASON_LIMIT,
                       "the mailbox has used up its UIDs");
  }
  const uint32_t first = static_cast<uint32_t>(m.uidnext);
  m.uidnext += n;
  txn.exec_params("UPDATE mailboxes SET uidnext = $2 WHERE id = $1", static_cast<int64_t>(m.id),
                  static_cast<int64_t>(m.uidnext));
  return first;
}

// Deletes messages (recording them as vanished at modseq) and returns uids and bytes.
std::pair<std::vector<uint32_t>, int64_t> DeleteMessages(pqxx::work& txn, const MailboxRow& m,
                                                         const std::vector<uint32_t>& uids,
                                                         uint64_t modseq) {
  const pqxx::result r = txn.exec_params(
      "WITH gone AS (DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])"
      " RETURNING uid, size, blob_id),"
      " recorded AS (INSERT INTO vanished (mailbox_id, uid, modseq, blob_id)"
      " SELECT $1, uid, $3, blob_id FROM gone ON CONFLICT DO NOTHING)"
      " SELECT uid, size FROM gone",
      static_cast<int64_t>(m.id), IntArray(uids), static_cast<int64_t>(modseq));
  std::vector<uint32_t> gone;
  int64_t bytes = 0;
  for (const pqxx::row& row : r) {
    gone.push_back(row[0].as<uint32_t>());
    bytes += row[1].as<int64_t>();
  }
  std::sort(gone.begin(), gone.end());
  return {gone, bytes};
}

}  // namespace

// ---- errors and encodings -------------------------------------------------------------

absl::Status ReasonError(absl::StatusCode code, v1::ErrorReason reason, std::string_view msg) {
  absl::Status s(code, ToAbsl(msg));
  s.SetPayload(kReasonUrl, absl::Cord(v1::ErrorReason_Name(reason)));
  return s;
}

v1::ErrorReason ReasonOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kReasonUrl);
  v1::ErrorReason reason = v1::ERROR_REASON_UNSPECIFIED;
  if (payload.has_value()) v1::ErrorReason_Parse(std::string(*payload), &reason);
  return reason;
}

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

uint64_t ZigZag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}

// ---- mailboxes ------------------------------------------------------------------------

absl::StatusOr<v1::Mailbox> MetadataStore::CreateMailbox(uint64_t user,
                                                         const v1::CreateMailboxRequest& req,
                                                         Notices& notices) {
  absl::StatusOr<std::string> name = CanonicalMailboxName(req.name());
  if (!name.ok()) return name.status();
  std::vector<int> uses;
  for (int s : req.special_use()) {
    // RFC 6154 3: \All and \Flagged are virtual; the server cannot assign them.
    if (s == v1::SPECIAL_USE_ALL || s == v1::SPECIAL_USE_FLAGGED || s == 0 ||
        !v1::SpecialUse_IsValid(s)) {
      return ReasonError(absl::StatusCode::kInvalidArgument, v1::ERROR_REASON_USEATTR,
                         "special-use attribute cannot be assigned");
    }
    uses.push_back(s);
  }
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::Mailbox> {
    notices.clear();  // a retried transaction starts over
    EnsureInbox(txn, user);
    if (std::optional<MailboxRow> existing = FindByName(txn, user, *name, true)) {
      if (existing->selectable) {
        return ReasonError(absl::StatusCode::kAlreadyExists, v1::ERROR_REASON_ALREADYEXISTS,
                           Cat("mailbox ", *name, " exists"));
      }
      // A \Noselect placeholder becomes a mailbox again, with a new UIDVALIDITY.
      const pqxx::row r =
          txn.exec_params1(Cat("UPDATE mailboxes SET selectable = true, uidvalidity ="
                               " nextval('mailbox_uidvalidity_seq'), uidnext = 1, recent_uid = 1,"
                               " special_use = $2::smallint[] WHERE id = $1 RETURNING ",
                               kMailboxColumns),
                           static_cast<int64_t>(existing->id), IntArray(uses));
      MailboxRow m = MailboxFromRow(r);
      notices.push_back(Notice(user, m, v1::CHANGE_KIND_MAILBOX_CREATED));
      return ToProto(m);
    }
    const pqxx::row count = txn.exec_params1("SELECT count(*) FROM mailboxes WHERE user_id = $1",
                                             static_cast<int64_t>(user));
    if (count[0].as<int>() >= kMaxMailboxes) {
      return ReasonError(absl::StatusCode::kResourceExhausted, v1::ERROR_REASON_LIMIT,
                         "too many mailboxes");
    }
    // RFC 3501 6.3.3: superior names that do not exist are created too.
    for (const std::string& superior : SuperiorNames(*name)) {
      txn.exec_params(
          "INSERT INTO mailboxes (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
          static_cast<int64_t>(user), superior);
    }
    const pqxx::row r = txn.exec_params1(
        Cat("INSERT INTO mailboxes (user_id, name, special_use) VALUES ($1, $2, $3::smallint[])"
            " RETURNING ",
            kMailboxColumns),
        static_cast<int64_t>(user), *name, IntArray(uses));
    MailboxRow m = MailboxFromRow(r);
    notices.push_back(Notice(user, m, v1::CHANGE_KIND_MAILBOX_CREATED));
    return ToProto(m);
  });
}

absl::Status MetadataStore::DeleteMailbox(uint64_t user, const std::string& raw_name,
                                          Notices& notices) {
  absl::StatusOr<std::string> name = CanonicalMailboxName(raw_name);
  if (!name.ok()) return name.status();
  if (*name == "INBOX") {
    return ReasonError(absl::StatusCode::kInvalidArgument, v1::ERROR_REASON_CANNOT,
                       "INBOX cannot be deleted");
  }
  absl::StatusOr<bool> done =
      WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<bool> {
        notices.clear();  // a retried transaction starts over
        std::optional<MailboxRow> m = FindByName(txn, user, *name, true);
        if (!m) return NotFoundMailbox(*name);
        const pqxx::row children = txn.exec_params1(
            "SELECT count(*) FROM mailboxes WHERE user_id = $1 AND starts_with(name, $2)",
            static_cast<int64_t>(user), *name + "/");
        const pqxx::row usage = txn.exec_params1(
            "SELECT COALESCE(SUM(size), 0), count(*) FROM messages WHERE mailbox_id = $1",
            static_cast<int64_t>(m->id));
        AdjustUsage(txn, user, -usage[0].as<int64_t>(), -usage[1].as<int64_t>());
        if (children[0].as<int>() > 0) {
          if (!m->selectable) {
            return ReasonError(absl::StatusCode::kFailedPrecondition, v1::ERROR_REASON_HASCHILDREN,
                               "mailbox has inferiors and is already \\Noselect");
          }
          // RFC 3501 6.3.4: with inferiors, the name stays as \Noselect.
          txn.exec_params("DELETE FROM messages WHERE mailbox_id = $1",
                          static_cast<int64_t>(m->id));
          txn.exec_params("UPDATE mailboxes SET selectable = false WHERE id = $1",
                          static_cast<int64_t>(m->id));
        } else {
          txn.exec_params("DELETE FROM mailboxes WHERE id = $1", static_cast<int64_t>(m->id));
        }
        notices.push_back(Notice(user, *m, v1::CHANGE_KIND_MAILBOX_DELETED));
        return true;
      });
  return done.status();
}

absl::StatusOr<v1::Mailbox> MetadataStore::RenameMailbox(uint64_t user, const std::string& raw_old,
                                                         const std::string& raw_new,
                                                         Notices& notices) {
  absl::StatusOr<std::string> old_name = CanonicalMailboxName(raw_old);
  if (!old_name.ok()) return old_name.status();
  absl::StatusOr<std::string> new_name = CanonicalMailboxName(raw_new);
  if (!new_name.ok()) return new_name.status();
  if (*new_name == *old_name || IsInferiorOf(*new_name, *old_name) || *new_name == "INBOX") {
    return ReasonError(absl::StatusCode::kInvalidArgument, v1::ERROR_REASON_CANNOT,
                       "cannot rename a mailbox to itself, an inferior or INBOX");
  }
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::Mailbox> {
    notices.clear();  // a retried transaction starts over
    EnsureInbox(txn, user);
    std::optional<MailboxRow> old_box = FindByName(txn, user, *old_name, true);
    if (!old_box || !old_box->selectable) return NotFoundMailbox(*old_name);
    if (FindByName(txn, user, *new_name, true)) {
      return ReasonError(absl::StatusCode::kAlreadyExists, v1::ERROR_REASON_ALREADYEXISTS,
                         Cat("mailbox ", *new_name, " exists"));
    }
    for (const std::string& superior : SuperiorNames(*new_name)) {
      txn.exec_params(
          "INSERT INTO mailboxes (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
          static_cast<int64_t>(user), superior);
    }
    if (*old_name == "INBOX") {
      // RFC 3501 6.3.5: renaming INBOX moves its messages to a new mailbox and leaves
      // INBOX empty; INBOX's inferiors stay.
      const pqxx::row r = txn.exec_params1(
          Cat("INSERT INTO mailboxes (user_id, name) VALUES ($1, $2) RETURNING ", kMailboxColumns),
          static_cast<int64_t>(user), *new_name);
      MailboxRow target = MailboxFromRow(r);
      const pqxx::result msgs =
          txn.exec_params("SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid",
                          static_cast<int64_t>(old_box->id));
      if (!msgs.empty()) {
        const uint64_t modseq = BumpModseq(txn, target);
        absl::StatusOr<uint32_t> first = AllocateUids(txn, target, msgs.size());
        if (!first.ok()) return first.status();
        txn.exec_params(
            "INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, blob_id,"
            " size, internal_date, tz_offset_min, parsed, crlf_size)"
            " SELECT $2, $3 + row_number() OVER (ORDER BY uid) - 1, $4, system_flags, keywords,"
            " blob_id, size, internal_date, tz_offset_min, parsed, crlf_size FROM messages"
            " WHERE mailbox_id = $1",
            static_cast<int64_t>(old_box->id), static_cast<int64_t>(target.id),
            static_cast<int64_t>(*first), static_cast<int64_t>(modseq));
        txn.exec_params("UPDATE mailboxes SET keywords = $2::text[] WHERE id = $1",
                        static_cast<int64_t>(target.id), TextArray(old_box->keywords));
        std::vector<uint32_t> uids;
        for (const pqxx::row& row : msgs) uids.push_back(row[0].as<uint32_t>());
        const uint64_t inbox_modseq = BumpModseq(txn, *old_box);
        DeleteMessages(txn, *old_box, uids, inbox_modseq);
        notices.push_back(Notice(user, *old_box, v1::CHANGE_KIND_EXPUNGE));
      }
      notices.push_back(Notice(user, target, v1::CHANGE_KIND_MAILBOX_CREATED));
      return ToProto(target);
    }
    // The mailbox and its inferiors move together, keeping ids and UIDVALIDITY.
    txn.exec_params(
        "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1) WHERE user_id = $1 AND"
        " (name = $2 OR starts_with(name, $2 || '/'))",
        static_cast<int64_t>(user), *old_name, *new_name);
    old_box->name = *new_name;
    notices.push_back(Notice(user, *old_box, v1::CHANGE_KIND_MAILBOX_RENAMED));
    return ToProto(*old_box);
  });
}

absl::Status MetadataStore::SetSubscribed(uint64_t user, const std::string& raw_name,
                                          bool subscribed, Notices&) {
  absl::StatusOr<std::string> name = CanonicalMailboxName(raw_name);
  if (!name.ok()) return name.status();
  return WithTxn<pqxx::work>(pool_,
                             [&](pqxx::work& txn) -> absl::StatusOr<bool> {
                               if (subscribed) {
                                 txn.exec_params(
                                     "INSERT INTO subscriptions (user_id, name) VALUES ($1, $2)"
                                     " ON CONFLICT DO NOTHING",
                                     static_cast<int64_t>(user), *name);
                               } else {
                                 txn.exec_params(
                                     "DELETE FROM subscriptions WHERE user_id = $1 AND name = $2",
                                     static_cast<int64_t>(user), *name);
                               }
                               return true;
                             })
      .status();
}

namespace {

absl::StatusOr<v1::MailboxStatus> StatusOf(pqxx::transaction_base& txn, const MailboxRow& m,
                                           const std::vector<v1::StatusItem>& items,
                                           uint64_t append_limit) {
  const pqxx::row r = txn.exec_params1(
      "SELECT count(*), count(*) FILTER (WHERE uid >= $2),"
      " count(*) FILTER (WHERE system_flags & 1 = 0), COALESCE(SUM(size), 0),"
      " count(*) FILTER (WHERE system_flags & 8 <> 0) FROM messages WHERE mailbox_id = $1",
      static_cast<int64_t>(m.id), static_cast<int64_t>(m.recent_uid));
  v1::MailboxStatus s;
  s.set_mailbox_id(m.id);
  for (v1::StatusItem item : items) {
    switch (item) {
      case v1::STATUS_ITEM_MESSAGES:
        s.set_messages(r[0].as<uint32_t>());
        break;
      case v1::STATUS_ITEM_RECENT:
        s.set_recent(r[1].as<uint32_t>());
        break;
      case v1::STATUS_ITEM_UIDNEXT:
        s.set_uidnext(static_cast<uint32_t>(std::min<uint64_t>(m.uidnext, kUidLimit)));
        break;
      case v1::STATUS_ITEM_UIDVALIDITY:
        s.set_uidvalidity(m.uidvalidity);
        break;
      case v1::STATUS_ITEM_UNSEEN:
        s.set_unseen(r[2].as<uint32_t>());
        break;
      case v1::STATUS_ITEM_HIGHESTMODSEQ:
        s.set_highest_modseq(m.highest_modseq);
        break;
      case v1::STATUS_ITEM_SIZE:
        s.set_size(r[3].as<uint64_t>());
        break;
      case v1::STATUS_ITEM_APPENDLIMIT:
        s.set_append_limit(append_limit);
        break;
      case v1::STATUS_ITEM_DELETED:
        s.set_deleted(r[4].as<uint32_t>());
        break;
      default:
        return absl::InvalidArgumentError("unknown STATUS item");
    }
  }
  return s;
}

}  // namespace

absl::StatusOr<v1::MailboxStatus> MetadataStore::GetStatus(
    uint64_t user, const std::string& raw_name, const std::vector<v1::StatusItem>& items) {
  absl::StatusOr<std::string> name = CanonicalMailboxName(raw_name);
  if (!name.ok()) return name.status();
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::MailboxStatus> {
    if (*name == "INBOX") EnsureInbox(txn, user);
    std::optional<MailboxRow> m = FindByName(txn, user, *name, false);
    if (!m) return NotFoundMailbox(*name);
    if (!m->selectable) {
      return ReasonError(absl::StatusCode::kFailedPrecondition, v1::ERROR_REASON_NOSELECT,
                         "mailbox is \\Noselect");
    }
    return StatusOf(txn, *m, items, options_.append_limit);
  });
}

absl::Status MetadataStore::CheckMailboxExists(uint64_t user, const std::string& raw_name) {
  std::vector<v1::StatusItem> none;
  return GetStatus(user, raw_name, none).status();
}

absl::StatusOr<v1::ListMailboxesResponse> MetadataStore::ListMailboxes(
    uint64_t user, const v1::ListMailboxesRequest& req) {
  if (req.patterns().empty()) return absl::InvalidArgumentError("LIST needs a pattern");
  const auto& sel = req.selection();
  if (sel.recursive_match() && !sel.subscribed() && !sel.special_use()) {
    return absl::InvalidArgumentError("RECURSIVEMATCH needs another selection option");
  }
  return WithTxn<pqxx::work>(
      pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::ListMailboxesResponse> {
        EnsureInbox(txn, user);
        std::map<std::string, MailboxRow> boxes;
        for (const pqxx::row& r :
             txn.exec_params(Cat("SELECT ", kMailboxColumns, " FROM mailboxes WHERE user_id = $1"),
                             static_cast<int64_t>(user))) {
          MailboxRow m = MailboxFromRow(r);
          boxes.emplace(m.name, std::move(m));
        }
        std::set<std::string> subscribed;
        for (const pqxx::row& r : txn.exec_params(
                 "SELECT name FROM subscriptions WHERE user_id = $1", static_cast<int64_t>(user))) {
          subscribed.insert(r[0].as<std::string>());
        }
        const auto matches = [&](const std::string& name) {
          for (const std::string& p : req.patterns()) {
            if (MatchesPattern(name, req.reference() + p)) return true;
          }
          return false;
        };
        const auto has_children = [&](const std::string& name) {
          auto next = boxes.lower_bound(name + "/");
          return next != boxes.end() && next->first.starts_with(name + "/");
        };
        std::set<std::string> names;
        for (const auto& [name, m] : boxes) names.insert(name);
        if (sel.subscribed()) names.insert(subscribed.begin(), subscribed.end());

        std::vector<v1::MailboxInfo> out;
        for (const std::string& name : names) {
          const auto box = boxes.find(name);
          const bool exists = box != boxes.end();
          const bool is_subscribed = subscribed.contains(name);
          bool selected = matches(name);
          bool child_subscribed = false;
          if (sel.subscribed() && !is_subscribed) {
            selected = false;
            if (sel.recursive_match() && matches(name)) {
              for (const std::string& s : subscribed) child_subscribed |= IsInferiorOf(s, name);
            }
          }
          if (sel.special_use() && (!exists || box->second.special_use.empty())) selected = false;
          if (!selected && !child_subscribed) continue;
          v1::MailboxInfo info;
          info.set_name(name);
          info.set_delimiter("/");
          info.set_child_subscribed(child_subscribed);
          if (!exists) {
            info.add_attributes(v1::MAILBOX_ATTRIBUTE_NONEXISTENT);
          } else {
            const MailboxRow& m = box->second;
            if (!m.selectable) {
              info.add_attributes(v1::MAILBOX_ATTRIBUTE_NOSELECT);
            } else {
              info.set_mailbox_id(m.id);
            }
            info.add_attributes(has_children(name) ? v1::MAILBOX_ATTRIBUTE_HAS_CHILDREN
                                                   : v1::MAILBOX_ATTRIBUTE_HAS_NO_CHILDREN);
            for (int s : m.special_use) info.add_special_use(static_cast<v1::SpecialUse>(s));
            if (m.selectable && !req.return_options().status_items().empty()) {
              std::vector<v1::StatusItem> items;
              for (int i : req.return_options().status_items()) {
                items.push_back(static_cast<v1::StatusItem>(i));
              }
              absl::StatusOr<v1::MailboxStatus> status =
                  StatusOf(txn, m, items, options_.append_limit);
              if (!status.ok()) return status.status();
              *info.mutable_status() = *status;
            }
          }
          if (is_subscribed) info.add_attributes(v1::MAILBOX_ATTRIBUTE_SUBSCRIBED);
          out.push_back(std::move(info));
        }
        std::stable_sort(out.begin(), out.end(),
                         [](const v1::MailboxInfo& a, const v1::MailboxInfo& b) {
                           if ((a.name() == "INBOX") != (b.name() == "INBOX"))
                             return a.name() == "INBOX";
                           return a.name() < b.name();
                         });
        v1::ListMailboxesResponse resp;
        for (v1::MailboxInfo& info : out) *resp.add_mailboxes() = std::move(info);
        return resp;
      });
}

// ---- the selected mailbox -------------------------------------------------------------

absl::StatusOr<std::vector<v1::SelectChunk>> MetadataStore::Select(
    uint64_t user, const v1::SelectMailboxRequest& req) {
  absl::StatusOr<std::string> name = CanonicalMailboxName(req.name());
  if (!name.ok()) return name.status();
  // A read-write select claims \Recent first (its own short transaction): UIDs from the
  // old watermark up to UIDNEXT are \Recent for this session only.
  struct Claim {
    uint64_t from = 0, to = 0;
  };
  absl::StatusOr<Claim> claim =
      WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<Claim> {
        if (*name == "INBOX") EnsureInbox(txn, user);
        std::optional<MailboxRow> m = FindByName(txn, user, *name, !req.read_only());
        if (!m) return NotFoundMailbox(*name);
        if (!m->selectable) {
          return ReasonError(absl::StatusCode::kFailedPrecondition, v1::ERROR_REASON_NOSELECT,
                             "mailbox is \\Noselect");
        }
        if (req.read_only()) return Claim{};
        txn.exec_params("UPDATE mailboxes SET recent_uid = uidnext WHERE id = $1",
                        static_cast<int64_t>(m->id));
        return Claim{m->recent_uid, m->uidnext};
      });
  if (!claim.ok()) return claim.status();
  const uint32_t chunk_size =
      req.max_chunk_messages() == 0 ? kMaxChunk : std::min(req.max_chunk_messages(), kMaxChunk);

  using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;
  return WithTxn<Snapshot>(
      pool_, [&](Snapshot& txn) -> absl::StatusOr<std::vector<v1::SelectChunk>> {
        std::optional<MailboxRow> m = FindByName(txn, user, *name, false);
        if (!m || !m->selectable) return NotFoundMailbox(*name);
        const pqxx::result rows = txn.exec_params(
            "SELECT uid, modseq, system_flags, array_to_string(keywords, ' ') FROM messages"
            " WHERE mailbox_id = $1 ORDER BY uid",
            static_cast<int64_t>(m->id));
        std::map<std::string, uint32_t> keyword_index;
        for (size_t i = 0; i < m->keywords.size(); ++i) {
          keyword_index[m->keywords[i]] = static_cast<uint32_t>(i);
        }
        std::vector<v1::SelectChunk> out(1);
        v1::SelectHeader& header = *out[0].mutable_header();
        header.set_mailbox_id(m->id);
        header.set_name(m->name);
        header.set_uidvalidity(m->uidvalidity);
        header.set_uidnext(static_cast<uint32_t>(std::min<uint64_t>(m->uidnext, kUidLimit)));
        header.set_highest_modseq(m->highest_modseq);
        for (const std::string& k : m->keywords) header.add_keywords(k);
        header.set_defined_system_flags(kAllSystemFlags);
        header.set_permanent_system_flags(kAllSystemFlags);
        header.set_may_create_keywords(m->keywords.size() < options_.max_keywords);
        header.set_read_only(req.read_only());
        header.set_exists(static_cast<uint32_t>(rows.size()));
        header.set_max_chunk_messages(chunk_size);

        const bool qresync =
            req.has_qresync() && req.qresync().known_uidvalidity() == m->uidvalidity;
        std::vector<UidRange> known;
        if (qresync && req.qresync().has_known_uids()) {
          known = ResolveUidSet(req.qresync().known_uids(), static_cast<uint32_t>(m->uidnext - 1));
        }
        const auto in_known = [&](uint32_t uid) {
          if (!qresync || !req.qresync().has_known_uids()) return true;
          for (const UidRange& r : known) {
            if (uid >= r.first && uid <= r.last) return true;
          }
          return false;
        };

        std::map<std::pair<uint32_t, std::string>, uint32_t> flag_sets;
        v1::IndexChunk* chunk = nullptr;
        uint32_t previous_uid = 0;
        uint64_t previous_modseq = 0;
        uint32_t recent = 0;
        std::vector<uint32_t> changed;
        uint32_t seq = 0;
        for (const pqxx::row& r : rows) {
          ++seq;
          const uint32_t uid = r[0].as<uint32_t>();
          const uint64_t modseq = r[1].as<uint64_t>();
          uint32_t flags = r[2].as<uint32_t>();
          const std::string keywords = r[3].as<std::string>();
          if (uid >= claim->from && uid < claim->to) {
            flags |= kRecentBit;
            ++recent;
          }
          if (!header.has_first_unseen_seq() && (flags & kSeenBit) == 0) {
            header.set_first_unseen_seq(seq);
            header.set_first_unseen_uid(uid);
          }
          if (qresync && modseq > req.qresync().known_modseq() && in_known(uid))
            changed.push_back(uid);
          if (chunk == nullptr || chunk->count() == chunk_size) {
            chunk = out.emplace_back().mutable_index();
            chunk->set_first_seq(seq);
            previous_uid = 0;
            previous_modseq = 0;
          }
          AppendVarint(*chunk->mutable_uid_deltas(), uid - previous_uid);
          AppendVarint(*chunk->mutable_modseq_zigzag_deltas(),
                       ZigZag(static_cast<int64_t>(modseq - previous_modseq)));
          previous_uid = uid;
          previous_modseq = modseq;
          auto [it, added] = flag_sets.emplace(std::make_pair(flags, keywords),
                                               static_cast<uint32_t>(flag_sets.size()));
          if (added) {
            v1::FlagSet* fs = chunk->add_flag_set_dictionary_additions();
            fs->set_system_flags(flags);
            std::vector<uint32_t> indexes;
            for (const std::string& k : Split(keywords, ' ')) {
              if (auto ki = keyword_index.find(k); ki != keyword_index.end())
                indexes.push_back(ki->second);
            }
            std::sort(indexes.begin(), indexes.end());
            for (uint32_t i : indexes) fs->add_keyword_indexes(i);
          }
          AppendVarint(*chunk->mutable_flag_set_index(), it->second);
          chunk->set_count(chunk->count() + 1);
        }
        header.set_recent(recent);
        header.set_chunk_count(static_cast<uint32_t>(out.size() - 1));
        if (qresync) {
          header.set_qresync_applied(true);
          *header.mutable_changed_uids() = UidSetOf(changed);
          const pqxx::result vanished = txn.exec_params(
              "SELECT uid FROM vanished WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
              static_cast<int64_t>(m->id), static_cast<int64_t>(req.qresync().known_modseq()));
          std::vector<uint32_t> gone;
          for (const pqxx::row& r : vanished) {
            if (in_known(r[0].as<uint32_t>())) gone.push_back(r[0].as<uint32_t>());
          }
          *header.mutable_vanished() = UidSetOf(gone);
        }
        return out;
      });
}

absl::StatusOr<std::vector<v1::MessageMeta>> MetadataStore::Fetch(
    uint64_t user, const v1::FetchMessagesRequest& req, Notices& notices) {
  const v1::FetchAttributes& a = req.attributes();
  return WithTxn<pqxx::work>(
      pool_, [&](pqxx::work& txn) -> absl::StatusOr<std::vector<v1::MessageMeta>> {
        notices.clear();  // a retried transaction starts over
        absl::StatusOr<MailboxRow> m =
            Selected(txn, user, req.mailbox_id(), req.uidvalidity(), req.set_seen());
        if (!m.ok()) return m.status();
        const std::vector<UidRange> ranges = ResolveUidSet(req.uid_set(), MaxUid(txn, m->id));
        const RangeArrays arr = Arrays(ranges);
        if (req.set_seen()) {
          // The implicit \Seen of BODY[...] (RFC 3501 6.4.5): one new MODSEQ for all of them.
          const pqxx::result unseen =
              txn.exec_params(Cat("SELECT m.uid FROM messages m", kInRanges,
                                  "WHERE m.mailbox_id = $1 AND m.system_flags & 1 = 0"),
                              static_cast<int64_t>(m->id), arr.firsts, arr.lasts);
          if (!unseen.empty()) {
            const uint64_t modseq = BumpModseq(txn, *m);
            txn.exec_params(
                Cat("UPDATE messages m SET system_flags = m.system_flags | 1, modseq = $4 FROM"
                    " unnest($2::bigint[], $3::bigint[]) AS r(f, l) WHERE m.mailbox_id = $1 AND"
                    " m.uid BETWEEN r.f AND r.l AND m.system_flags & 1 = 0"),
                static_cast<int64_t>(m->id), arr.firsts, arr.lasts, static_cast<int64_t>(modseq));
            notices.push_back(Notice(user, *m, v1::CHANGE_KIND_FLAGS));
          }
        }
        const pqxx::result rows = txn.exec_params(
            Cat("SELECT m.uid, m.system_flags, array_to_string(m.keywords, ' '), m.modseq,"
                " (extract(epoch FROM m.internal_date) * 1000000)::bigint, m.tz_offset_min, m.size,"
                " m.blob_id, COALESCE(m.crlf_size, m.size), ",
                (a.envelope() || a.body_structure() || a.part_offsets() ||
                 !a.header_fields().empty())
                    ? "m.parsed"
                    : "NULL",
                " FROM messages m", kInRanges,
                "WHERE m.mailbox_id = $1 AND m.modseq > $4 ORDER BY m.uid"),
            static_cast<int64_t>(m->id), arr.firsts, arr.lasts,
            static_cast<int64_t>(req.has_changed_since() ? req.changed_since() : 0));
        const absl::Time grant_expiry = absl::Now() + options_.grant_ttl;
        std::vector<v1::MessageMeta> out;
        out.reserve(rows.size());
        for (const pqxx::row& r : rows) {
          v1::MessageMeta meta;
          meta.set_uid(r[0].as<uint32_t>());
          if (a.flags())
            *meta.mutable_flags() =
                FlagsOf(r[1].as<uint32_t>(), Split(r[2].as<std::string>(), ' '));
          if (a.modseq()) meta.set_modseq(r[3].as<uint64_t>());
          if (a.internal_date()) {
            SetTime(meta.mutable_internal_date(), absl::FromUnixMicros(r[4].as<int64_t>()));
            meta.set_internal_date_utc_offset_minutes(r[5].as<int>());
          }
          if (a.size()) meta.set_size(r[6].as<uint64_t>());
          if (a.blob_id()) {
            const std::string blob = r[7].as<std::string>();
            meta.set_blob_id(blob);
            if (!options_.blob_keys.empty()) {
              meta.set_blob_grant(
                  common::IssueBlobGrant(options_.blob_keys, blob, user, grant_expiry));
              SetTime(meta.mutable_blob_grant_expires_at(), grant_expiry);
            }
          }
          if (a.pop3_size()) meta.set_pop3_size(r[8].as<uint64_t>());
          if (!r[9].is_null()) {
            v1::ParsedMessage parsed;
            parsed.ParseFromString(pqxx::binarystring(r[9]).str());
            if (a.envelope()) *meta.mutable_envelope() = parsed.envelope();
            if (a.body_structure()) *meta.mutable_body_structure() = parsed.body_structure();
            if (a.part_offsets()) *meta.mutable_part_offsets() = parsed.part_offsets();
            if (!a.header_fields().empty()) {
              std::set<std::string> wanted,
                  covered(parsed.cached_header_names().begin(), parsed.cached_header_names().end());
              bool complete = true;
              for (const std::string& n : a.header_fields()) {
                const std::string lower = absl::AsciiStrToLower(n);
                wanted.insert(lower);
                complete = complete && covered.contains(lower);
              }
              for (const v1::HeaderField& f : parsed.cached_headers()) {
                if (wanted.contains(absl::AsciiStrToLower(f.name()))) *meta.add_header_fields() = f;
              }
              meta.set_header_fields_complete(complete);
            }
          }
          out.push_back(std::move(meta));
        }
        return out;
      });
}

absl::StatusOr<v1::StoreFlagsResponse> MetadataStore::StoreFlags(uint64_t user,
                                                                 const v1::StoreFlagsRequest& req,
                                                                 Notices& notices) {
  if (req.mode() == v1::STORE_MODE_UNSPECIFIED) return absl::InvalidArgumentError("no STORE mode");
  if ((req.flags().system() & ~kAllSystemFlags) != 0) {
    return absl::InvalidArgumentError("\\Recent cannot be stored (RFC 3501 2.3.2)");
  }
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::StoreFlagsResponse> {
    notices.clear();  // a retried transaction starts over
    absl::StatusOr<MailboxRow> m = Selected(txn, user, req.mailbox_id(), req.uidvalidity(), true);
    if (!m.ok()) return m.status();
    bool keywords_added = false;
    absl::StatusOr<std::vector<std::string>> keywords =
        CanonicalKeywords(*m, req.flags().keywords(), options_.max_keywords, keywords_added);
    if (!keywords.ok()) return keywords.status();
    const RangeArrays arr = Arrays(ResolveUidSet(req.uid_set(), MaxUid(txn, m->id)));
    const pqxx::result rows = txn.exec_params(
        Cat("SELECT m.uid, m.system_flags, array_to_string(m.keywords, ' '), m.modseq"
            " FROM messages m",
            kInRanges, "WHERE m.mailbox_id = $1 ORDER BY m.uid FOR UPDATE OF m"),
        static_cast<int64_t>(m->id), arr.firsts, arr.lasts);
    struct Change {
      uint32_t uid;
      uint32_t flags;
      std::vector<std::string> keywords;
    };
    std::vector<Change> changes;
    std::vector<uint32_t> modified;
    for (const pqxx::row& r : rows) {
      const uint32_t uid = r[0].as<uint32_t>();
      const uint32_t old_flags = r[1].as<uint32_t>();
      const std::vector<std::string> old_kw = Split(r[2].as<std::string>(), ' ');
      uint32_t flags = old_flags;
      std::vector<std::string> kw = old_kw;
      switch (req.mode()) {
        case v1::STORE_MODE_ADD:
          flags |= req.flags().system();
          for (const std::string& k : *keywords) {
            if (std::find(kw.begin(), kw.end(), k) == kw.end()) kw.push_back(k);
          }
          break;
        case v1::STORE_MODE_REMOVE:
          flags &= ~req.flags().system();
          std::erase_if(kw, [&](const std::string& k) {
            return std::find(keywords->begin(), keywords->end(), k) != keywords->end();
          });
          break;
        default:
          flags = req.flags().system();
          kw = *keywords;
      }
      std::vector<std::string> a = old_kw, b = kw;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (flags == old_flags && a == b) continue;  // unchanged: MODSEQ stays (RFC 7162 3.1)
      if (req.has_unchanged_since() && r[3].as<uint64_t>() > req.unchanged_since()) {
        modified.push_back(uid);  // RFC 7162 3.1.3: MODIFIED
        continue;
      }
      changes.push_back({uid, flags, std::move(kw)});
    }
    v1::StoreFlagsResponse resp;
    if (!changes.empty()) {
      if (keywords_added) SaveKeywords(txn, *m);
      const uint64_t modseq = BumpModseq(txn, *m);
      std::vector<uint32_t> uids, flags;
      std::vector<std::string> kws;
      for (const Change& ch : changes) {
        uids.push_back(ch.uid);
        flags.push_back(ch.flags);
        kws.push_back(Join(ch.keywords, ' '));
        v1::MessageFlags* u = resp.add_updated();
        u->set_uid(ch.uid);
        *u->mutable_flags() = FlagsOf(ch.flags, ch.keywords);
        u->set_modseq(modseq);
      }
      txn.exec_params(
          "UPDATE messages m SET system_flags = v.f, keywords = string_to_array(v.k, ' '),"
          " modseq = $5 FROM unnest($2::bigint[], $3::integer[], $4::text[]) AS v(u, f, k)"
          " WHERE m.mailbox_id = $1 AND m.uid = v.u",
          static_cast<int64_t>(m->id), IntArray(uids), IntArray(flags), TextArray(kws),
          static_cast<int64_t>(modseq));
      notices.push_back(Notice(user, *m, v1::CHANGE_KIND_FLAGS));
    }
    *resp.mutable_modified() = UidSetOf(modified);
    resp.set_highest_modseq(m->highest_modseq);
    resp.set_done(true);
    return resp;
  });
}

absl::StatusOr<v1::ExpungeResponse> MetadataStore::Expunge(uint64_t user,
                                                           const v1::ExpungeRequest& req,
                                                           Notices& notices) {
  if (req.ignore_deleted_flag() && !req.has_uid_set()) {
    return absl::InvalidArgumentError("ignore_deleted_flag needs a uid_set");
  }
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::ExpungeResponse> {
    notices.clear();  // a retried transaction starts over
    absl::StatusOr<MailboxRow> m = Selected(txn, user, req.mailbox_id(), req.uidvalidity(), true);
    if (!m.ok()) return m.status();
    v1::UidSet all;
    all.add_ranges()->set_first(1);
    const RangeArrays arr =
        Arrays(ResolveUidSet(req.has_uid_set() ? req.uid_set() : all, MaxUid(txn, m->id)));
    const pqxx::result rows = txn.exec_params(
        Cat("SELECT m.uid FROM messages m", kInRanges,
            "WHERE m.mailbox_id = $1 AND ($4 OR m.system_flags & 8 <> 0) ORDER BY m.uid"),
        static_cast<int64_t>(m->id), arr.firsts, arr.lasts, req.ignore_deleted_flag());
    v1::ExpungeResponse resp;
    if (!rows.empty()) {
      std::vector<uint32_t> uids;
      for (const pqxx::row& r : rows) uids.push_back(r[0].as<uint32_t>());
      const uint64_t modseq = BumpModseq(txn, *m);
      auto [gone, bytes] = DeleteMessages(txn, *m, uids, modseq);
      AdjustUsage(txn, user, -bytes, -static_cast<int64_t>(gone.size()));
      *resp.mutable_expunged_uids() = UidSetOf(gone);
      notices.push_back(Notice(user, *m, v1::CHANGE_KIND_EXPUNGE));
    }
    resp.set_highest_modseq(m->highest_modseq);
    return resp;
  });
}

absl::StatusOr<v1::AppendMessagesResponse> MetadataStore::Append(
    uint64_t user, const v1::AppendMessagesRequest& req, Notices& notices) {
  if (req.items().empty() || req.items_size() > kMaxAppendItems) {
    return absl::InvalidArgumentError("an append carries 1 to 1000 messages");
  }
  if (req.idempotency_key().empty() || req.idempotency_key().size() > 200) {
    return absl::InvalidArgumentError("an append needs an idempotency key (1-200 bytes)");
  }
  absl::StatusOr<std::string> name = CanonicalMailboxName(req.mailbox());
  if (!name.ok()) return name.status();
  const absl::Time now = absl::Now();
  uint64_t total = 0;
  for (const v1::AppendItem& item : req.items()) {
    if (options_.append_limit > 0 && item.size() > options_.append_limit) {
      return ReasonError(absl::StatusCode::kResourceExhausted, v1::ERROR_REASON_TOOBIG,
                         "message larger than APPENDLIMIT");
    }
    if ((item.flags().system() & ~kAllSystemFlags) != 0) {
      return absl::InvalidArgumentError("\\Recent cannot be set by APPEND");
    }
    // Only a caller that uploaded the bytes may make a message of them (invariant 4).
    if (absl::Status s = common::VerifyPutReceipt(options_.blob_keys, item.put_receipt(),
                                                  item.blob_id(), item.size(), now);
        !s.ok()) {
      return ReasonError(absl::StatusCode::kPermissionDenied, v1::ERROR_REASON_BAD_RECEIPT,
                         FromAbsl(s.message()));
    }
    for (const v1::PartOffsets& p : item.parsed().part_offsets()) {
      if (p.end() > item.size() || p.header_start() > p.body_start() || p.body_start() > p.end()) {
        return absl::InvalidArgumentError("part offsets outside the message");
      }
    }
    total += item.size();
  }
  // A retry may carry new put receipts (the bytes were put again), so they are not part of
  // what identifies the request.
  v1::AppendMessagesRequest identity = req;
  for (v1::AppendItem& item : *identity.mutable_items()) item.clear_put_receipt();
  const std::string request_hash = common::Sha256(identity.SerializeAsString());
  return WithTxn<pqxx::work>(
      pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::AppendMessagesResponse> {
        notices.clear();  // a retried transaction starts over
        absl::StatusOr<std::optional<std::string>> stored =
            StoredAnswer(txn, user, req.idempotency_key(), request_hash);
        if (!stored.ok()) return stored.status();
        v1::AppendMessagesResponse resp;
        if (stored->has_value()) {
          resp.ParseFromString(**stored);
          return resp;
        }
        if (*name == "INBOX") EnsureInbox(txn, user);
        std::optional<MailboxRow> m = FindByName(txn, user, *name, true);
        if (!m) {
          return ReasonError(absl::StatusCode::kNotFound, v1::ERROR_REASON_TRYCREATE,
                             Cat("no mailbox ", *name));
        }
        if (!m->selectable) {
          return ReasonError(absl::StatusCode::kFailedPrecondition, v1::ERROR_REASON_NOSELECT,
                             "mailbox is \\Noselect");
        }
        if (absl::Status s = CheckQuota(txn, user, total, req.items_size()); !s.ok()) return s;
        absl::StatusOr<uint32_t> first = AllocateUids(txn, *m, req.items_size());
        if (!first.ok()) return first.status();
        std::vector<NewMessage> msgs;
        bool keywords_added = false;
        uint32_t uid = *first;
        for (const v1::AppendItem& item : req.items()) {
          absl::StatusOr<std::vector<std::string>> kw =
              CanonicalKeywords(*m, item.flags().keywords(), options_.max_keywords, keywords_added);
          if (!kw.ok()) return kw.status();
          const absl::Time date = item.has_internal_date()
                                      ? absl::FromUnixSeconds(item.internal_date().seconds()) +
                                            absl::Nanoseconds(item.internal_date().nanos())
                                      : now;
          msgs.push_back({uid++, item.flags().system(), Join(*kw, ' '), item.blob_id(), item.size(),
                          absl::ToUnixMicros(date), item.internal_date_utc_offset_minutes(),
                          item.parsed().SerializeAsString(), item.parsed().crlf_size()});
        }
        if (keywords_added) SaveKeywords(txn, *m);
        const uint64_t modseq = BumpModseq(txn, *m);
        InsertMessages(txn, m->id, modseq, msgs);
        AdjustUsage(txn, user, static_cast<int64_t>(total), req.items_size());
        resp.set_mailbox_id(m->id);
        resp.set_uidvalidity(m->uidvalidity);
        v1::UidRange* r = resp.mutable_uids()->add_ranges();
        r->set_first(*first);
        r->set_last(uid - 1);
        resp.set_highest_modseq(modseq);
        StoreAnswer(txn, user, req.idempotency_key(), request_hash, resp.SerializeAsString());
        notices.push_back(Notice(user, *m, v1::CHANGE_KIND_NEW_MESSAGES));
        return resp;
      });
}

absl::StatusOr<v1::MoveMessagesResponse> MetadataStore::CopyOrMove(
    uint64_t user, uint64_t source_id, uint32_t source_uidvalidity, const v1::UidSet& uid_set,
    const std::string& destination, const std::string& idempotency_key, bool move,
    Notices& notices) {
  if (idempotency_key.empty() || idempotency_key.size() > 200) {
    return absl::InvalidArgumentError("COPY/MOVE needs an idempotency key (1-200 bytes)");
  }
  absl::StatusOr<std::string> dest_name = CanonicalMailboxName(destination);
  if (!dest_name.ok()) return dest_name.status();
  const std::string request_hash =
      common::Sha256(Cat(move ? "move:" : "copy:", source_id, ":", source_uidvalidity, ":",
                         uid_set.SerializeAsString(), ":", *dest_name));
  return WithTxn<
      pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::MoveMessagesResponse> {
    notices.clear();  // a retried transaction starts over
    absl::StatusOr<std::optional<std::string>> stored =
        StoredAnswer(txn, user, idempotency_key, request_hash);
    if (!stored.ok()) return stored.status();
    v1::MoveMessagesResponse resp;
    if (stored->has_value()) {
      resp.ParseFromString(**stored);
      return resp;
    }
    if (*dest_name == "INBOX") EnsureInbox(txn, user);
    // Lock both rows in id order, so concurrent copies between two mailboxes cannot deadlock.
    std::optional<MailboxRow> probe = FindByName(txn, user, *dest_name, false);
    if (!probe) {
      return ReasonError(absl::StatusCode::kNotFound, v1::ERROR_REASON_TRYCREATE,
                         Cat("no mailbox ", *dest_name));
    }
    absl::StatusOr<MailboxRow> src = absl::UnknownError("unset");
    std::optional<MailboxRow> dst;
    if (probe->id < source_id) {
      dst = FindByName(txn, user, *dest_name, true);
      src = Selected(txn, user, source_id, source_uidvalidity, true);
    } else {
      src = Selected(txn, user, source_id, source_uidvalidity, true);
      dst = FindByName(txn, user, *dest_name, true);
    }
    if (!src.ok()) return src.status();
    if (!dst) {
      return ReasonError(absl::StatusCode::kNotFound, v1::ERROR_REASON_TRYCREATE,
                         Cat("no mailbox ", *dest_name));
    }
    if (!dst->selectable) {
      return ReasonError(absl::StatusCode::kFailedPrecondition, v1::ERROR_REASON_NOSELECT,
                         "destination is \\Noselect");
    }
    const RangeArrays arr = Arrays(ResolveUidSet(uid_set, MaxUid(txn, src->id)));
    const pqxx::result rows =
        txn.exec_params(Cat("SELECT m.uid, m.system_flags, array_to_string(m.keywords, ' '), m.size"
                            " FROM messages m",
                            kInRanges, "WHERE m.mailbox_id = $1 ORDER BY m.uid FOR UPDATE OF m"),
                        static_cast<int64_t>(src->id), arr.firsts, arr.lasts);
    if (!rows.empty()) {
      uint64_t bytes = 0;
      for (const pqxx::row& r : rows) bytes += r[3].as<uint64_t>();
      const bool same_mailbox = src->id == dst->id;
      // A move stays within the user's quota root, so it never needs more quota.
      if (!move) {
        if (absl::Status s = CheckQuota(txn, user, bytes, rows.size()); !s.ok()) return s;
      }
      MailboxRow& target = same_mailbox ? *src : *dst;
      absl::StatusOr<uint32_t> first = AllocateUids(txn, target, rows.size());
      if (!first.ok()) return first.status();
      bool keywords_added = false;
      std::vector<uint32_t> src_uids, dst_uids, flags;
      std::vector<std::string> kws;
      for (const pqxx::row& r : rows) {
        google::protobuf::RepeatedPtrField<std::string> requested;
        for (const std::string& k : Split(r[2].as<std::string>(), ' ')) *requested.Add() = k;
        absl::StatusOr<std::vector<std::string>> kw =
            CanonicalKeywords(target, requested, options_.max_keywords, keywords_added);
        if (!kw.ok()) return kw.status();
        src_uids.push_back(r[0].as<uint32_t>());
        dst_uids.push_back(*first + static_cast<uint32_t>(dst_uids.size()));
        flags.push_back(r[1].as<uint32_t>());
        kws.push_back(Join(*kw, ' '));
      }
      if (keywords_added) SaveKeywords(txn, target);
      const uint64_t dst_modseq = BumpModseq(txn, target);
      txn.exec_params(
          "INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, blob_id, size,"
          " internal_date, tz_offset_min, parsed, crlf_size)"
          " SELECT $2, v.nu, $5, v.f, string_to_array(v.k, ' '), m.blob_id, m.size,"
          " m.internal_date, m.tz_offset_min, m.parsed, m.crlf_size FROM messages m JOIN"
          " unnest($3::bigint[], $4::bigint[], $6::integer[], $7::text[]) AS v(ou, nu, f, k)"
          " ON m.uid = v.ou WHERE m.mailbox_id = $1",
          static_cast<int64_t>(src->id), static_cast<int64_t>(target.id), IntArray(src_uids),
          IntArray(dst_uids), static_cast<int64_t>(dst_modseq), IntArray(flags), TextArray(kws));
      notices.push_back(Notice(user, target, v1::CHANGE_KIND_NEW_MESSAGES));
      if (move) {
        const uint64_t src_modseq = BumpModseq(txn, *src);
        DeleteMessages(txn, *src, src_uids, src_modseq);
        *resp.mutable_expunged_source_uids() = UidSetOf(src_uids);
        notices.push_back(Notice(user, *src, v1::CHANGE_KIND_EXPUNGE));
      } else {
        AdjustUsage(txn, user, static_cast<int64_t>(bytes), static_cast<int64_t>(rows.size()));
      }
      v1::CopyUid* cu = resp.mutable_copy_uid();
      *cu->mutable_source_uids() = UidSetOf(src_uids);
      *cu->mutable_destination_uids() = UidSetOf(dst_uids);
      resp.set_destination_highest_modseq(target.highest_modseq);
    } else {
      resp.set_destination_highest_modseq(dst->highest_modseq);
    }
    resp.mutable_copy_uid()->set_destination_mailbox_id(dst->id);
    resp.mutable_copy_uid()->set_destination_uidvalidity(dst->uidvalidity);
    resp.set_source_highest_modseq(src->highest_modseq);
    StoreAnswer(txn, user, idempotency_key, request_hash, resp.SerializeAsString());
    return resp;
  });
}

absl::StatusOr<v1::GetChangesResponse> MetadataStore::GetChanges(uint64_t user,
                                                                 const v1::GetChangesRequest& req) {
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::GetChangesResponse> {
    absl::StatusOr<MailboxRow> m =
        Selected(txn, user, req.mailbox_id(), req.uidvalidity(), req.claim_recent());
    if (!m.ok()) return m.status();
    uint64_t recent_from = 0, recent_to = 0;
    if (req.claim_recent() && m->recent_uid < m->uidnext) {
      recent_from = m->recent_uid;
      recent_to = m->uidnext;
      txn.exec_params("UPDATE mailboxes SET recent_uid = uidnext WHERE id = $1",
                      static_cast<int64_t>(m->id));
    }
    v1::UidSet all;
    all.add_ranges()->set_first(1);
    // Against UIDNEXT - 1, not the highest existing UID: expunged UIDs above it still count.
    const RangeArrays arr = Arrays(ResolveUidSet(req.has_uid_set() ? req.uid_set() : all,
                                                 static_cast<uint32_t>(m->uidnext - 1)));
    v1::GetChangesResponse resp;
    for (const pqxx::row& r : txn.exec_params(
             Cat("SELECT m.uid, m.system_flags, array_to_string(m.keywords, ' '), m.modseq"
                 " FROM messages m",
                 kInRanges,
                 "WHERE m.mailbox_id = $1 AND (m.modseq > $4 OR (m.uid >= $5 AND m.uid < $6))"
                 " ORDER BY m.uid"),
             static_cast<int64_t>(m->id), arr.firsts, arr.lasts,
             static_cast<int64_t>(req.since_modseq()), static_cast<int64_t>(recent_from),
             static_cast<int64_t>(recent_to))) {
      v1::MessageFlags* f = resp.add_changed();
      const uint32_t uid = r[0].as<uint32_t>();
      uint32_t flags = r[1].as<uint32_t>();
      if (uid >= recent_from && uid < recent_to) flags |= kRecentBit;
      f->set_uid(uid);
      *f->mutable_flags() = FlagsOf(flags, Split(r[2].as<std::string>(), ' '));
      f->set_modseq(r[3].as<uint64_t>());
    }
    std::vector<uint32_t> gone;
    for (const pqxx::row& r :
         txn.exec_params(Cat("SELECT m.uid FROM vanished m", kInRanges,
                             "WHERE m.mailbox_id = $1 AND m.modseq > $4 ORDER BY m.uid"),
                         static_cast<int64_t>(m->id), arr.firsts, arr.lasts,
                         static_cast<int64_t>(req.since_modseq()))) {
      gone.push_back(r[0].as<uint32_t>());
    }
    *resp.mutable_vanished() = UidSetOf(gone);
    const pqxx::row count = txn.exec_params1("SELECT count(*) FROM messages WHERE mailbox_id = $1",
                                             static_cast<int64_t>(m->id));
    v1::ChangesSummary* summary = resp.mutable_summary();
    summary->set_highest_modseq(m->highest_modseq);
    summary->set_uidnext(static_cast<uint32_t>(std::min<uint64_t>(m->uidnext, kUidLimit)));
    summary->set_exists(count[0].as<uint32_t>());
    return resp;
  });
}

// ---- POP3 maildrop lock fallback and blob references -----------------------------------

absl::StatusOr<v1::MaildropLease> MetadataStore::AcquireMaildrop(uint64_t user,
                                                                 const std::string& holder,
                                                                 absl::Duration lease,
                                                                 bool renew_only) {
  if (holder.empty() || holder.size() > 200 || lease < absl::Seconds(1) ||
      lease > absl::Minutes(10)) {
    return absl::InvalidArgumentError("holder_id 1-200 bytes and a lease of 1 s to 10 min");
  }
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::MaildropLease> {
    // One writer per user at a time, across every metad replica.
    txn.exec_params("SELECT pg_advisory_xact_lock(7001, $1::integer)",
                    static_cast<int64_t>(user % 2147483647));
    const pqxx::result current = txn.exec_params(
        "SELECT holder_id, expires_at < now() FROM maildrop_locks WHERE user_id = $1",
        static_cast<int64_t>(user));
    const bool mine = !current.empty() && current[0][0].as<std::string>() == holder;
    const bool free = current.empty() || current[0][1].as<bool>();
    if (renew_only ? !mine : !(mine || free)) {
      return ReasonError(absl::StatusCode::kFailedPrecondition,
                         renew_only ? v1::ERROR_REASON_LOCK_LOST : v1::ERROR_REASON_IN_USE,
                         renew_only ? "the maildrop lock was lost" : "the maildrop is in use");
    }
    const pqxx::row r = txn.exec_params1(
        "INSERT INTO maildrop_locks (user_id, holder_id, expires_at)"
        " VALUES ($1, $2, now() + $3 * interval '1 millisecond')"
        " ON CONFLICT (user_id) DO UPDATE SET holder_id = $2, expires_at = EXCLUDED.expires_at"
        " RETURNING (extract(epoch FROM expires_at) * 1000000)::bigint",
        static_cast<int64_t>(user), holder, absl::ToInt64Milliseconds(lease));
    v1::MaildropLease out;
    out.set_holder_id(holder);
    SetTime(out.mutable_expires_at(), absl::FromUnixMicros(r[0].as<int64_t>()));
    return out;
  });
}

absl::Status MetadataStore::ReleaseMaildrop(uint64_t user, const std::string& holder) {
  return WithTxn<pqxx::work>(
             pool_,
             [&](pqxx::work& txn) -> absl::StatusOr<bool> {
               txn.exec_params("DELETE FROM maildrop_locks WHERE user_id = $1 AND holder_id = $2",
                               static_cast<int64_t>(user), holder);
               return true;
             })
      .status();
}

absl::StatusOr<std::vector<v1::BlobReference>> MetadataStore::BlobReferences(
    const std::string& start_after, absl::Duration expunged_within, size_t limit) {
  using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;
  return WithTxn<Snapshot>(
      pool_, [&](Snapshot& txn) -> absl::StatusOr<std::vector<v1::BlobReference>> {
        const pqxx::result r = txn.exec_params(
            "SELECT blob_id, (extract(epoch FROM min(t)) * 1000000)::bigint FROM ("
            " SELECT blob_id, created_at AS t FROM messages WHERE blob_id > $1"
            " UNION ALL SELECT blob_id, expunged_at FROM vanished WHERE blob_id > $1"
            " AND expunged_at > now() - $2 * interval '1 second') refs"
            " GROUP BY blob_id ORDER BY blob_id LIMIT $3",
            start_after, absl::ToInt64Seconds(expunged_within), static_cast<int64_t>(limit));
        std::vector<v1::BlobReference> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) {
          v1::BlobReference ref;
          ref.set_blob_id(row[0].as<std::string>());
          SetTime(ref.mutable_oldest_reference_time(), absl::FromUnixMicros(row[1].as<int64_t>()));
          out.push_back(std::move(ref));
        }
        return out;
      });
}

// ---- SEARCH and SORT -------------------------------------------------------------------

namespace {

struct Matched {
  std::vector<SearchRow> rows;                             // ascending UID
  std::vector<std::unique_ptr<v1::ParsedMessage>> parsed;  // what rows[i].parsed points to
};

// The messages of a mailbox that match the evaluator's key, from one snapshot.
absl::StatusOr<Matched> MatchRows(pqxx::transaction_base& txn, uint64_t mailbox,
                                  const SearchEvaluator& eval, bool need_parsed) {
  const pqxx::result rows = txn.exec_params(
      Cat("SELECT uid, system_flags, array_to_string(keywords, ' '), modseq,"
          " (extract(epoch FROM internal_date) * 1000000)::bigint, tz_offset_min, size,"
          " blob_id, ",
          need_parsed ? "parsed" : "NULL", " FROM messages WHERE mailbox_id = $1 ORDER BY uid"),
      static_cast<int64_t>(mailbox));
  Matched out;
  for (const pqxx::row& r : rows) {
    auto parsed = std::make_unique<v1::ParsedMessage>();
    SearchRow row;
    row.uid = r[0].as<uint32_t>();
    row.flags = r[1].as<uint32_t>();
    row.keywords = Split(r[2].as<std::string>(), ' ');
    row.modseq = r[3].as<uint64_t>();
    row.internal_date = absl::FromUnixMicros(r[4].as<int64_t>());
    row.tz_offset_minutes = r[5].as<int>();
    row.size = r[6].as<uint64_t>();
    row.blob_id = r[7].as<std::string>();
    if (!r[8].is_null() && parsed->ParseFromString(pqxx::binarystring(r[8]).str())) {
      row.parsed = parsed.get();
    }
    absl::StatusOr<bool> match = eval.Matches(row);
    if (!match.ok()) return match.status();
    if (!*match) continue;
    out.rows.push_back(std::move(row));
    out.parsed.push_back(std::move(parsed));
  }
  return out;
}

absl::StatusOr<SearchEvaluator> Evaluator(pqxx::transaction_base& txn, const MailboxRow& m,
                                          const v1::SearchKey& key, const std::string& charset,
                                          const v1::UidSet& recent, const RawLoader& loader) {
  const uint32_t max_uid = MaxUid(txn, m.id);
  absl::StatusOr<SearchEvaluator> eval =
      SearchEvaluator::Create(key, charset, ResolveUidSet(recent, max_uid), max_uid, loader);
  if (eval.status().code() == absl::StatusCode::kInvalidArgument &&
      eval.status().message() == "US-ASCII UTF-8") {
    return ReasonError(absl::StatusCode::kInvalidArgument, v1::ERROR_REASON_BADCHARSET,
                       "US-ASCII UTF-8");
  }
  return eval;
}

using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

}  // namespace

absl::StatusOr<std::pair<std::vector<uint32_t>, v1::SearchSummary>> MetadataStore::Search(
    uint64_t user, const v1::SearchMessagesRequest& req, const RawLoader& loader) {
  using Result = std::pair<std::vector<uint32_t>, v1::SearchSummary>;
  return WithTxn<Snapshot>(pool_, [&](Snapshot& txn) -> absl::StatusOr<Result> {
    absl::StatusOr<MailboxRow> m = Selected(txn, user, req.mailbox_id(), req.uidvalidity(), false);
    if (!m.ok()) return m.status();
    absl::StatusOr<SearchEvaluator> eval =
        Evaluator(txn, *m, req.key(), req.charset(), req.recent_uids(), loader);
    if (!eval.ok()) return eval.status();
    absl::StatusOr<Matched> matched = MatchRows(txn, m->id, *eval, eval->needs_parsed());
    if (!matched.ok()) return matched.status();
    Result out;
    uint64_t highest = 0;
    for (const SearchRow& row : matched->rows) {
      out.first.push_back(row.uid);
      highest = std::max(highest, row.modseq);
    }
    const auto& opts = req.return_options();
    if (!out.first.empty()) {
      if (opts.min()) out.second.set_min(out.first.front());
      if (opts.max()) out.second.set_max(out.first.back());
      if (eval->has_modseq()) out.second.set_highest_modseq(highest);
    }
    if (opts.count()) out.second.set_count(static_cast<uint32_t>(out.first.size()));
    return out;
  });
}

absl::StatusOr<std::vector<uint32_t>> MetadataStore::Sort(uint64_t user,
                                                          const v1::SortMessagesRequest& req,
                                                          const RawLoader& loader) {
  if (req.criteria().empty()) return absl::InvalidArgumentError("SORT needs a criterion");
  for (const v1::SortCriterion& c : req.criteria()) {
    if (c.key() == v1::SORT_KEY_UNSPECIFIED || !v1::SortKey_IsValid(c.key())) {
      return absl::InvalidArgumentError("unknown sort key");
    }
  }
  return WithTxn<Snapshot>(pool_, [&](Snapshot& txn) -> absl::StatusOr<std::vector<uint32_t>> {
    absl::StatusOr<MailboxRow> m = Selected(txn, user, req.mailbox_id(), req.uidvalidity(), false);
    if (!m.ok()) return m.status();
    absl::StatusOr<SearchEvaluator> eval =
        Evaluator(txn, *m, req.key(), req.charset(), req.recent_uids(), loader);
    if (!eval.ok()) return eval.status();
    absl::StatusOr<Matched> matched = MatchRows(txn, m->id, *eval, /*need_parsed=*/true);
    if (!matched.ok()) return matched.status();
    return SortRows(std::move(matched->rows), req.criteria());
  });
}

absl::StatusOr<std::vector<v1::ThreadNode>> MetadataStore::Thread(
    uint64_t user, const v1::ThreadMessagesRequest& req, const RawLoader& loader) {
  if (req.algorithm() != v1::THREAD_ALGORITHM_ORDEREDSUBJECT &&
      req.algorithm() != v1::THREAD_ALGORITHM_REFERENCES) {
    return absl::InvalidArgumentError("unknown threading algorithm");
  }
  return WithTxn<Snapshot>(
      pool_, [&](Snapshot& txn) -> absl::StatusOr<std::vector<v1::ThreadNode>> {
        absl::StatusOr<MailboxRow> m =
            Selected(txn, user, req.mailbox_id(), req.uidvalidity(), false);
        if (!m.ok()) return m.status();
        absl::StatusOr<SearchEvaluator> eval =
            Evaluator(txn, *m, req.key(), req.charset(), req.recent_uids(), loader);
        if (!eval.ok()) return eval.status();
        absl::StatusOr<Matched> matched = MatchRows(txn, m->id, *eval, /*need_parsed=*/true);
        if (!matched.ok()) return matched.status();
        if (req.algorithm() == v1::THREAD_ALGORITHM_REFERENCES) {
          return ThreadReferences(std::move(matched->rows));
        }
        return ThreadOrderedSubject(std::move(matched->rows));
      });
}

// ---- quota ----------------------------------------------------------------------------

namespace {

v1::QuotaRoot QuotaOf(const pqxx::row& r) {
  v1::QuotaRoot root;
  root.set_name("");
  if (!r[0].is_null()) {
    v1::QuotaResource* s = root.add_resources();
    s->set_resource(v1::QUOTA_RESOURCE_TYPE_STORAGE);
    s->set_usage((r[2].as<uint64_t>() + 1023) / 1024);  // RFC 9208 5.1: KiB
    s->set_limit(r[0].as<uint64_t>() / 1024);
  }
  if (!r[1].is_null()) {
    v1::QuotaResource* m = root.add_resources();
    m->set_resource(v1::QUOTA_RESOURCE_TYPE_MESSAGE);
    m->set_usage(r[3].as<uint64_t>());
    m->set_limit(r[1].as<uint64_t>());
  }
  return root;
}

constexpr char kQuotaQuery[] =
    "SELECT u.quota_storage_bytes, u.quota_messages, COALESCE(q.storage_bytes, 0),"
    " COALESCE(q.messages, 0) FROM users u LEFT JOIN quota_usage q ON q.user_id = u.id"
    " WHERE u.id = $1";

}  // namespace

absl::StatusOr<v1::QuotaRoot> MetadataStore::GetQuota(uint64_t user) {
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::QuotaRoot> {
    const pqxx::result r = txn.exec_params(kQuotaQuery, static_cast<int64_t>(user));
    if (r.empty()) return absl::PermissionDeniedError("the user no longer exists");
    return QuotaOf(r[0]);
  });
}

absl::StatusOr<v1::QuotaRoot> MetadataStore::SetQuota(const v1::SetQuotaRequest& req) {
  return WithTxn<pqxx::work>(pool_, [&](pqxx::work& txn) -> absl::StatusOr<v1::QuotaRoot> {
    const std::optional<int64_t> storage =
        req.has_storage_bytes() ? std::optional<int64_t>(req.storage_bytes()) : std::nullopt;
    const std::optional<int64_t> messages =
        req.has_messages() ? std::optional<int64_t>(req.messages()) : std::nullopt;
    const pqxx::result r =
        req.user_case() == v1::SetQuotaRequest::kUserId
            ? txn.exec_params(
                  "UPDATE users SET quota_storage_bytes = $2, quota_messages = $3"
                  " WHERE id = $1 RETURNING id",
                  static_cast<int64_t>(req.user_id()), storage, messages)
            : txn.exec_params(
                  "UPDATE users SET quota_storage_bytes = $2, quota_messages = $3"
                  " WHERE address IN ($1, lower($1)) RETURNING id",
                  req.address(), storage, messages);
    if (r.empty()) return absl::NotFoundError("no such user");
    return QuotaOf(txn.exec_params1(kQuotaQuery, r[0][0].as<int64_t>()));
  });
}

}  // namespace tern::metadata
