#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::blob {

// What is known of a stored blob.
struct BlobInfo {
  std::string id;  // SHA-256, 64 lowercase hex digits
  uint64_t size = 0;
  absl::Time created_at;
  absl::Time last_put_at;  // creation or the latest deduplicated re-Put
};

// Receives one blob's bytes in order; Commit makes them durable under their SHA-256.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // ResourceExhausted when the blob grows past the backend's maximum size.
  virtual absl::Status Write(std::string_view bytes) = 0;
  struct Result {
    BlobInfo info;
    bool already_existed = false;
  };
  // Durable when it returns OK (invariant 1). expected_sha256 (when given) is checked
  // before anything is stored: DataLoss on mismatch.
  virtual absl::StatusOr<Result> Commit(const std::optional<std::string>& expected_sha256) = 0;
  // Without Commit, nothing is stored (the destructor aborts too).
  virtual void Abort() = 0;
};

// Reads byte ranges. Get verifies the stored bytes against the id before any byte is
// returned: DataLoss (and the blob is quarantined) when they no longer match.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;  // 0: to the end
};

// Called with each chunk of each range, in order; return false to stop.
using ChunkSink = std::function<bool(size_t range_index, uint64_t offset, std::string_view data,
                                     bool last_in_range)>;

// Where blobs live. One interface so an S3-compatible backend can replace the local
// directory without touching callers (issue: "a backend interface").
class BlobBackend {
 public:
  virtual ~BlobBackend() = default;
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter() = 0;
  // NotFound when absent. On success, sink got every range (clipped to the blob).
  virtual absl::Status Read(const std::string& id, const std::vector<ByteRange>& ranges,
                            size_t chunk_size, const ChunkSink& sink) = 0;
  // nullopt when absent.
  virtual absl::StatusOr<std::optional<BlobInfo>> Stat(const std::string& id) = 0;
  // Deletes unless the blob was put after unless_put_after (FailedPrecondition then).
  // Returns whether it existed.
  virtual absl::StatusOr<bool> Delete(const std::string& id, absl::Time unless_put_after) = 0;
  // Blobs with id > after, ascending, last_put_at < before, at most limit.
  virtual absl::StatusOr<std::vector<BlobInfo>> List(const std::string& after, absl::Time before,
                                                     size_t limit) = 0;
  // Readiness: the store accepts writes now.
  virtual absl::Status Check() = 0;
};

// 64 lowercase hex digits.
bool IsBlobId(std::string_view id);

}  // namespace tern::blob
