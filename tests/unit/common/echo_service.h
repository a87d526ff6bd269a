#pragma once

#include <map>
#include <mutex>
#include <thread>

#include "services/common/grpc_client.h"
#include "tern/testing/v1/echo.grpc.pb.h"

namespace tern::testing {

// The test service behind grpc_client_test and service_runtime_test.
class EchoServiceImpl final : public tern::testing::v1::EchoService::Service {
 public:
  grpc::Status Echo(grpc::ServerContext* ctx, const v1::EchoRequest* req,
                    v1::EchoResponse* resp) override {
    uint32_t attempt = 0;
    {
      std::lock_guard lock(mu_);
      attempt = ++calls_[req->key()];
    }
    resp->set_attempt(attempt);
    resp->set_request_id(common::RequestIdOf(*ctx));
    if (attempt <= req->fail_first()) return {grpc::StatusCode::UNAVAILABLE, "try again"};
    // Sleep in small steps so a cancelled call (deadline, forced shutdown) ends early.
    for (uint32_t slept = 0; slept < req->sleep_ms(); slept += 10) {
      if (ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled"};
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    resp->set_text(req->text());
    return grpc::Status::OK;
  }

 private:
  std::mutex mu_;
  std::map<std::string, uint32_t> calls_;
};

}  // namespace tern::testing
