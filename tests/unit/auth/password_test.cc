#include "services/auth/password.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <thread>

namespace tern::auth {
namespace {

std::string Base64Encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64Decode(const std::string& text) {
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts padding as data bytes.
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --n;
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

constexpr Argon2Params kCheap{.time_cost = 1, .memory_kib = 1024, .parallelism = 1};

TEST(PasswordTest, Argon2idHashVerifiesOnlyTheRightPassword) {
  auto hash = HashPassword("correct horse", kCheap);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=1024,t=1,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(VerifyPassword("correct horse", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse ", *hash));
  EXPECT_FALSE(VerifyPassword("", *hash));
  EXPECT_FALSE(VerifyPassword("x", "not a hash"));
}

TEST(PasswordTest, Argon2ConcurrencyIsBounded) {
  SetArgon2Concurrency(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([] {
      for (int j = 0; j < 3; ++j)
        EXPECT_TRUE(HashPassword("pw", {.time_cost = 1, .memory_kib = 4096}).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(Argon2MaxConcurrentForTest(), 1);
  EXPECT_LE(Argon2MaxConcurrentForTest(), 2);
  SetArgon2Concurrency(4);
}

TEST(PasswordTest, SaltsDiffer) {
  EXPECT_NE(*HashPassword("same", kCheap), *HashPassword("same", kCheap));
}

TEST(PasswordTest, ScramSha256KeysReproduceTheRfc7677Exchange) {
  // RFC 7677 section 3: user "user", password "pencil". With the stored keys alone the server
  // must produce the RFC's server signature and accept the RFC's client proof.
  const std::string salt = Base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  auto creds = DeriveScramCredentialsWithSalt("pencil", salt, 4096);
  ASSERT_TRUE(creds.ok());
  ASSERT_EQ(creds->stored_key.size(), 32u);
  ASSERT_EQ(creds->server_key.size(), 32u);
  const std::string auth_message =
      "n=user,r=rOprNGfwEbeRWgbNEkqO,"
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  EXPECT_EQ(Base64Encode(Hmac(creds->server_key, auth_message)),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey.
  const std::string proof = Base64Decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  const std::string signature = Hmac(creds->stored_key, auth_message);
  std::string client_key(32, '\0');
  for (size_t i = 0; i < 32; ++i) client_key[i] = static_cast<char>(proof[i] ^ signature[i]);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(), digest);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(digest), sizeof(digest)), creds->stored_key);
}

TEST(PasswordTest, ScramRefusesFewIterations) {
  EXPECT_FALSE(DeriveScramCredentials("pw", 1000).ok());
}

TEST(AddressTest, NormalizesCaseAndRejectsMalformed) {
  EXPECT_EQ(*NormalizeAddress("Demo@Example.TEST", true), "demo@example.test");
  EXPECT_EQ(*NormalizeAddress("Demo@Example.TEST", false), "Demo@example.test");
  EXPECT_FALSE(NormalizeAddress("", true).ok());
  EXPECT_FALSE(NormalizeAddress("nodomain", true).ok());
  EXPECT_FALSE(NormalizeAddress("@example.test", true).ok());
  EXPECT_FALSE(NormalizeAddress("a@", true).ok());
  EXPECT_FALSE(NormalizeAddress("a b@example.test", true).ok());
  EXPECT_FALSE(NormalizeAddress("a@b@example.test", true).ok());
  EXPECT_FALSE(NormalizeAddress("a@example..test", true).ok());
  EXPECT_FALSE(NormalizeAddress(std::string(65, 'a') + "@example.test", true).ok());
}

}  // namespace
}  // namespace tern::auth
