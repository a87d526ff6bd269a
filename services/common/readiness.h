#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tern::common {

// Decides /readyz: the service is ready only while every dependency check passes and it is
// not shutting down. Checks run on a background thread at a fixed interval, each with a
// deadline, so /readyz answers from the last result and never blocks.
class Readiness {
 public:
  // A check gets its deadline and returns OK when the dependency answers in time.
  using Check = std::function<absl::Status(absl::Duration timeout)>;
  // Called on the checker thread whenever the overall readiness flips.
  using Listener = std::function<void(bool ready)>;

  explicit Readiness(prometheus::Registry& registry);
  ~Readiness();
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // A critical check gates readiness. A non-critical one (Redis: DESIGN.md invariant 2,
  // "Redis down means degraded, not down") is reported and counted but keeps the service
  // ready.
  void AddCheck(std::string name, Check check, bool critical = true);
  void OnChange(Listener listener);
  // Runs every check once, then keeps running them every interval until Stop().
  void Start(absl::Duration interval, absl::Duration timeout);
  void Stop();
  // Runs every check once now (Start does this too).
  void RunChecks();
  // Forces not-ready from now on: the first step of a graceful shutdown.
  void SetShuttingDown();

  bool ready() const;
  // One line per check: "ok <name>", "fail <name>: <reason>", or for a failing non-critical
  // check "degraded <name>: <reason>".
  std::string Report() const;

 private:
  struct Entry {
    std::string name;
    Check check;
    bool critical = true;
    absl::Status last = absl::UnavailableError("not checked yet");
  };
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration timeout_ = absl::Seconds(2);
  std::thread thread_;
  std::mutex run_mu_;  // one RunChecks at a time

  prometheus::Gauge& ready_gauge_;
  prometheus::Family<prometheus::Counter>& failures_;
};

}  // namespace tern::common
