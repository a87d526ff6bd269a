#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::ctl {

struct BlobGcStats {
  uint64_t listed = 0;      // blobs older than the grace period
  uint64_t referenced = 0;  // kept: a message refers to them
  uint64_t deleted = 0;
  uint64_t spared = 0;  // put again while the sweep ran (RECENTLY_PUT)
};

// Blob garbage collection, the mark-and-sweep of proto/tern/blob/v1/blob.proto: the
// references from metad and the blobs from blobd are both streamed in ascending id order
// and merge-joined, so no id set is held in memory. A blob is deleted only if no message
// refers to it, it was last put before now - grace, and it was not put again meanwhile
// (Delete's unless_put_after): an append still in flight is never collected.
absl::StatusOr<BlobGcStats> RunBlobGc(metadata::v1::MetadataService::Stub& metad,
                                      blob::v1::BlobService::Stub& blobd,
                                      const std::string& service_token, absl::Duration grace,
                                      absl::Duration call_deadline = absl::Minutes(10));

}  // namespace tern::ctl
