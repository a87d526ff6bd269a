#include "services/common/service_runtime.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/time/clock.h"
#include "prometheus/text_serializer.h"
#include "services/common/grpc_observer.h"
#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/common/tls.h"

namespace tern::common {
namespace {

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockShutdownSignals() {
  sigset_t set = ShutdownSignals();
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ServiceRuntime::ServiceRuntime(std::string service_name, const Config& config)
    : name_(std::move(service_name)),
      config_(config),
      registry_(std::make_shared<prometheus::Registry>()),
      readiness_(std::make_unique<Readiness>(*registry_)),
      http_(std::make_unique<HttpServer>()) {
  prometheus::BuildGauge()
      .Name("tern_build_info")
      .Help("Always 1; labels say which service and version this process runs")
      .Register(*registry_)
      .Add({{"service", name_}, {"version", TERN_VERSION}})
      .Set(1);
}

ServiceRuntime::~ServiceRuntime() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
  readiness_->Stop();
  http_->Stop();
  // Newest first: a later object may depend on an earlier one (a service on its pool).
  while (!owned_.empty()) owned_.pop_back();
}

void ServiceRuntime::AddService(grpc::Service* service, std::string full_name) {
  services_.push_back(service);
  service_names_.insert(std::move(full_name));
}

absl::Status ServiceRuntime::Start() {
  http_->Handle("/healthz", [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; });
  http_->Handle("/readyz", [this] {
    const bool ready = readiness_->ready();
    return HttpResponse{ready ? 200 : 503, "text/plain; charset=utf-8", readiness_->Report()};
  });
  http_->Handle("/metrics", [registry = registry_] {
    prometheus::TextSerializer serializer;
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        serializer.Serialize(registry->Collect())};
  });
  if (absl::Status s = http_->Start(config_.GetString("http-listen")); !s.ok()) return s;

  if (services_.empty() && config_.GetString("grpc-listen").empty()) {
    readiness_->Start(config_.GetDuration("readiness-interval"),
                      config_.GetDuration("readiness-timeout"));
    started_ = true;
    LogInfo("serving", {{"http_port", http_->port()}});
    return absl::OkStatus();
  }
  const TlsFiles tls{config_.GetString("grpc-tls-cert"), config_.GetString("grpc-tls-key"),
                     config_.GetString("grpc-tls-ca")};
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = MakeGrpcServerCredentials(tls);
  if (!creds.ok()) return creds.status();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.GetString("grpc-listen"), *creds, &grpc_port_);
  grpc::ResourceQuota quota(name_);
  quota.SetMaxThreads(static_cast<int>(std::max<int64_t>(2, config_.GetInt("grpc-max-threads"))));
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(8 << 20);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
  std::set<std::string> known = service_names_;
  known.insert("grpc.health.v1.Health");
  observers.push_back(std::make_unique<GrpcObserverFactory>(*registry_, std::move(known)));
  builder.experimental().SetInterceptorCreators(std::move(observers));
  for (grpc::Service* service : services_) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  if (!server_ || grpc_port_ == 0) {
    return absl::UnavailableError(Cat("cannot serve gRPC on ", config_.GetString("grpc-listen")));
  }
  // The standard gRPC health service follows /readyz.
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  readiness_->OnChange([health](bool ready) {
    if (health != nullptr) health->SetServingStatus(ready);
  });
  if (health != nullptr) health->SetServingStatus(false);
  readiness_->Start(config_.GetDuration("readiness-interval"),
                    config_.GetDuration("readiness-timeout"));
  started_ = true;
  LogInfo("serving", {{"grpc_port", grpc_port_}, {"http_port", http_->port()}});
  return absl::OkStatus();
}

int ServiceRuntime::WaitAndDrain() {
  const sigset_t signals = ShutdownSignals();
  int signal_number = 0;
  while (!shutdown_requested_) {
    timespec timeout{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0) {
      signal_number = sig;
      break;
    }
  }
  const absl::Duration grace = config_.GetDuration("shutdown-grace");
  LogInfo("shutting down",
          {{"signal", signal_number}, {"grace_seconds", absl::ToDoubleSeconds(grace)}});
  const absl::Time start = absl::Now();
  readiness_->SetShuttingDown();
  for (auto& fn : on_drain_) fn();
  if (server_) {
    if (auto* health = server_->GetHealthCheckService(); health != nullptr) {
      health->SetServingStatus(false);
    }
    // Stops accepting at once; in-flight calls may finish until the deadline, then are
    // cancelled.
    server_->Shutdown(absl::ToChronoTime(start + grace));
    server_->Wait();
    server_.reset();
  }
  readiness_->Stop();
  http_->Stop();
  LogInfo("stopped", {{"drain_seconds", absl::ToDoubleSeconds(absl::Now() - start)}});
  return 0;
}

int RunService(std::string_view service_name, std::span<const SettingSpec> specs, int argc,
               char** argv, const std::function<absl::Status(ServiceRuntime&)>& setup) {
  BlockShutdownSignals();
  absl::StatusOr<Config> config = Config::Parse(specs, argc, argv, ProcessEnv());
  if (!config.ok()) {
    std::cerr << service_name << ": " << config.status().message() << "\n"
              << "run with --help for the list of settings\n";
    return 2;
  }
  if (config->help_requested()) {
    std::cout << Config::Usage(service_name, specs);
    return 0;
  }
  LogLevel level = LogLevel::kInfo;
  if (absl::Status s = ParseLogLevel(config->GetString("log-level"), level); !s.ok()) {
    std::cerr << service_name << ": " << s.message() << "\n";
    return 2;
  }
  std::string instance = config->GetString("instance");
  if (instance.empty()) instance = HostName();
  InitLogging(service_name, instance, level);
  {
    std::vector<LogField> fields;
    const auto described = config->DescribeForLog();
    for (const auto& [flag, value] : described) fields.emplace_back(flag, value);
    Log(LogLevel::kInfo, "starting", fields);
  }
  ServiceRuntime runtime{std::string(service_name), *config};
  if (absl::Status s = setup(runtime); !s.ok()) {
    LogError("setup failed", {{"error", std::string(s.message())}});
    return 1;
  }
  if (absl::Status s = runtime.Start(); !s.ok()) {
    LogError("start failed", {{"error", std::string(s.message())}});
    return 1;
  }
  return runtime.WaitAndDrain();
}

}  // namespace tern::common
