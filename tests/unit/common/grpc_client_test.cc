#include "services/common/grpc_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/unit/common/echo_service.h"

namespace tern::common {
namespace {

using tern::testing::EchoServiceImpl;
using tern::testing::v1::EchoRequest;
using tern::testing::v1::EchoResponse;
using tern::testing::v1::EchoService;

class GrpcClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
    auto channel = MakeChannel("127.0.0.1:" + std::to_string(port_), TlsFiles{});
    ASSERT_TRUE(channel.ok());
    stub_ = EchoService::NewStub(*channel);
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Call(const CallPolicy& policy, const CallMeta& meta, const EchoRequest& req,
                    EchoResponse* resp, int* attempts) {
    return CallWithRetry(
        policy, meta, [&](grpc::ClientContext& ctx) { return stub_->Echo(&ctx, req, resp); },
        attempts);
  }

  EchoServiceImpl service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<EchoService::Stub> stub_;
};

TEST_F(GrpcClientTest, IdempotentCallRetriesUnavailableWithTheSameRequestId) {
  EchoRequest req;
  req.set_text("hi");
  req.set_fail_first(2);
  req.set_key("retry");
  EchoResponse resp;
  int attempts = 0;
  const grpc::Status s = Call({.idempotent = true, .initial_backoff = absl::Milliseconds(5)},
                              {.request_id = "req-42"}, req, &resp, &attempts);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(resp.attempt(), 3u);
  EXPECT_EQ(resp.text(), "hi");
  EXPECT_EQ(resp.request_id(), "req-42");
}

TEST_F(GrpcClientTest, NonIdempotentCallIsNotRetried) {
  EchoRequest req;
  req.set_fail_first(1);
  req.set_key("once");
  EchoResponse resp;
  int attempts = 0;
  const grpc::Status s = Call({.idempotent = false}, {}, req, &resp, &attempts);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(attempts, 1);
}

TEST_F(GrpcClientTest, GivesUpAfterMaxAttempts) {
  EchoRequest req;
  req.set_fail_first(100);
  req.set_key("never");
  EchoResponse resp;
  int attempts = 0;
  const grpc::Status s =
      Call({.idempotent = true, .max_attempts = 3, .initial_backoff = absl::Milliseconds(1)}, {},
           req, &resp, &attempts);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(attempts, 3);
}

TEST_F(GrpcClientTest, DeadlineBoundsTheWholeCall) {
  EchoRequest req;
  req.set_sleep_ms(2000);
  req.set_key("slow");
  EchoResponse resp;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status s =
      Call({.deadline = absl::Milliseconds(200), .idempotent = true}, {}, req, &resp, nullptr);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(GrpcClientTest, GeneratesARequestIdWhenNoneIsGiven) {
  EchoRequest req;
  req.set_key("gen");
  EchoResponse resp;
  ASSERT_TRUE(Call({}, {}, req, &resp, nullptr).ok());
  EXPECT_EQ(resp.request_id().size(), 16u);
}

TEST(BackoffTest, GrowsExponentiallyWithJitterAndIsCapped) {
  std::mt19937_64 rng(7);
  const CallPolicy policy{.initial_backoff = absl::Milliseconds(100),
                          .max_backoff = absl::Milliseconds(1000)};
  for (int i = 0; i < 100; ++i) {
    const absl::Duration first = BackoffDelay(policy, 1, rng);
    EXPECT_GE(first, absl::Milliseconds(50));
    EXPECT_LE(first, absl::Milliseconds(100));
    const absl::Duration third = BackoffDelay(policy, 3, rng);
    EXPECT_GE(third, absl::Milliseconds(200));
    EXPECT_LE(third, absl::Milliseconds(400));
    const absl::Duration capped = BackoffDelay(policy, 30, rng);
    EXPECT_GE(capped, absl::Milliseconds(500));
    EXPECT_LE(capped, absl::Milliseconds(1000));
  }
  // Jitter: not every delay is the same.
  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(absl::ToInt64Microseconds(BackoffDelay(policy, 2, rng)));
  EXPECT_GT(seen.size(), 10u);
}

TEST(RetryableTest, OnlyTransientCodesRetry) {
  EXPECT_TRUE(IsRetryable(grpc::Status(grpc::StatusCode::UNAVAILABLE, "")));
  EXPECT_TRUE(IsRetryable(grpc::Status(grpc::StatusCode::ABORTED, "")));
  EXPECT_FALSE(IsRetryable(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "")));
  EXPECT_FALSE(IsRetryable(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "")));
  EXPECT_FALSE(IsRetryable(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")));
}

}  // namespace
}  // namespace tern::common
