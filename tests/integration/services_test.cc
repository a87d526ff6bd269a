// The real tern-authd, tern-metad and tern-blobd binaries against a real PostgreSQL and
// Redis: health, readiness, metrics, the gRPC health service, UNIMPLEMENTED for what is not
// built, user administration through ternctl, and graceful shutdown.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <pqxx/pqxx>
#include <sstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "services/ctl/ternctl.h"
#include "tern/auth/v1/auth.grpc.pb.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"
#include "tern/testing/v1/echo.grpc.pb.h"
#include "tests/integration/cluster_env.h"

namespace tern {
namespace {

using testing::Env;
using testing::FreePort;
using testing::HttpGet;
using testing::Process;
using testing::TempDir;
using testing::WaitFor;

constexpr char kAdminToken[] = "integration-admin-token";

struct Service {
  std::unique_ptr<Process> process;
  int grpc_port;
  int http_port;
  std::shared_ptr<grpc::Channel> channel;
};

class ServicesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    testing::WriteFile(dir_->path() + "/admin.token", std::string(kAdminToken) + "\n");
    testing::WriteFile(dir_->path() + "/token.key", "t1 " + std::string(64, '2') + "\n");
    std::filesystem::create_directories(dir_->path() + "/blobs");
    testing::WriteFile(dir_->path() + "/blob.key", "b1 " + std::string(64, '3') + "\n");
    metad_ = new Service(
        Launch("metadata/tern-metad",
               {"--migrate-on-start=true", "--token-key-file=" + dir_->path() + "/token.key",
                "--blob-key-file=" + dir_->path() + "/blob.key"}));
    ASSERT_TRUE(WaitReady(*metad_)) << metad_->process->Log();
    authd_ = new Service(
        Launch("auth/tern-authd", {"--admin-token-file=" + dir_->path() + "/admin.token",
                                   "--token-key-file=" + dir_->path() + "/token.key",
                                   "--argon2-memory-kib=8192", "--argon2-time-cost=1"}));
    blobd_ = new Service(Launch("blob/tern-blobd", {"--blob-dir=" + dir_->path() + "/blobs"}));
    ASSERT_TRUE(WaitReady(*authd_)) << authd_->process->Log();
    ASSERT_TRUE(WaitReady(*blobd_)) << blobd_->process->Log();
  }
  static void TearDownTestSuite() {
    delete authd_;
    delete blobd_;
    delete metad_;
    delete dir_;
  }

  static Service Launch(const std::string& binary, std::vector<std::string> flags) {
    Service s;
    s.grpc_port = FreePort();
    s.http_port = FreePort();
    flags.push_back("--grpc-listen=127.0.0.1:" + std::to_string(s.grpc_port));
    flags.push_back("--http-listen=127.0.0.1:" + std::to_string(s.http_port));
    flags.push_back("--readiness-interval=100ms");
    flags.push_back("--readiness-timeout=1s");
    const std::string name = binary.substr(binary.find('/') + 1);
    s.process = std::make_unique<Process>(
        testing::BinaryDir() + "/services/" + binary, flags,
        std::map<std::string, std::string>{{"TERN_PG_DSN", Env().pg().dsn()},
                                           {"TERN_REDIS_ADDR", Env().redis().addr()},
                                           {"TERN_SHUTDOWN_GRACE", "5s"}},
        dir_->path() + "/" + name + ".log");
    s.channel = *common::MakeChannel("127.0.0.1:" + std::to_string(s.grpc_port), {});
    return s;
  }

  static bool WaitReady(const Service& s) {
    return WaitFor([&] { return HttpGet(s.http_port, "/readyz").status == 200; },
                   std::chrono::seconds(30));
  }

  static int Ternctl(std::vector<std::string> args, const std::string& input, std::string* out) {
    args.push_back("--authd-addr=127.0.0.1:" + std::to_string(authd_->grpc_port));
    args.push_back("--admin-token-file=" + dir_->path() + "/admin.token");
    std::istringstream in(input);
    std::ostringstream o, e;
    const int rc = ctl::RunTernctl(args, in, o, e);
    if (out != nullptr) *out = o.str() + e.str();
    return rc;
  }

  static TempDir* dir_;
  static Service* metad_;
  static Service* authd_;
  static Service* blobd_;
};
TempDir* ServicesTest::dir_ = nullptr;
Service* ServicesTest::metad_ = nullptr;
Service* ServicesTest::authd_ = nullptr;
Service* ServicesTest::blobd_ = nullptr;

TEST_F(ServicesTest, EveryServiceAnswersHealthReadinessMetricsAndGrpcHealth) {
  for (Service* s : {metad_, authd_, blobd_}) {
    EXPECT_EQ(HttpGet(s->http_port, "/healthz").status, 200);
    EXPECT_EQ(HttpGet(s->http_port, "/readyz").status, 200);
    const auto metrics = HttpGet(s->http_port, "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("tern_ready 1"), std::string::npos);
    auto health = grpc::health::v1::Health::NewStub(s->channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_F(ServicesTest, CallsAreCountedByMethodAndCode) {
  grpc::ClientContext ctx;  // no credentials
  auto metad = metadata::v1::MetadataService::NewStub(metad_->channel);
  metadata::v1::ListMailboxesRequest req;
  req.add_patterns("*");
  metadata::v1::ListMailboxesResponse resp;
  EXPECT_EQ(metad->ListMailboxes(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(HttpGet(metad_->http_port, "/metrics")
                .body.find("code=\"UNAUTHENTICATED\",method=\"/tern.metadata.v1.MetadataService/"
                           "ListMailboxes\""),
            std::string::npos);
}

TEST_F(ServicesTest, UnknownMethodsAreCountedWithoutTheirNames) {
  // A client may send any method name; metrics must not grow a series per name.
  auto stub = tern::testing::v1::EchoService::NewStub(metad_->channel);
  grpc::ClientContext ctx;
  tern::testing::v1::EchoRequest req;
  tern::testing::v1::EchoResponse resp;
  EXPECT_EQ(stub->Echo(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  const std::string metrics = HttpGet(metad_->http_port, "/metrics").body;
  EXPECT_EQ(metrics.find("EchoService"), std::string::npos);
}

TEST_F(ServicesTest, TernctlManagesUsersAndOnlyHashesAreStored) {
  std::string out;
  ASSERT_EQ(
      Ternctl({"user", "add", "Alice@Example.TEST", "--password-stdin"}, "s3cret pass\n", &out), 0)
      << out;
  EXPECT_NE(out.find("alice@example.test"), std::string::npos);
  EXPECT_EQ(Ternctl({"user", "add", "alice@example.test", "--password-stdin"}, "x\n", &out), 1);
  EXPECT_NE(out.find("exists"), std::string::npos);
  EXPECT_EQ(Ternctl({"user", "add", "alice@example.test", "--password-stdin", "--if-not-exists"},
                    "x\n", &out),
            0);
  EXPECT_EQ(Ternctl({"user", "add", "bob@other.test", "--password-stdin", "--quota-messages=10"},
                    "pw\n", &out),
            0)
      << out;
  EXPECT_EQ(Ternctl({"user", "list", "--domain=example.test"}, "", &out), 0);
  EXPECT_NE(out.find("alice@example.test"), std::string::npos);
  EXPECT_EQ(out.find("bob@other.test"), std::string::npos);
  EXPECT_EQ(Ternctl({"user", "show", "bob@other.test"}, "", &out), 0);
  EXPECT_NE(out.find("quota_messages=10"), std::string::npos);
  EXPECT_EQ(Ternctl({"user", "disable", "bob@other.test"}, "", &out), 0);
  EXPECT_NE(out.find("disabled"), std::string::npos);
  EXPECT_EQ(Ternctl({"user", "passwd", "bob@other.test", "--password-stdin"}, "new\n", &out), 0);
  EXPECT_EQ(Ternctl({"user", "del", "bob@other.test"}, "", &out), 0);
  EXPECT_EQ(Ternctl({"user", "show", "bob@other.test"}, "", &out), 1);
  EXPECT_EQ(Ternctl({"user", "add", "not-an-address", "--password-stdin"}, "pw\n", &out), 1);
  EXPECT_EQ(Ternctl({"user", "add", "x@example.test"}, "", &out), 1);  // no password source
  EXPECT_EQ(Ternctl({"frobnicate"}, "", &out), 2);

  pqxx::connection conn(Env().pg().dsn());
  pqxx::read_transaction txn(conn);
  const pqxx::row row = txn.exec1(
      "SELECT password_hash, scram_iterations, length(scram_stored_key) FROM users"
      " WHERE address = 'alice@example.test'");
  const std::string hash = row[0].as<std::string>();
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(hash.find("s3cret"), std::string::npos);
  EXPECT_GE(row[1].as<int>(), 4096);
  EXPECT_EQ(row[2].as<int>(), 32);
  // The password never reaches a log.
  EXPECT_EQ(authd_->process->Log().find("s3cret"), std::string::npos);
}

TEST_F(ServicesTest, AdminRpcsNeedTheAdminToken) {
  auto authd = auth::v1::AuthService::NewStub(authd_->channel);
  auth::v1::ListUsersRequest req;
  auth::v1::ListUsersResponse resp;
  grpc::ClientContext none;
  EXPECT_EQ(authd->ListUsers(&none, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext wrong;
  wrong.AddMetadata(common::kAdminTokenKey, "guess");
  EXPECT_EQ(authd->ListUsers(&wrong, req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext right;
  right.AddMetadata(common::kAdminTokenKey, kAdminToken);
  EXPECT_TRUE(authd->ListUsers(&right, req, &resp).ok());
}

TEST_F(ServicesTest, RedisOutageDegradesButKeepsServicesReady) {
  Env().redis().Stop();
  EXPECT_TRUE(WaitFor(
      [] {
        return HttpGet(metad_->http_port, "/readyz").body.find("degraded redis") !=
               std::string::npos;
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(HttpGet(metad_->http_port, "/readyz").status, 200);
  Env().redis().Start();
  EXPECT_TRUE(WaitFor(
      [] {
        return HttpGet(metad_->http_port, "/readyz").body.find("ok redis") != std::string::npos;
      },
      std::chrono::seconds(10)));
}

TEST_F(ServicesTest, PostgresOutageMakesServicesNotReadyUntilItReturns) {
  Env().pg().Stop();
  for (Service* s : {metad_, authd_}) {
    EXPECT_TRUE(WaitFor([&] { return HttpGet(s->http_port, "/readyz").status == 503; },
                        std::chrono::seconds(15)));
    EXPECT_EQ(HttpGet(s->http_port, "/healthz").status, 200);
  }
  std::string body;
  EXPECT_TRUE(WaitFor(
      [&] {
        body = HttpGet(metad_->http_port, "/readyz").body;
        return body.find("fail postgresql") != std::string::npos;
      },
      std::chrono::seconds(15)))
      << body;
  EXPECT_EQ(HttpGet(blobd_->http_port, "/readyz").status, 200);  // blobd does not use it
  Env().pg().Start();
  for (Service* s : {metad_, authd_}) {
    EXPECT_TRUE(WaitFor([&] { return HttpGet(s->http_port, "/readyz").status == 200; },
                        std::chrono::seconds(15)))
        << HttpGet(s->http_port, "/readyz").body;
  }
}

TEST_F(ServicesTest, SigtermShutsEveryServiceDownCleanly) {
  for (Service* s : {authd_, blobd_, metad_}) {
    s->process->Signal(SIGTERM);
    const std::optional<int> code = s->process->Wait(std::chrono::seconds(10));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << s->process->Log();
    EXPECT_NE(s->process->Log().find("\"msg\":\"stopped\""), std::string::npos);
  }
}

}  // namespace
}  // namespace tern
