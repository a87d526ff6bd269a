#include "services/common/credentials.h"

#include <gtest/gtest.h>

namespace tern::common {
namespace {

const std::string kSecret(32, 'k');

auth::v1::TokenClaims Claims(uint64_t user, absl::Time expires) {
  auth::v1::TokenClaims c;
  c.set_user_id(user);
  c.set_scope(auth::v1::TOKEN_SCOPE_SESSION);
  c.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(expires));
  return c;
}

TEST(KeyRingTest, ParsesKeysFirstOneSigns) {
  auto ring = KeyRing::Parse(
      "# rotation\n"
      "k2 " +
      std::string(64, 'a') +
      "\n\n"
      "k1\t" +
      std::string(64, 'B') + "\n");
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->signing_key_id(), "k2");
  ASSERT_NE(ring->Find("k1"), nullptr);
  EXPECT_EQ(*ring->Find("k1"), std::string(32, '\xbb'));
  EXPECT_EQ(ring->Find("k3"), nullptr);
}

TEST(KeyRingTest, RejectsShortOddDuplicateOrMissingKeys) {
  EXPECT_FALSE(KeyRing::Parse("").ok());
  EXPECT_FALSE(KeyRing::Parse("k1 abcd\n").ok());                   // too short
  EXPECT_FALSE(KeyRing::Parse("k1 " + std::string(63, 'a')).ok());  // odd hex
  EXPECT_FALSE(KeyRing::Parse("k1 " + std::string(64, 'g')).ok());  // not hex
  EXPECT_FALSE(KeyRing::Parse("k1\n").ok());                        // no secret
  const std::string line = "k1 " + std::string(64, 'a') + "\n";
  EXPECT_FALSE(KeyRing::Parse(line + line).ok());
}

TEST(SessionTokenTest, RoundTripsAndBindsTheClaims) {
  const KeyRing ring = KeyRing::Single("k1", kSecret);
  const absl::Time now = absl::Now();
  const std::string token = SignSessionToken(Claims(42, now + absl::Hours(1)), ring);
  EXPECT_EQ(token.rfind("tern1.", 0), 0u);
  auto claims = VerifySessionToken(token, ring, now);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->user_id(), 42u);
  EXPECT_EQ(claims->key_id(), "k1");
}

TEST(SessionTokenTest, RefusesTamperedForeignExpiredAndMalformedTokens) {
  const KeyRing ring = KeyRing::Single("k1", kSecret);
  const absl::Time now = absl::Now();
  const std::string token = SignSessionToken(Claims(42, now + absl::Hours(1)), ring);
  // Another user's claims under the same signature.
  const std::string other = SignSessionToken(Claims(43, now + absl::Hours(1)), ring);
  const std::string spliced = other.substr(0, other.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_EQ(VerifySessionToken(spliced, ring, now).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Signed with a different secret under the same key id.
  const std::string forged = SignSessionToken(Claims(42, now + absl::Hours(1)),
                                              KeyRing::Single("k1", std::string(32, 'x')));
  EXPECT_FALSE(VerifySessionToken(forged, ring, now).ok());
  // Unknown key id.
  EXPECT_FALSE(VerifySessionToken(token, KeyRing::Single("k9", kSecret), now).ok());
  // Expired beyond the skew; within the skew it still passes.
  const std::string old = SignSessionToken(Claims(42, now - absl::Minutes(5)), ring);
  EXPECT_FALSE(VerifySessionToken(old, ring, now).ok());
  const std::string just = SignSessionToken(Claims(42, now - absl::Seconds(5)), ring);
  EXPECT_TRUE(VerifySessionToken(just, ring, now).ok());
  for (const char* bad :
       {"", "tern1.", "tern1..", "tern2.abc.def", "tern1.!!!.???", "tern1.YWJj.YWJj"}) {
    EXPECT_FALSE(VerifySessionToken(bad, ring, now).ok()) << bad;
  }
  EXPECT_FALSE(VerifySessionToken(std::string(10000, 'a'), ring, now).ok());
}

TEST(Base64UrlTest, RoundTripsWithoutPadding) {
  const std::string bytes = std::string("\xfb\xff\x00\x01", 4);
  const std::string text = Base64UrlEncode(bytes);
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(Base64UrlDecode(text), bytes);
  EXPECT_FALSE(Base64UrlDecode("ab==").has_value());
}

TEST(CapabilityTest, SignatureDependsOnDomainClaimsAndKey) {
  const std::string a = CapabilitySignature(kSecret, "tern-blob-grant-v1", "claims");
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, CapabilitySignature(kSecret, "tern-put-receipt-v1", "claims"));
  EXPECT_NE(a, CapabilitySignature(kSecret, "tern-blob-grant-v1", "claimz"));
  EXPECT_NE(a, CapabilitySignature(std::string(32, 'j'), "tern-blob-grant-v1", "claims"));
  EXPECT_EQ(a, CapabilitySignature(kSecret, "tern-blob-grant-v1", "claims"));
}

}  // namespace
}  // namespace tern::common
