#include "services/common/service_runtime.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>

#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/grpc_client.h"
#include "tests/support/testing.h"
#include "tests/unit/common/echo_service.h"

namespace tern::common {
namespace {

using tern::testing::HttpGet;
using tern::testing::WaitFor;
using tern::testing::v1::EchoRequest;
using tern::testing::v1::EchoResponse;
using tern::testing::v1::EchoService;

Config MakeConfig(const std::string& grace) {
  static const std::vector<SettingSpec> specs = CommonSettings("127.0.0.1:0", "127.0.0.1:0");
  const std::string grace_flag = "--shutdown-grace=" + grace;
  const char* argv[] = {"test", grace_flag.c_str(), "--readiness-interval=30ms"};
  auto cfg = Config::Parse(specs, 3, argv, [](std::string_view) { return std::nullopt; });
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  return *cfg;
}

class ServiceRuntimeTest : public ::testing::Test {
 protected:
  void Start(const std::string& grace = "5s") {
    runtime_ = std::make_unique<ServiceRuntime>("tern-test", MakeConfig(grace));
    runtime_->AddService(&echo_, tern::testing::v1::EchoService::service_full_name());
    runtime_->readiness().AddCheck("dep", [this](absl::Duration) {
      return dep_up_ ? absl::OkStatus() : absl::UnavailableError("dep is down");
    });
    ASSERT_TRUE(runtime_->Start().ok());
    auto channel = MakeChannel("127.0.0.1:" + std::to_string(runtime_->grpc_port()), {});
    ASSERT_TRUE(channel.ok());
    echo_stub_ = EchoService::NewStub(*channel);
    health_stub_ = grpc::health::v1::Health::NewStub(*channel);
  }

  grpc::Status Echo(uint32_t sleep_ms, const std::string& key, EchoResponse* resp) {
    EchoRequest req;
    req.set_text("x");
    req.set_sleep_ms(sleep_ms);
    req.set_key(key);
    return CallWithRetry({.deadline = absl::Seconds(10)}, {}, [&](grpc::ClientContext& ctx) {
      return echo_stub_->Echo(&ctx, req, resp);
    });
  }

  grpc::health::v1::HealthCheckResponse::ServingStatus Health() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    if (!health_stub_->Check(&ctx, req, &resp).ok())
      return grpc::health::v1::HealthCheckResponse::UNKNOWN;
    return resp.status();
  }

  tern::testing::EchoServiceImpl echo_;
  std::atomic<bool> dep_up_{true};
  std::unique_ptr<ServiceRuntime> runtime_;
  std::unique_ptr<EchoService::Stub> echo_stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
};

TEST_F(ServiceRuntimeTest, HealthzReadyzAndMetricsOverHttp) {
  Start();
  const int port = runtime_->http_port();
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200);
  EXPECT_EQ(HttpGet(port, "/nope").status, 404);

  EchoResponse resp;
  ASSERT_TRUE(Echo(0, "m", &resp).ok());
  const auto metrics = HttpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("tern_ready 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("tern_build_info{"), std::string::npos);
  EXPECT_NE(metrics.body.find("tern_grpc_server_handled_total{code=\"OK\",method=\"/"
                              "tern.testing.v1.EchoService/Echo\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("tern_grpc_server_handling_seconds_bucket"), std::string::npos);
}

TEST_F(ServiceRuntimeTest, HttpEndpointBoundsOpenConnections) {
  Start();
  const int port = runtime_->http_port();
  std::vector<int> idle;
  for (int i = 0; i < 64; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    idle.push_back(fd);
  }
  // Let the loop accept all of them, then one more is turned away.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(HttpGet(port, "/healthz").status, 0);
  for (int fd : idle) close(fd);
  EXPECT_TRUE(
      WaitFor([&] { return HttpGet(port, "/healthz").status == 200; }, std::chrono::seconds(5)));
}

TEST_F(ServiceRuntimeTest, ReadyzAndGrpcHealthFollowTheDependency) {
  Start();
  const int port = runtime_->http_port();
  EXPECT_EQ(Health(), grpc::health::v1::HealthCheckResponse::SERVING);
  dep_up_ = false;
  EXPECT_TRUE(
      WaitFor([&] { return HttpGet(port, "/readyz").status == 503; }, std::chrono::seconds(5)));
  EXPECT_NE(HttpGet(port, "/readyz").body.find("fail dep: dep is down"), std::string::npos);
  EXPECT_EQ(Health(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);  // alive, just not ready
  dep_up_ = true;
  EXPECT_TRUE(
      WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, std::chrono::seconds(5)));
  EXPECT_EQ(Health(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_NE(
      HttpGet(port, "/metrics").body.find("tern_readiness_check_failures_total{check=\"dep\"}"),
      std::string::npos);
}

TEST_F(ServiceRuntimeTest, GracefulShutdownDrainsInFlightCallsAndRefusesNewOnes) {
  Start("5s");
  auto in_flight = std::async(std::launch::async, [&] {
    EchoResponse resp;
    return Echo(600, "drain", &resp);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  runtime_->RequestShutdown();
  const auto start = std::chrono::steady_clock::now();
  auto drained = std::async(std::launch::async, [&] { return runtime_->WaitAndDrain(); });
  const grpc::Status in_flight_status = in_flight.get();
  EXPECT_TRUE(in_flight_status.ok()) << in_flight_status.error_message();
  EXPECT_EQ(drained.get(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EchoResponse resp;
  EXPECT_FALSE(Echo(0, "after", &resp).ok());
}

TEST_F(ServiceRuntimeTest, CallsOutlivingTheGracePeriodAreCancelled) {
  Start("300ms");
  auto in_flight = std::async(std::launch::async, [&] {
    EchoResponse resp;
    return Echo(8000, "stuck", &resp);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  runtime_->RequestShutdown();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(runtime_->WaitAndDrain(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_FALSE(in_flight.get().ok());
}

}  // namespace
}  // namespace tern::common
