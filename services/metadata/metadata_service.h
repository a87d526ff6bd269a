#pragma once

#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::metadata {

// tern-metad's gRPC service. The mailbox and message RPCs are not built yet: each answers
// UNIMPLEMENTED (the generated base class's behaviour) until its handler lands here.
class MetadataServiceImpl final : public v1::MetadataService::Service {};

}  // namespace tern::metadata
