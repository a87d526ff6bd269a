#include "services/auth/exchange_state.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "services/common/strings.h"

namespace tern::auth {
namespace {

constexpr char kKdfLabel[] = "tern-sasl-exchange-v1";
constexpr size_t kNonce = 12;
constexpr size_t kTag = 16;
constexpr size_t kMaxSealed = 16 << 10;

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

void PutString(std::string& out, std::string_view s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof(n));
  out.append(s);
}

bool GetString(std::string_view& in, std::string& out) {
  uint32_t n = 0;
  if (in.size() < sizeof(n)) return false;
  std::memcpy(&n, in.data(), sizeof(n));
  in.remove_prefix(sizeof(n));
  if (in.size() < n) return false;
  out = std::string(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

std::string Serialize(const ExchangeState& s) {
  std::string out;
  PutString(out, s.mechanism);
  PutString(out, s.session_id);
  PutString(out, std::to_string(absl::ToUnixSeconds(s.started)));
  PutString(out, std::to_string(s.step));
  for (const std::string& v : s.values) PutString(out, v);
  return out;
}

std::optional<ExchangeState> Parse(std::string_view in) {
  ExchangeState s;
  std::string started, step;
  if (!GetString(in, s.mechanism) || !GetString(in, s.session_id) || !GetString(in, started) ||
      !GetString(in, step)) {
    return std::nullopt;
  }
  s.started = absl::FromUnixSeconds(std::atoll(started.c_str()));
  s.step = std::atoi(step.c_str());
  while (!in.empty()) {
    std::string v;
    if (!GetString(in, v)) return std::nullopt;
    s.values.push_back(std::move(v));
  }
  return s;
}

std::string DeriveKey(const std::string& secret) { return common::HmacSha256(secret, kKdfLabel); }

}  // namespace

std::string SealExchangeState(const ExchangeState& state, const common::KeyRing& keys) {
  const std::string& key_id = keys.signing_key_id();
  const std::string key = DeriveKey(*keys.Find(key_id));
  const std::string plain = Serialize(state);
  unsigned char nonce[kNonce];
  RAND_bytes(nonce, sizeof(nonce));
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ctx(EVP_CIPHER_CTX_new());
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()), nonce);
  int len = 0;
  // The key id is authenticated too.
  EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(key_id.data()),
                    static_cast<int>(key_id.size()));
  std::string cipher(plain.size(), '\0');
  EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &len,
                    reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx.get(), nullptr, &len);
  unsigned char tag[kTag];
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, tag);
  std::string out;
  out.push_back(static_cast<char>(key_id.size()));
  out += key_id;
  out.append(reinterpret_cast<char*>(nonce), kNonce);
  out += cipher;
  out.append(reinterpret_cast<char*>(tag), kTag);
  return out;
}

absl::StatusOr<ExchangeState> OpenExchangeState(std::string_view sealed,
                                                const common::KeyRing& keys) {
  const auto bad = [] { return absl::InvalidArgumentError("exchange_state does not open"); };
  if (sealed.empty() || sealed.size() > kMaxSealed) return bad();
  const size_t id_len = static_cast<unsigned char>(sealed[0]);
  if (sealed.size() < 1 + id_len + kNonce + kTag) return bad();
  const std::string_view key_id = sealed.substr(1, id_len);
  const std::string* secret = keys.Find(key_id);
  if (secret == nullptr) return bad();
  const std::string key = DeriveKey(*secret);
  const std::string_view nonce = sealed.substr(1 + id_len, kNonce);
  const std::string_view cipher =
      sealed.substr(1 + id_len + kNonce, sealed.size() - 1 - id_len - kNonce - kTag);
  std::string tag(sealed.substr(sealed.size() - kTag));
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ctx(EVP_CIPHER_CTX_new());
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()),
                     reinterpret_cast<const unsigned char*>(nonce.data()));
  int len = 0;
  EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(key_id.data()),
                    static_cast<int>(key_id.size()));
  std::string plain(cipher.size(), '\0');
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                    reinterpret_cast<const unsigned char*>(cipher.data()),
                    static_cast<int>(cipher.size()));
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data());
  if (EVP_DecryptFinal_ex(ctx.get(), nullptr, &len) != 1) return bad();
  std::optional<ExchangeState> state = Parse(plain);
  if (!state) return bad();
  return *std::move(state);
}

}  // namespace tern::auth
