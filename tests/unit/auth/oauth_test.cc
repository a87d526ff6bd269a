#include "services/auth/oauth.h"

#include <gtest/gtest.h>

#include "tests/unit/auth/jwt_testing.h"

namespace tern::auth {
namespace {

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = jwt_testing::NewKey(false);
    ec_ = jwt_testing::NewKey(true);
    other_ = jwt_testing::NewKey(false);
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec_);
    EVP_PKEY_free(other_);
  }
  std::unique_ptr<JwtVerifier> Verifier() {
    auto v = JwtVerifier::Load(
        "kid: r1\n" + jwt_testing::PublicPem(rsa_) + "kid: e1\n" + jwt_testing::PublicPem(ec_),
        {.issuer = "https://id.example.test", .audience = "tern"});
    EXPECT_TRUE(v.ok()) << v.status();
    return *std::move(v);
  }
  static std::string Claims(int64_t exp, const std::string& iss = "https://id.example.test",
                            const std::string& aud = "\"tern\"") {
    return R"({"iss":")" + iss + R"(","aud":)" + aud + R"(,"exp":)" + std::to_string(exp) +
           R"(,"email":"carol@example.test"})";
  }
  const int64_t now_ = absl::ToUnixSeconds(absl::Now());
  static EVP_PKEY* rsa_;
  static EVP_PKEY* ec_;
  static EVP_PKEY* other_;
};
EVP_PKEY* JwtVerifierTest::rsa_ = nullptr;
EVP_PKEY* JwtVerifierTest::ec_ = nullptr;
EVP_PKEY* JwtVerifierTest::other_ = nullptr;

TEST_F(JwtVerifierTest, AcceptsRs256AndEs256FromTheIssuer) {
  auto v = Verifier();
  EXPECT_EQ(*v->Verify(jwt_testing::SignJwt(rsa_, false, "r1", Claims(now_ + 300)), absl::Now()),
            "carol@example.test");
  EXPECT_EQ(*v->Verify(jwt_testing::SignJwt(
                           ec_, true, "e1",
                           Claims(now_ + 300, "https://id.example.test", R"(["other","tern"])")),
                       absl::Now()),
            "carol@example.test");
}

TEST_F(JwtVerifierTest, RefusesForgedExpiredForeignAndConfusedTokens) {
  auto v = Verifier();
  const absl::Time now = absl::Now();
  EXPECT_FALSE(v->Verify(jwt_testing::SignJwt(other_, false, "r1", Claims(now_ + 300)), now).ok());
  EXPECT_FALSE(v->Verify(jwt_testing::SignJwt(rsa_, false, "r1", Claims(now_ - 600)), now).ok());
  EXPECT_FALSE(
      v->Verify(jwt_testing::SignJwt(rsa_, false, "r1", Claims(now_ + 300, "https://evil")), now)
          .ok());
  EXPECT_FALSE(
      v->Verify(jwt_testing::SignJwt(rsa_, false, "r1",
                                     Claims(now_ + 300, "https://id.example.test", "\"x\"")),
                now)
          .ok());
  EXPECT_FALSE(v->Verify(jwt_testing::SignJwt(rsa_, false, "zz", Claims(now_ + 300)), now).ok());
  // An RS256 token claiming the EC key's id: the algorithm must fit the key.
  EXPECT_FALSE(v->Verify(jwt_testing::SignJwt(rsa_, false, "e1", Claims(now_ + 300)), now).ok());
  // alg none, garbage.
  const std::string none = common::Base64UrlEncode(R"({"alg":"none","kid":"r1"})") + "." +
                           common::Base64UrlEncode(Claims(now_ + 300)) + ".";
  EXPECT_FALSE(v->Verify(none, now).ok());
  for (const char* bad : {"", "a.b", "a.b.c", "!!!.###.$$$"})
    EXPECT_FALSE(v->Verify(bad, now).ok());
}

TEST(OAuthBearerTest, ParsesRfc7628ClientResponse) {
  auto m = ParseOAuthBearer(
      "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
      "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->authzid, "user@example.com");
  EXPECT_EQ(m->token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
  EXPECT_FALSE(ParseOAuthBearer("n,,\x01host=x\x01\x01").ok());
  EXPECT_FALSE(ParseOAuthBearer("garbage").ok());
  EXPECT_NE(OAuthErrorChallenge({.issuer = "https://id"}).find("invalid_token"), std::string::npos);
}

}  // namespace
}  // namespace tern::auth
