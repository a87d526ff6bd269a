#pragma once

// The front-ends' gRPC glue lives in services/common/async_grpc.h; the IMAP server uses it
// under these names.

#include "services/common/async_grpc.h"

namespace tern::imap::server {

using common::Call;
using common::Calls;
using common::CallStream;
using common::CollectReader;
using common::Outcome;
using common::WriteAll;

}  // namespace tern::imap::server
