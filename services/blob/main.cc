// tern-blobd: raw RFC 5322 message bytes, content-addressed by SHA-256.
#include <vector>

#include "services/blob/blob_service.h"
#include "services/blob/fs_blob_backend.h"
#include "services/common/credentials.h"
#include "services/common/service_runtime.h"
#include "services/common/strings.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  std::vector<SettingSpec> s = tern::common::CommonSettings("0.0.0.0:7003", "0.0.0.0:9103");
  const std::vector<SettingSpec> own = {
      {"blob-dir", "TERN_BLOB_DIR", "/var/lib/tern/blobs", SettingType::kString,
       "directory holding the message blobs"},
      {"max-blob-size", "TERN_MAX_BLOB_SIZE", "67108864", SettingType::kInt,
       "largest blob accepted, octets"},
      {"token-key-file", "TERN_TOKEN_KEY_FILE", "", SettingType::kString,
       "key ring verifying session tokens ('<key_id> <hex secret>' per line)"},
      {"blob-key-file", "TERN_BLOB_KEY_FILE", "", SettingType::kString,
       "key ring shared with metad: signs put receipts, verifies blob grants"},
      {"service-token-file", "TERN_SERVICE_TOKEN_FILE", "", SettingType::kString,
       "file holding the credential of internal services (GC, metad)"},
      {"admin-token-file", "TERN_ADMIN_TOKEN_FILE", "", SettingType::kString,
       "file holding the operator credential"},
      {"put-receipt-ttl", "TERN_PUT_RECEIPT_TTL", "1h", SettingType::kDuration,
       "lifetime of put receipts; must stay below the GC grace period"},
  };
  s.insert(s.end(), own.begin(), own.end());
  return s;
}

absl::StatusOr<tern::common::KeyRing> LoadRing(const std::string& path) {
  if (path.empty()) return tern::common::KeyRing();
  return tern::common::KeyRing::Load(path);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> settings = Settings();
  return tern::common::RunService(
      "tern-blobd", settings, argc, argv, [](tern::common::ServiceRuntime& rt) -> absl::Status {
        const tern::common::Config& cfg = rt.config();
        absl::StatusOr<std::unique_ptr<tern::blob::FsBlobBackend>> backend =
            tern::blob::FsBlobBackend::Open(
                {.dir = cfg.GetString("blob-dir"),
                 .max_blob_size = static_cast<uint64_t>(cfg.GetInt("max-blob-size"))});
        if (!backend.ok()) return backend.status();
        absl::StatusOr<tern::common::KeyRing> session_keys =
            LoadRing(cfg.GetString("token-key-file"));
        if (!session_keys.ok()) return session_keys.status();
        absl::StatusOr<tern::common::KeyRing> blob_keys = LoadRing(cfg.GetString("blob-key-file"));
        if (!blob_keys.ok()) return blob_keys.status();
        absl::StatusOr<std::string> service_token =
            tern::common::ReadSecretFile(cfg.GetString("service-token-file"));
        if (!service_token.ok()) return service_token.status();
        absl::StatusOr<std::string> admin_token =
            tern::common::ReadSecretFile(cfg.GetString("admin-token-file"));
        if (!admin_token.ok()) return admin_token.status();

        auto* store = rt.Own(*std::move(backend));
        auto* auth = rt.Own(std::make_unique<tern::common::CallerAuthenticator>(
            *std::move(session_keys), *std::move(service_token), *std::move(admin_token)));
        auto* service = rt.Own(std::make_unique<tern::blob::BlobServiceImpl>(
            *store, *auth,
            tern::blob::BlobServiceOptions{.capability_keys = *std::move(blob_keys),
                                           .put_receipt_ttl = cfg.GetDuration("put-receipt-ttl")}));
        rt.AddService(service, tern::blob::v1::BlobService::service_full_name());
        rt.readiness().AddCheck("blob-dir", [store](absl::Duration) { return store->Check(); });
        return absl::OkStatus();
      });
}
