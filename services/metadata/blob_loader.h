#pragma once

#include <string>

#include "services/metadata/search.h"
#include "tern/blob/v1/blob.grpc.pb.h"

namespace tern::metadata {

// Reads whole messages from tern-blobd with the service credential (no per-user grant:
// metad itself vouches that the message belongs to the searching user). Deadline and
// retries per DESIGN.md invariant 6.
RawLoader BlobdLoader(blob::v1::BlobService::Stub& blobd, std::string service_token);

}  // namespace tern::metadata
