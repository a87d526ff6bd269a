#pragma once

#include <sys/stat.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "services/blob/blob_backend.h"

namespace tern::blob {

struct FsBlobOptions {
  std::string dir;
  uint64_t max_blob_size = 64ull << 20;
  // Tests of the logic may turn fsync off; the product never does.
  bool fsync = true;
};

// Blobs as files in a local directory:
//   <dir>/objects/<first two hex digits>/<sha256>   the blobs, immutable once renamed in
//   <dir>/tmp/                                      uploads in progress
//   <dir>/quarantine/<sha256>.<unix time>           blobs found corrupt, kept for forensics
// A blob's mtime is its last_put_at; its birth time (statx) is created_at.
class FsBlobBackend final : public BlobBackend {
 public:
  // Creates the layout if needed and removes uploads a crash left in tmp/ (nothing
  // acknowledged lives there: a Put is acknowledged only after its rename).
  static absl::StatusOr<std::unique_ptr<FsBlobBackend>> Open(FsBlobOptions options);

  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override;
  absl::Status Read(const std::string& id, const std::vector<ByteRange>& ranges, size_t chunk_size,
                    const ChunkSink& sink) override;
  absl::StatusOr<std::optional<BlobInfo>> Stat(const std::string& id) override;
  absl::StatusOr<bool> Delete(const std::string& id, absl::Time unless_put_after) override;
  absl::StatusOr<std::vector<BlobInfo>> List(const std::string& after, absl::Time before,
                                             size_t limit) override;
  absl::Status Check() override;

  std::string PathOf(const std::string& id) const;

 private:
  friend class FsBlobWriter;
  explicit FsBlobBackend(FsBlobOptions options) : options_(std::move(options)) {}

  // Serializes the final step of a Put against Delete of the same id, so a deduplicated
  // Put can never be answered "stored" while GC removes the file.
  std::mutex& StripeFor(const std::string& id);
  absl::Status VerifyContent(const std::string& id, int fd, const struct stat& st);
  void Quarantine(const std::string& id);
  absl::Status SyncDir(const std::string& path) const;

  FsBlobOptions options_;
  std::array<std::mutex, 64> stripes_;
  // Blobs whose content was hashed since they last changed: id -> (size, mtime ns). Bounded.
  std::mutex verified_mu_;
  std::unordered_map<std::string, std::pair<uint64_t, int64_t>> verified_
      ABSL_GUARDED_BY(verified_mu_);
};

}  // namespace tern::blob
