#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/credentials.h"
#include "services/common/pg_pool.h"
#include "services/metadata/search.h"
#include "tern/metadata/v1/metadata.pb.h"

namespace tern::metadata {

// An error with the reason front-ends map to protocol answers (trailing metadata
// `tern-error-reason`).
absl::Status ReasonError(absl::StatusCode code, v1::ErrorReason reason, std::string_view msg);
v1::ErrorReason ReasonOf(const absl::Status& status);

// A committed change to publish (DESIGN.md: after the commit, never before).
using Notices = std::vector<v1::ChangeNotice>;

struct StoreOptions {
  common::KeyRing blob_keys;  // verifies put receipts, signs blob grants
  absl::Duration grant_ttl = absl::Minutes(10);
  uint64_t append_limit = 64ull << 20;  // APPENDLIMIT, octets
  size_t max_keywords = 256;            // per mailbox
};

// The mailbox and message repository on PostgreSQL. Every method takes the user id from
// the caller's verified token (invariant 4) and runs in one transaction; libpqxx
// exceptions end here. Notices of committed changes are appended to `notices`.
class MetadataStore {
 public:
  MetadataStore(common::PgPool& pool, StoreOptions options)
      : pool_(pool), options_(std::move(options)) {}

  absl::StatusOr<v1::Mailbox> CreateMailbox(uint64_t user, const v1::CreateMailboxRequest& req,
                                            Notices& notices);
  absl::Status DeleteMailbox(uint64_t user, const std::string& name, Notices& notices);
  absl::StatusOr<v1::Mailbox> RenameMailbox(uint64_t user, const std::string& old_name,
                                            const std::string& new_name, Notices& notices);
  absl::StatusOr<v1::ListMailboxesResponse> ListMailboxes(uint64_t user,
                                                          const v1::ListMailboxesRequest& req);
  absl::Status SetSubscribed(uint64_t user, const std::string& name, bool subscribed,
                             Notices& notices);
  absl::StatusOr<v1::MailboxStatus> GetStatus(uint64_t user, const std::string& name,
                                              const std::vector<v1::StatusItem>& items);

  // The select header and index chunks, from one snapshot.
  absl::StatusOr<std::vector<v1::SelectChunk>> Select(uint64_t user,
                                                      const v1::SelectMailboxRequest& req);
  absl::StatusOr<std::vector<v1::MessageMeta>> Fetch(uint64_t user,
                                                     const v1::FetchMessagesRequest& req,
                                                     Notices& notices);
  absl::StatusOr<v1::StoreFlagsResponse> StoreFlags(uint64_t user, const v1::StoreFlagsRequest& req,
                                                    Notices& notices);
  absl::StatusOr<v1::ExpungeResponse> Expunge(uint64_t user, const v1::ExpungeRequest& req,
                                              Notices& notices);
  absl::StatusOr<v1::AppendMessagesResponse> Append(uint64_t user,
                                                    const v1::AppendMessagesRequest& req,
                                                    Notices& notices);
  absl::StatusOr<v1::MoveMessagesResponse> CopyOrMove(uint64_t user, uint64_t source_id,
                                                      uint32_t source_uidvalidity,
                                                      const v1::UidSet& uids,
                                                      const std::string& destination,
                                                      const std::string& idempotency_key, bool move,
                                                      Notices& notices);
  absl::StatusOr<v1::GetChangesResponse> GetChanges(uint64_t user,
                                                    const v1::GetChangesRequest& req);
  // Matching UIDs (ascending) and the summary; loader reads bodies for BODY/TEXT keys.
  absl::StatusOr<std::pair<std::vector<uint32_t>, v1::SearchSummary>> Search(
      uint64_t user, const v1::SearchMessagesRequest& req, const RawLoader& loader);
  // THREAD=ORDEREDSUBJECT or REFERENCES over the matching messages (RFC 5256).
  absl::StatusOr<std::vector<v1::ThreadNode>> Thread(uint64_t user,
                                                     const v1::ThreadMessagesRequest& req,
                                                     const RawLoader& loader);
  // UIDs of the matching messages in SORT order (RFC 5256).
  absl::StatusOr<std::vector<uint32_t>> Sort(uint64_t user, const v1::SortMessagesRequest& req,
                                             const RawLoader& loader);
  absl::StatusOr<v1::QuotaRoot> GetQuota(uint64_t user);
  absl::StatusOr<v1::QuotaRoot> SetQuota(const v1::SetQuotaRequest& req);
  // POP3 maildrop lock fallback (RFC 1939 section 8) when Redis is unavailable.
  absl::StatusOr<v1::MaildropLease> AcquireMaildrop(uint64_t user, const std::string& holder,
                                                    absl::Duration lease, bool renew_only);
  absl::Status ReleaseMaildrop(uint64_t user, const std::string& holder);
  // Referenced blob ids after start_after, ascending, at most limit (GC mark phase).
  absl::StatusOr<std::vector<v1::BlobReference>> BlobReferences(const std::string& start_after,
                                                                absl::Duration expunged_within,
                                                                size_t limit);

  // The user id owning a mailbox name exists (for GetQuotaRoot).
  absl::Status CheckMailboxExists(uint64_t user, const std::string& name);

 private:
  common::PgPool& pool_;
  StoreOptions options_;
};

// Compact index encoding (proto SelectChunk/IndexChunk): unsigned LEB128 and zigzag.
void AppendVarint(std::string& out, uint64_t value);
uint64_t ZigZag(int64_t value);

}  // namespace tern::metadata
