#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tern/blob/v1/blob.grpc.pb.h"

namespace tern::blob {

// tern-blobd's gRPC service. Put, Get, Stat, Delete and List are not built yet: each answers
// UNIMPLEMENTED (the generated base class's behaviour) until its handler lands here.
class BlobServiceImpl final : public v1::BlobService::Service {};

// Readiness of a blob directory: it exists, and a file can be created, written, fsynced and
// removed in it.
absl::Status CheckBlobDir(const std::string& dir);

}  // namespace tern::blob
