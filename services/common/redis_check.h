#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tern::common {

// Readiness check of a Redis server at "host:port": connects and sends PING within the
// timeout. Redis being down makes a service degraded, not dead (DESIGN.md invariant 2);
// services decide whether this check gates /readyz.
absl::Status PingRedis(const std::string& address, absl::Duration timeout);

}  // namespace tern::common
