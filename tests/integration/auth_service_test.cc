// The real tern-authd binary with PostgreSQL and Redis: LOGIN/PASS, SASL PLAIN, LOGIN and
// SCRAM-SHA-256 (a client written here from RFC 5802), throttling and lockout in Redis,
// tokens that blobd and metad verify, renewal and recipient lookup.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <filesystem>

#include "services/auth/scram.h"
#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "tern/auth/v1/auth.grpc.pb.h"
#include "tests/integration/cluster_env.h"
#include "tests/unit/auth/jwt_testing.h"

namespace tern::auth {
namespace {

using testing::Env;
using testing::FreePort;
using testing::HttpGet;
using testing::Process;
using testing::TempDir;
using testing::WaitFor;
using Step = v1::SaslStep;

const std::string kTokenSecret(32, '\x11');
constexpr char kAdmin[] = "auth-test-admin";
constexpr char kService[] = "auth-test-service";

class AuthServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    testing::WriteFile(d + "/token.key", "t1 " + std::string(64, '1') + "\n");
    testing::WriteFile(d + "/admin.token", kAdmin);
    testing::WriteFile(d + "/service.token", kService);
    oauth_key_ = jwt_testing::NewKey(false);
    testing::WriteFile(d + "/oauth.pem", "kid: idp1\n" + jwt_testing::PublicPem(oauth_key_));
    grpc_port_ = FreePort();
    http_port_ = FreePort();
    // metad's migrations give authd its schema.
    ASSERT_EQ(testing::Shell("TERN_PG_DSN='" + Env().pg().dsn() + "' " + testing::BinaryDir() +
                             "/services/ctl/ternctl migrate >/dev/null"),
              0);
    process_ = new Process(
        testing::BinaryDir() + "/services/auth/tern-authd",
        {"--grpc-listen=127.0.0.1:" + std::to_string(grpc_port_),
         "--http-listen=127.0.0.1:" + std::to_string(http_port_),
         "--token-key-file=" + d + "/token.key", "--admin-token-file=" + d + "/admin.token",
         "--service-token-file=" + d + "/service.token", "--argon2-memory-kib=8192",
         "--argon2-time-cost=1", "--lockout-after=3", "--fail-delay=10ms", "--fail-delay-max=40ms",
         "--readiness-interval=100ms", "--oauth-issuer=https://id.example.test",
         "--oauth-keys-file=" + d + "/oauth.pem"},
        {{"TERN_PG_DSN", Env().pg().dsn()}, {"TERN_REDIS_ADDR", Env().redis().addr()}},
        d + "/authd.log");
    ASSERT_TRUE(WaitFor([] { return HttpGet(http_port_, "/readyz").status == 200; },
                        std::chrono::seconds(30)))
        << process_->Log();
    stub_ = v1::AuthService::NewStub(
                *common::MakeChannel("127.0.0.1:" + std::to_string(grpc_port_), {}))
                .release();
    for (const auto& [address, password, enabled] :
         std::vector<std::tuple<std::string, std::string, bool>>{
             {"carol@example.test", "carol's password", true},
             {"dave@example.test", "dave pw", false},
             {"erin@example.test", "erin pw", true},
             {"frank@example.test", "frank pw", true}}) {
      grpc::ClientContext ctx;
      ctx.AddMetadata(common::kAdminTokenKey, kAdmin);
      v1::CreateUserRequest req;
      req.set_address(address);
      req.set_password(password);
      req.set_enabled(enabled);
      v1::User user;
      ASSERT_TRUE(stub_->CreateUser(&ctx, req, &user).ok());
    }
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(oauth_key_);
    delete stub_;
    delete process_;
    delete dir_;
  }

  // Each test comes from its own address, so one test's failures do not lock out another.
  static std::string TestAddress() {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return "192.0.2." + std::to_string(1 + std::hash<std::string>{}(name) % 250) + ":40000";
  }

  static std::string Plain(const std::string& authzid, const std::string& authcid,
                           const std::string& password) {
    return authzid + '\0' + authcid + '\0' + password;
  }

  static v1::ConnectionInfo Conn(bool tls = true, std::string client = "") {
    if (client.empty()) client = TestAddress();
    v1::ConnectionInfo c;
    c.set_protocol(v1::PROTOCOL_IMAP);
    c.set_client_address(client);
    c.set_tls(tls);
    c.set_session_id("session-1");
    return c;
  }

  static Step Login(const std::string& user, const std::string& password,
                    const v1::ConnectionInfo& conn = Conn()) {
    grpc::ClientContext ctx;
    v1::LoginPasswordRequest req;
    req.set_username(user);
    req.set_password(password);
    *req.mutable_connection() = conn;
    Step step;
    EXPECT_TRUE(stub_->LoginPassword(&ctx, req, &step).ok());
    return step;
  }

  static grpc::Status Start(const std::string& mech, std::optional<std::string> initial, Step* step,
                            const v1::ConnectionInfo& conn = Conn()) {
    grpc::ClientContext ctx;
    v1::SaslStartRequest req;
    req.set_mechanism(mech);
    if (initial) req.set_initial_response(*initial);
    *req.mutable_connection() = conn;
    return stub_->SaslStart(&ctx, req, step);
  }

  static grpc::Status Continue(const Step& prev, const std::string& response, Step* step,
                               const v1::ConnectionInfo& conn = Conn()) {
    grpc::ClientContext ctx;
    v1::SaslContinueRequest req;
    req.set_exchange_state(prev.exchange_state());
    req.set_client_response(response);
    *req.mutable_connection() = conn;
    return stub_->SaslContinue(&ctx, req, step);
  }

  // The client side of SCRAM-SHA-256 (RFC 5802 section 3), given the server-first-message.
  static std::string ClientFinal(const std::string& password, const std::string& client_first_bare,
                                 const std::string& server_first) {
    std::string salt_b64, nonce;
    int iterations = 0;
    for (size_t pos = 0; pos < server_first.size();) {
      size_t end = server_first.find(',', pos);
      if (end == std::string::npos) end = server_first.size();
      const std::string attr = server_first.substr(pos, end - pos);
      if (attr.starts_with("r=")) nonce = attr.substr(2);
      if (attr.starts_with("s=")) salt_b64 = attr.substr(2);
      if (attr.starts_with("i=")) iterations = std::stoi(attr.substr(2));
      pos = end + 1;
    }
    const std::string salt = *Base64Decode(salt_b64);
    unsigned char salted[32];
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), iterations, EVP_sha256(), 32, salted);
    const std::string salted_password(reinterpret_cast<char*>(salted), 32);
    const std::string client_key = common::HmacSha256(salted_password, "Client Key");
    unsigned char stored[32];
    SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), 32, stored);
    const std::string without_proof = "c=biws,r=" + nonce;
    const std::string auth_message = client_first_bare + "," + server_first + "," + without_proof;
    const std::string signature =
        common::HmacSha256(std::string(reinterpret_cast<char*>(stored), 32), auth_message);
    std::string proof(32, '\0');
    for (int i = 0; i < 32; ++i) proof[i] = static_cast<char>(client_key[i] ^ signature[i]);
    return without_proof + ",p=" + Base64Encode(proof);
  }

  static uint64_t TokenUser(const std::string& token) {
    auto claims =
        common::VerifySessionToken(token, common::KeyRing::Single("t1", kTokenSecret), absl::Now());
    return claims.ok() ? claims->user_id() : 0;
  }

  static TempDir* dir_;
  static Process* process_;
  static int grpc_port_;
  static int http_port_;
  static v1::AuthService::Stub* stub_;
  static inline EVP_PKEY* oauth_key_ = nullptr;
};
TempDir* AuthServiceTest::dir_ = nullptr;
Process* AuthServiceTest::process_ = nullptr;
int AuthServiceTest::grpc_port_ = 0;
int AuthServiceTest::http_port_ = 0;
v1::AuthService::Stub* AuthServiceTest::stub_ = nullptr;

TEST_F(AuthServiceTest, LoginIssuesATokenOtherServicesVerify) {
  const Step ok = Login("Carol@EXAMPLE.test", "carol's password");
  ASSERT_EQ(ok.outcome(), Step::OUTCOME_SUCCESS);
  EXPECT_EQ(ok.session().canonical_address(), "carol@example.test");
  EXPECT_EQ(TokenUser(ok.session().token()), ok.session().user_id());
  EXPECT_GT(ok.session().expires_at().seconds(), absl::ToUnixSeconds(absl::Now()));
}

TEST_F(AuthServiceTest, UnknownUserAndWrongPasswordGetTheSameAnswer) {
  const Step wrong = Login("erin@example.test", "not erin's");
  const Step unknown = Login("nobody@example.test", "whatever");
  EXPECT_EQ(wrong.outcome(), Step::OUTCOME_FAILURE);
  EXPECT_EQ(wrong.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  EXPECT_EQ(unknown.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  EXPECT_EQ(Login("not an address", "x").failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  // Three failures locked this test's address out (--lockout-after=3), not erin.
  EXPECT_EQ(Login("erin@example.test", "erin pw", Conn(true, "192.0.2.251:1")).outcome(),
            Step::OUTCOME_SUCCESS);
}

TEST_F(AuthServiceTest, DisabledAccountIsToldOnlyAfterTheRightPassword) {
  EXPECT_EQ(Login("dave@example.test", "dave pw").failure_reason(),
            Step::FAILURE_REASON_ACCOUNT_DISABLED);
  EXPECT_EQ(Login("dave@example.test", "guess").failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
}

TEST_F(AuthServiceTest, PlaintextNeedsTlsOrLoopback) {
  EXPECT_EQ(Login("carol@example.test", "carol's password", Conn(false)).failure_reason(),
            Step::FAILURE_REASON_ENCRYPTION_REQUIRED);
  EXPECT_EQ(Login("carol@example.test", "carol's password", Conn(false, "127.0.0.1:5")).outcome(),
            Step::OUTCOME_SUCCESS);
  grpc::ClientContext ctx;
  v1::ListMechanismsRequest req;
  *req.mutable_connection() = Conn(false);
  v1::ListMechanismsResponse resp;
  ASSERT_TRUE(stub_->ListMechanisms(&ctx, req, &resp).ok());
  EXPECT_TRUE(resp.login_disabled());
  EXPECT_EQ(std::vector<std::string>(resp.mechanisms().begin(), resp.mechanisms().end()),
            std::vector<std::string>{"SCRAM-SHA-256"});
  Step step;
  ASSERT_TRUE(Start("PLAIN", std::nullopt, &step, Conn(false)).ok());
  EXPECT_EQ(step.failure_reason(), Step::FAILURE_REASON_ENCRYPTION_REQUIRED);
}

TEST_F(AuthServiceTest, SaslPlainWithAndWithoutInitialResponse) {
  Step step;
  ASSERT_TRUE(Start("plain", Plain("", "carol@example.test", "carol's password"), &step).ok());
  EXPECT_EQ(step.outcome(), Step::OUTCOME_SUCCESS);
  ASSERT_TRUE(Start("PLAIN", std::nullopt, &step).ok());
  ASSERT_EQ(step.outcome(), Step::OUTCOME_CONTINUE);
  EXPECT_EQ(step.challenge(), "");
  Step done;
  ASSERT_TRUE(
      Continue(step, Plain("carol@example.test", "carol@example.test", "carol's password"), &done)
          .ok());
  EXPECT_EQ(done.outcome(), Step::OUTCOME_SUCCESS);
  // Proxy authorization as someone else is refused; garbage is malformed.
  ASSERT_TRUE(
      Start("PLAIN", Plain("erin@example.test", "carol@example.test", "carol's password"), &step)
          .ok());
  EXPECT_EQ(step.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  ASSERT_TRUE(Start("PLAIN", std::string("no separators"), &step).ok());
  EXPECT_EQ(step.failure_reason(), Step::FAILURE_REASON_MALFORMED);
}

TEST_F(AuthServiceTest, SaslLoginAsksForUsernameThenPassword) {
  Step step;
  ASSERT_TRUE(Start("LOGIN", std::nullopt, &step).ok());
  ASSERT_EQ(step.outcome(), Step::OUTCOME_CONTINUE);
  EXPECT_EQ(step.challenge(), "Username:");
  Step password;
  ASSERT_TRUE(Continue(step, "erin@example.test", &password).ok());
  EXPECT_EQ(password.challenge(), "Password:");
  Step done;
  ASSERT_TRUE(Continue(password, "erin pw", &done).ok());
  EXPECT_EQ(done.outcome(), Step::OUTCOME_SUCCESS);
}

TEST_F(AuthServiceTest, ScramSha256FullExchange) {
  const std::string client_first_bare = "n=carol@example.test,r=fyko+d2lbbFgONRv9qkxdawL";
  Step step;
  ASSERT_TRUE(Start("SCRAM-SHA-256", "n,," + client_first_bare, &step).ok());
  ASSERT_EQ(step.outcome(), Step::OUTCOME_CONTINUE);
  const std::string server_first = step.challenge();
  EXPECT_TRUE(server_first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
  Step done;
  ASSERT_TRUE(
      Continue(step, ClientFinal("carol's password", client_first_bare, server_first), &done).ok());
  ASSERT_EQ(done.outcome(), Step::OUTCOME_SUCCESS);
  ASSERT_TRUE(done.has_server_final());
  EXPECT_TRUE(done.server_final().starts_with("v="));
  EXPECT_EQ(TokenUser(done.session().token()), done.session().user_id());

  // Wrong password: fails at the proof. An unknown user gets a salt and fails the same way.
  ASSERT_TRUE(Start("SCRAM-SHA-256", "n,," + client_first_bare, &step).ok());
  ASSERT_TRUE(
      Continue(step, ClientFinal("wrong", client_first_bare, step.challenge()), &done).ok());
  EXPECT_EQ(done.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  const std::string ghost = "n=ghost@example.test,r=abcdefgh";
  ASSERT_TRUE(Start("SCRAM-SHA-256", "n,," + ghost, &step).ok());
  ASSERT_EQ(step.outcome(), Step::OUTCOME_CONTINUE);
  EXPECT_NE(step.challenge().find(",s="), std::string::npos);
  ASSERT_TRUE(Continue(step, ClientFinal("x", ghost, step.challenge()), &done).ok());
  EXPECT_EQ(done.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
}

TEST_F(AuthServiceTest, ExchangeStateIsSealedAndBoundToItsSession) {
  Step step;
  ASSERT_TRUE(Start("LOGIN", std::nullopt, &step).ok());
  Step tampered = step;
  std::string state = step.exchange_state();
  state[state.size() / 2] ^= 1;
  tampered.set_exchange_state(state);
  Step out;
  EXPECT_EQ(Continue(tampered, "erin@example.test", &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ConnectionInfo other = Conn();
  other.set_session_id("session-2");
  EXPECT_EQ(Continue(step, "erin@example.test", &out, other).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext ctx;
  v1::SaslContinueRequest cancel;
  cancel.set_exchange_state(step.exchange_state());
  cancel.set_cancel(true);
  *cancel.mutable_connection() = Conn();
  ASSERT_TRUE(stub_->SaslContinue(&ctx, cancel, &out).ok());
  EXPECT_EQ(out.failure_reason(), Step::FAILURE_REASON_ABORTED);
  ASSERT_TRUE(Start("CRAM-MD5", std::nullopt, &out).ok());
  EXPECT_EQ(out.failure_reason(), Step::FAILURE_REASON_MECHANISM_UNSUPPORTED);
}

TEST_F(AuthServiceTest, RepeatedFailuresLockOutThroughRedis) {
  const v1::ConnectionInfo attacker = Conn(true, "198.51.100.7:1000");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Login("frank@example.test", "guess " + std::to_string(i), attacker).failure_reason(),
              Step::FAILURE_REASON_AUTH_FAILED);
  }
  // Locked out now, even with the right password, from anywhere, for the user.
  const Step locked = Login("frank@example.test", "frank pw", Conn(true, "203.0.113.9:1"));
  EXPECT_EQ(locked.failure_reason(), Step::FAILURE_REASON_TEMPORARY_LOCKOUT);
  EXPECT_GT(locked.retry_after().seconds(), 0);
  // The counters are in Redis, visible to every authd replica.
  EXPECT_EQ(testing::Shell("test \"$(redis-cli -p " + std::to_string(Env().redis().port()) +
                           " GET tern:authfail:user:frank@example.test)\" = 3"),
            0);
  // The attacking address is locked out for other users too.
  EXPECT_EQ(Login("erin@example.test", "erin pw", attacker).failure_reason(),
            Step::FAILURE_REASON_TEMPORARY_LOCKOUT);
  EXPECT_EQ(Login("erin@example.test", "erin pw").outcome(), Step::OUTCOME_SUCCESS);
}

TEST_F(AuthServiceTest, RenewLookupAndVerifyTokens) {
  const Step ok = Login("carol@example.test", "carol's password");
  ASSERT_EQ(ok.outcome(), Step::OUTCOME_SUCCESS);
  grpc::ClientContext renew_ctx;
  renew_ctx.AddMetadata(common::kSessionTokenKey, ok.session().token());
  v1::RenewTokenResponse renewed;
  ASSERT_TRUE(stub_->RenewToken(&renew_ctx, {}, &renewed).ok());
  EXPECT_EQ(renewed.session().user_id(), ok.session().user_id());
  EXPECT_NE(renewed.session().token(), ok.session().token());

  grpc::ClientContext no_service;
  v1::LookupRecipientRequest lookup;
  lookup.set_address("Carol+Lists@Example.Test");
  v1::LookupRecipientResponse found;
  EXPECT_EQ(stub_->LookupRecipient(&no_service, lookup, &found).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext service;
  service.AddMetadata(common::kServiceTokenKey, kService);
  ASSERT_TRUE(stub_->LookupRecipient(&service, lookup, &found).ok());
  EXPECT_EQ(found.canonical_address(), "carol@example.test");
  EXPECT_EQ(found.detail(), "Lists");
  EXPECT_TRUE(found.enabled());
  auto claims = common::VerifySessionToken(
      found.deliver_token(), common::KeyRing::Single("t1", kTokenSecret), absl::Now());
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->scope(), v1::TOKEN_SCOPE_DELIVER);
  // A deliver token cannot be renewed into a session.
  grpc::ClientContext deliver_renew;
  deliver_renew.AddMetadata(common::kSessionTokenKey, found.deliver_token());
  EXPECT_EQ(stub_->RenewToken(&deliver_renew, {}, &renewed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext missing;
  missing.AddMetadata(common::kServiceTokenKey, kService);
  lookup.set_address("nobody@example.test");
  EXPECT_EQ(stub_->LookupRecipient(&missing, lookup, &found).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext disabled;
  disabled.AddMetadata(common::kServiceTokenKey, kService);
  lookup.set_address("dave@example.test");
  ASSERT_TRUE(stub_->LookupRecipient(&disabled, lookup, &found).ok());
  EXPECT_FALSE(found.enabled());
  EXPECT_TRUE(found.deliver_token().empty());

  grpc::ClientContext verify_ctx;
  verify_ctx.AddMetadata(common::kAdminTokenKey, kAdmin);
  v1::VerifyTokenRequest verify;
  verify.set_token(ok.session().token() + "x");
  v1::VerifyTokenResponse verdict;
  ASSERT_TRUE(stub_->VerifyToken(&verify_ctx, verify, &verdict).ok());
  EXPECT_FALSE(verdict.valid());
  EXPECT_EQ(verdict.invalid_reason(), v1::VerifyTokenResponse::INVALID_REASON_BAD_SIGNATURE);
}

TEST_F(AuthServiceTest, OAuthBearerAcceptsTheIssuersTokensOnly) {
  const auto message = [](const std::string& token) {
    return "n,a=erin@example.test,\x01"
           "auth=Bearer " +
           token + "\x01\x01";
  };
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const auto token = [&](int64_t exp, const std::string& email) {
    return jwt_testing::SignJwt(oauth_key_, false, "idp1",
                                R"({"iss":"https://id.example.test","exp":)" + std::to_string(exp) +
                                    R"(,"email":")" + email + R"("})");
  };
  Step step;
  ASSERT_TRUE(Start("OAUTHBEARER", message(token(now + 300, "Erin@example.test")), &step).ok());
  ASSERT_EQ(step.outcome(), Step::OUTCOME_SUCCESS) << step.failure_reason();
  EXPECT_EQ(step.session().canonical_address(), "erin@example.test");
  // Expired, or naming someone else than the authzid: failure with the RFC 7628 error.
  ASSERT_TRUE(Start("OAUTHBEARER", message(token(now - 3600, "erin@example.test")), &step).ok());
  EXPECT_EQ(step.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  EXPECT_NE(step.failure_challenge().find("invalid_token"), std::string::npos);
  ASSERT_TRUE(Start("OAUTHBEARER", message(token(now + 300, "carol@example.test")), &step).ok());
  EXPECT_EQ(step.failure_reason(), Step::FAILURE_REASON_AUTH_FAILED);
  grpc::ClientContext ctx;
  v1::ListMechanismsRequest req;
  *req.mutable_connection() = Conn();
  v1::ListMechanismsResponse mechs;
  ASSERT_TRUE(stub_->ListMechanisms(&ctx, req, &mechs).ok());
  EXPECT_EQ(mechs.mechanisms(mechs.mechanisms_size() - 1), "OAUTHBEARER");
}

TEST_F(AuthServiceTest, PasswordsNeverReachTheLog) {
  EXPECT_EQ(process_->Log().find("carol's password"), std::string::npos);
  EXPECT_EQ(process_->Log().find("frank pw"), std::string::npos);
}

}  // namespace
}  // namespace tern::auth
