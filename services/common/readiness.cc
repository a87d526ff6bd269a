#include "services/common/readiness.h"

#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::common {

Readiness::Readiness(prometheus::Registry& registry)
    : ready_gauge_(prometheus::BuildGauge()
                       .Name("tern_ready")
                       .Help("1 while every dependency check passes and the service is not "
                             "shutting down")
                       .Register(registry)
                       .Add({})),
      failures_(prometheus::BuildCounter()
                    .Name("tern_readiness_check_failures_total")
                    .Help("Dependency checks that failed, by check")
                    .Register(registry)) {}

Readiness::~Readiness() { Stop(); }

void Readiness::AddCheck(std::string name, Check check, bool critical) {
  std::lock_guard lock(mu_);
  failures_.Add({{"check", name}});
  entries_.push_back(Entry{std::move(name), std::move(check), critical});
}

void Readiness::OnChange(Listener listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

void Readiness::Start(absl::Duration interval, absl::Duration timeout) {
  timeout_ = timeout;
  RunChecks();
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(interval), [this] { return stop_; });
      if (stop_) break;
      lock.unlock();
      RunChecks();
      lock.lock();
    }
  });
}

void Readiness::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Readiness::RunChecks() {
  std::lock_guard run_lock(run_mu_);
  std::vector<std::pair<std::string, Check>> checks;
  {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) checks.emplace_back(e.name, e.check);
  }
  std::vector<absl::Status> results;
  results.reserve(checks.size());
  for (auto& [name, check] : checks) {
    absl::Status s = check(timeout_);
    if (!s.ok()) failures_.Add({{"check", name}}).Increment();
    results.push_back(std::move(s));
  }
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < results.size() && i < entries_.size(); ++i) {
    const bool was_ok = entries_[i].last.ok();
    if (was_ok != results[i].ok()) {
      if (results[i].ok()) {
        LogInfo("dependency check passes", {{"check", entries_[i].name}});
      } else {
        LogWarn("dependency check fails",
                {{"check", entries_[i].name}, {"error", std::string(results[i].message())}});
      }
    }
    entries_[i].last = std::move(results[i]);
  }
  Publish();
}

void Readiness::SetShuttingDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  Publish();
}

void Readiness::Publish() {
  bool ready = !shutting_down_;
  for (const Entry& e : entries_) ready = ready && (e.last.ok() || !e.critical);
  ready_gauge_.Set(ready ? 1 : 0);
  if (ready == ready_) return;
  ready_ = ready;
  LogInfo(ready ? "ready" : "not ready");
  for (const Listener& l : listeners_) l(ready);
}

bool Readiness::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

std::string Readiness::Report() const {
  std::lock_guard lock(mu_);
  std::string out;
  if (shutting_down_) out += "fail shutdown: shutting down\n";
  for (const Entry& e : entries_) {
    if (e.last.ok()) {
      CatAppend(out, "ok ", e.name, "\n");
    } else {
      CatAppend(out, e.critical ? "fail " : "degraded ", e.name, ": ", e.last.message(), "\n");
    }
  }
  if (out.empty()) out = "ok\n";
  return out;
}

}  // namespace tern::common
