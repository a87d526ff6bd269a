#include "services/auth/scram.h"

#include <gtest/gtest.h>

#include "services/auth/exchange_state.h"
#include "services/auth/throttle.h"

namespace tern::auth {
namespace {

// RFC 7677 section 3, end to end from the server's side.
TEST(ScramTest, ReproducesTheRfc7677Exchange) {
  auto first = ParseClientFirst("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->username, "user");
  EXPECT_EQ(first->gs2_header, "n,,");
  auto creds =
      DeriveScramCredentialsWithSalt("pencil", *Base64Decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  ASSERT_TRUE(creds.ok());
  const std::string server_first = ServerFirst(*first, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", *creds);
  EXPECT_EQ(server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
            "i=4096");
  auto server_final = VerifyClientFinal(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      *first, server_first, *creds);
  ASSERT_TRUE(server_final.ok()) << server_final.status();
  EXPECT_EQ(*server_final, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST(ScramTest, WrongPasswordIsPermissionDeniedAndTamperingIsMalformed) {
  auto first = ParseClientFirst("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto creds =
      DeriveScramCredentialsWithSalt("not pencil", *Base64Decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  const std::string server_first = ServerFirst(*first, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", *creds);
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  EXPECT_EQ(
      VerifyClientFinal("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," + proof,
                        *first, server_first, *creds)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
  // Another nonce, another channel binding, no proof.
  EXPECT_EQ(
      VerifyClientFinal("c=biws,r=rOprNGfwEbeRWgbNEkqOxxx," + proof, *first, server_first, *creds)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      VerifyClientFinal("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," + proof,
                        *first, server_first, *creds)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(VerifyClientFinal("c=biws", *first, server_first, *creds).ok());
}

TEST(ScramTest, ParsesSaslNamesAndRefusesWhatIsNotOffered) {
  auto first = ParseClientFirst("y,a=al=2Cice,n=b=3Dob,r=abc");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->authzid, "al,ice");
  EXPECT_EQ(first->username, "b=ob");
  EXPECT_EQ(first->client_first_bare, "n=b=3Dob,r=abc");
  EXPECT_FALSE(ParseClientFirst("p=tls-unique,,n=user,r=abc").ok());  // channel binding
  EXPECT_FALSE(ParseClientFirst("n,,m=ext,n=user,r=abc").ok());
  EXPECT_FALSE(ParseClientFirst("n,,n=us=er,r=abc").ok());
  EXPECT_FALSE(ParseClientFirst("n,,n=user").ok());
  EXPECT_FALSE(ParseClientFirst("n,,n=user,r=a,b").ok() &&
               ParseClientFirst("n,,n=user,r=a,b")->nonce != "a");
  EXPECT_FALSE(ParseClientFirst("").ok());
  EXPECT_FALSE(ParseClientFirst("x,,n=user,r=abc").ok());
}

TEST(ExchangeStateTest, RoundTripsAndRefusesTamperingOrOtherKeys) {
  const common::KeyRing keys = common::KeyRing::Single("k1", std::string(32, 's'));
  ExchangeState state{"SCRAM-SHA-256",
                      "sess-1",
                      absl::FromUnixSeconds(1700000000),
                      1,
                      {"n,,n=a,r=b", std::string("\0binary", 7), ""}};
  const std::string sealed = SealExchangeState(state, keys);
  auto opened = OpenExchangeState(sealed, keys);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->mechanism, state.mechanism);
  EXPECT_EQ(opened->session_id, state.session_id);
  EXPECT_EQ(opened->started, state.started);
  EXPECT_EQ(opened->step, 1);
  EXPECT_EQ(opened->values, state.values);
  EXPECT_NE(SealExchangeState(state, keys), sealed);  // fresh nonce each time
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(OpenExchangeState(bad, keys).ok()) << i;
  }
  EXPECT_FALSE(OpenExchangeState(sealed, common::KeyRing::Single("k1", std::string(32, 't'))).ok());
  EXPECT_FALSE(OpenExchangeState("", keys).ok());
  EXPECT_FALSE(OpenExchangeState(sealed.substr(0, 20), keys).ok());
}

TEST(ThrottleTest, ExtractsTheClientIp) {
  EXPECT_EQ(IpOf("192.0.2.1:1234"), "192.0.2.1");
  EXPECT_EQ(IpOf("[2001:db8::1]:993"), "2001:db8::1");
  EXPECT_EQ(IpOf("2001:db8::1"), "2001:db8::1");
  EXPECT_TRUE(IsLoopback("127.0.0.1:5555"));
  EXPECT_TRUE(IsLoopback("[::1]:5555"));
  EXPECT_FALSE(IsLoopback("192.0.2.1:5555"));
  EXPECT_FALSE(IsLoopback("1127.0.0.1:5"));
}

}  // namespace
}  // namespace tern::auth
