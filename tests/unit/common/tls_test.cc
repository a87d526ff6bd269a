#include "services/common/tls.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "services/common/grpc_client.h"
#include "tests/support/testing.h"
#include "tests/unit/common/echo_service.h"

namespace tern::common {
namespace {

using tern::testing::Shell;
using tern::testing::TempDir;

// A CA, a server/client certificate it signed for localhost and 127.0.0.1, and a stray key.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    const std::string script =
        "cd " + d + " && " +
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=tern-test-ca -keyout ca.key -out ca.pem 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost "
        "-keyout node.key -out node.csr 2>/dev/null && "
        "printf "
        "'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "
        "ext && "
        "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile ext -out node.pem 2>/dev/null && "
        "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null";
    ASSERT_EQ(Shell(script), 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string Path(const std::string& name) { return dir_->path() + "/" + name; }
  static TempDir* dir_;
};
TempDir* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ServerContextLoadsMatchingPairWithModernProtocolsOnly) {
  auto ctx = MakeServerTlsContext({Path("node.pem"), Path("node.key"), ""});
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->get()), TLS1_2_VERSION);
}

TEST_F(TlsTest, RejectsKeyThatDoesNotMatchAndMissingFiles) {
  EXPECT_EQ(MakeServerTlsContext({Path("node.pem"), Path("other.key"), ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(MakeServerTlsContext({Path("missing.pem"), Path("node.key"), ""}).ok());
  EXPECT_FALSE(MakeServerTlsContext({Path("node.pem"), "", ""}).ok());
  EXPECT_FALSE(MakeGrpcServerCredentials({Path("node.pem"), Path("other.key"), ""}).ok());
}

TEST_F(TlsTest, MutualTlsAcceptsSignedClientsAndRefusesOthers) {
  tern::testing::EchoServiceImpl echo;
  auto server_creds =
      MakeGrpcServerCredentials({Path("node.pem"), Path("node.key"), Path("ca.pem")});
  ASSERT_TRUE(server_creds.ok()) << server_creds.status();
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", *server_creds, &port);
  builder.RegisterService(&echo);
  auto server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  const std::string target = "localhost:" + std::to_string(port);

  auto call = [&](const TlsFiles& files) {
    auto channel = MakeChannel(target, files);
    EXPECT_TRUE(channel.ok());
    auto stub = tern::testing::v1::EchoService::NewStub(*channel);
    tern::testing::v1::EchoRequest req;
    req.set_text("secure");
    tern::testing::v1::EchoResponse resp;
    return CallWithRetry({.deadline = absl::Seconds(3)}, {},
                         [&](grpc::ClientContext& ctx) { return stub->Echo(&ctx, req, &resp); });
  };
  EXPECT_TRUE(call({Path("node.pem"), Path("node.key"), Path("ca.pem")}).ok());
  EXPECT_FALSE(call({"", "", Path("ca.pem")}).ok());  // no client certificate
  EXPECT_FALSE(call({}).ok());                        // plaintext to a TLS port
  server->Shutdown();
}

}  // namespace
}  // namespace tern::common
