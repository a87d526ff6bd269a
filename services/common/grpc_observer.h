#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <set>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tern::common {

// Counts and times every RPC a server handles (tern_grpc_server_handled_total by method
// and code, tern_grpc_server_handling_seconds by method) and logs failed calls with their
// request id, so one client command can be followed through every service's log.
// Methods of services not in known_services (a client may send any name) are counted as
// "unknown", so the number of series stays bounded.
class GrpcObserverFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  GrpcObserverFactory(prometheus::Registry& registry, std::set<std::string> known_services);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  std::set<std::string> known_services_;  // full names, e.g. "tern.auth.v1.AuthService"
};

}  // namespace tern::common
