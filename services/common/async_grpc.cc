#include "services/common/async_grpc.h"

#include <algorithm>

namespace tern::common {

void CallTracker::Add(grpc::ClientContext* ctx) {
  std::lock_guard lock(mu_);
  calls_.push_back(ctx);
}

void CallTracker::Remove(grpc::ClientContext* ctx) {
  std::lock_guard lock(mu_);
  auto it = std::find(calls_.begin(), calls_.end(), ctx);
  if (it != calls_.end()) {
    *it = calls_.back();
    calls_.pop_back();
  }
}

void CallTracker::CancelAll() {
  std::lock_guard lock(mu_);
  for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
}

size_t CallTracker::size() const {
  std::lock_guard lock(mu_);
  return calls_.size();
}

CallTracker& Calls() {
  static auto* tracker = new CallTracker();
  return *tracker;
}

namespace detail {
std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}
}  // namespace detail

}  // namespace tern::common
