#include "services/common/grpc_observer.h"

#include <chrono>
#include <string>

#include "services/common/grpc_client.h"
#include "services/common/log.h"

namespace tern::common {
namespace {

using grpc::experimental::InterceptionHookPoints;

std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  const auto i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

class Observer : public grpc::experimental::Interceptor {
 public:
  Observer(std::string method, prometheus::Family<prometheus::Counter>& handled,
           prometheus::Family<prometheus::Histogram>& seconds)
      : method_(std::move(method)),
        handled_(handled),
        seconds_(seconds),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      if (auto* md = methods->GetRecvInitialMetadata(); md != nullptr) {
        if (auto it = md->find(kRequestIdKey); it != md->end()) {
          request_id_.assign(it->second.data(), it->second.size());
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      const std::string code(CodeName(status.error_code()));
      handled_.Add({{"method", method_}, {"code", code}}).Increment();
      seconds_
          .Add({{"method", method_}},
               prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25, 0.5, 1, 2.5, 5, 10})
          .Observe(secs);
      const LogLevel level = status.ok() ? LogLevel::kDebug : LogLevel::kInfo;
      if (LogEnabled(level)) {
        Log(level, "rpc",
            {{"method", method_},
             {"code", code},
             {"request_id", request_id_},
             {"seconds", secs},
             {"error", status.error_message()}});
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
};

}  // namespace

GrpcObserverFactory::GrpcObserverFactory(prometheus::Registry& registry,
                                         std::set<std::string> known_services)
    : handled_(prometheus::BuildCounter()
                   .Name("tern_grpc_server_handled_total")
                   .Help("gRPC calls completed by the server, by method and status code")
                   .Register(registry)),
      seconds_(prometheus::BuildHistogram()
                   .Name("tern_grpc_server_handling_seconds")
                   .Help("gRPC call latency on the server, by method")
                   .Register(registry)),
      known_services_(std::move(known_services)) {}

grpc::experimental::Interceptor* GrpcObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // "/package.Service/Method"
  std::string method = info->method() != nullptr ? info->method() : "";
  const size_t slash = method.find('/', 1);
  if (method.size() < 2 || method[0] != '/' || slash == std::string::npos ||
      !known_services_.contains(method.substr(1, slash - 1))) {
    method = "unknown";
  }
  return new Observer(std::move(method), handled_, seconds_);
}

}  // namespace tern::common
