#include "services/common/mechanisms_cache.h"

namespace tern::common {

std::optional<auth::v1::ListMechanismsResponse> MechanismsCache::Get(bool tls, bool loopback) {
  std::lock_guard lock(mu_);
  const std::optional<Entry>& e = entries_[(tls ? 2 : 0) + (loopback ? 1 : 0)];
  if (!e || std::chrono::steady_clock::now() >= e->expires) return std::nullopt;
  return e->response;
}

void MechanismsCache::Put(bool tls, bool loopback,
                          const auth::v1::ListMechanismsResponse& response) {
  std::lock_guard lock(mu_);
  entries_[(tls ? 2 : 0) + (loopback ? 1 : 0)] =
      Entry{response, std::chrono::steady_clock::now() + std::chrono::minutes(1)};
}

}  // namespace tern::common
