#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "prometheus/registry.h"
#include "services/common/config.h"
#include "services/common/http_server.h"
#include "services/common/readiness.h"

namespace tern::common {

// What every Tern service process runs on: a gRPC server with the standard health service,
// the operator HTTP endpoint (/metrics, /healthz, /readyz), dependency readiness checks and
// graceful shutdown. Business logic only registers its gRPC services and checks.
class ServiceRuntime {
 public:
  ServiceRuntime(std::string service_name, const Config& config);
  ~ServiceRuntime();
  ServiceRuntime(const ServiceRuntime&) = delete;
  ServiceRuntime& operator=(const ServiceRuntime&) = delete;

  const std::string& name() const { return name_; }
  const Config& config() const { return config_; }
  prometheus::Registry& metrics() { return *registry_; }
  Readiness& readiness() { return *readiness_; }

  // Before Start: a gRPC service to serve (owned by the caller or by Own()) and its full
  // name (the generated Foo::service_full_name()), which labels its metrics.
  void AddService(grpc::Service* service, std::string full_name);
  // Keeps an object (a service, a connection pool) alive until the server has drained and
  // the readiness checks have stopped, then destroys it.
  template <typename T>
  T* Own(std::unique_ptr<T> object) {
    T* raw = object.get();
    owned_.push_back(std::shared_ptr<T>(std::move(object)));
    return raw;
  }
  // Before Start: called first thing when draining begins (front-ends stop their listeners
  // and end their sessions here).
  void OnDrain(std::function<void()> fn) { on_drain_.push_back(std::move(fn)); }
  // Starts the HTTP endpoint, the readiness checker and the gRPC server. A process that
  // serves no gRPC service and has an empty --grpc-listen (the protocol front-ends) runs
  // without a gRPC server.
  absl::Status Start();
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_->port(); }

  // Blocks until SIGTERM/SIGINT (see BlockShutdownSignals) or RequestShutdown(), then
  // drains: not ready at once, stop accepting, let in-flight calls finish within the grace
  // period (then cancel them), stop the HTTP endpoint. Returns the process exit code (0).
  int WaitAndDrain();
  void RequestShutdown() { shutdown_requested_ = true; }

 private:
  std::string name_;
  Config config_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Readiness> readiness_;
  std::unique_ptr<HttpServer> http_;
  std::vector<grpc::Service*> services_;
  std::set<std::string> service_names_;
  std::unique_ptr<grpc::Server> server_;
  int grpc_port_ = 0;
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<bool> started_{false};
  std::vector<std::shared_ptr<void>> owned_;
  std::vector<std::function<void()>> on_drain_;
};

// Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread, so every thread started after
// it inherits the mask and WaitAndDrain can take the signals synchronously. Call first
// thing in main().
void BlockShutdownSignals();

// The whole main() of a service: blocks signals, parses flags and environment against
// specs (printing --help), starts logging, lets setup register services and checks, starts,
// waits for SIGTERM and drains. Exit codes: 0 clean, 2 bad configuration, 1 start failure.
int RunService(std::string_view service_name, std::span<const SettingSpec> specs, int argc,
               char** argv, const std::function<absl::Status(ServiceRuntime&)>& setup);

}  // namespace tern::common
