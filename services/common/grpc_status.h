#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tern::common {

// The one mapping from absl::Status to a gRPC status used by every service. Codes carry
// over; an internal error is logged with its detail and answered without it.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace tern::common
