// tern-metad: mailboxes, messages, flags, UID/MODSEQ counters, change log, search.
#include <vector>

#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "services/common/log.h"
#include "services/common/pg_pool.h"
#include "services/common/redis_check.h"
#include "services/common/service_runtime.h"
#include "services/common/strings.h"
#include "services/metadata/blob_loader.h"
#include "services/metadata/metadata_service.h"
#include "services/metadata/schema.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  std::vector<SettingSpec> s = tern::common::CommonSettings("0.0.0.0:7002", "0.0.0.0:9102");
  const std::vector<SettingSpec> db =
      tern::common::DatabaseSettings("host:port of Redis (change notifications)");
  s.insert(s.end(), db.begin(), db.end());
  const std::vector<SettingSpec> own = {
      {"migrate-on-start", "TERN_MIGRATE_ON_START", "true", SettingType::kBool,
       "apply pending schema migrations at start (else: ternctl migrate)"},
      {"token-key-file", "TERN_TOKEN_KEY_FILE", "", SettingType::kString,
       "key ring verifying session and delivery tokens (required)"},
      {"blob-key-file", "TERN_BLOB_KEY_FILE", "", SettingType::kString,
       "key ring shared with blobd: verifies put receipts, signs blob grants (required)"},
      {"admin-token-file", "TERN_ADMIN_TOKEN_FILE", "", SettingType::kString,
       "file holding the operator credential (SetQuota)"},
      {"service-token-file", "TERN_SERVICE_TOKEN_FILE", "", SettingType::kString,
       "file holding the credential of internal services (blob GC)"},
      {"gc-min-expunged-window", "TERN_GC_MIN_EXPUNGED_WINDOW", "24h", SettingType::kDuration,
       "ListBlobReferences refuses a shorter include_expunged_within"},
      {"blobd-addr", "TERN_BLOBD_ADDR", "127.0.0.1:7003", SettingType::kString,
       "host:port of tern-blobd, read for SEARCH BODY/TEXT (with the service token)"},
      {"append-limit", "TERN_APPEND_LIMIT", "67108864", SettingType::kInt,
       "largest message APPEND accepts, octets (APPENDLIMIT, RFC 7889)"},
  };
  s.insert(s.end(), own.begin(), own.end());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> settings = Settings();
  return tern::common::RunService(
      "tern-metad", settings, argc, argv, [](tern::common::ServiceRuntime& rt) -> absl::Status {
        const tern::common::Config& cfg = rt.config();
        auto* pool = rt.Own(std::make_unique<tern::common::PgPool>(tern::common::PgPoolOptions{
            .dsn = cfg.GetString("pg-dsn"), .size = static_cast<int>(cfg.GetInt("pg-pool-size"))}));
        if (cfg.GetBool("migrate-on-start")) {
          // A database that is not up yet is not fatal: readiness reports the schema check
          // until it is, and the migration is retried by each check.
          absl::StatusOr<int> version =
              tern::common::ApplyMigrations(*pool, tern::metadata::SchemaMigrations());
          if (!version.ok()) {
            tern::common::LogWarn("migration at start failed; will retry",
                                  {{"error", std::string(version.status().message())}});
          }
        }
        absl::StatusOr<tern::common::KeyRing> token_keys =
            tern::common::KeyRing::Load(cfg.GetString("token-key-file"));
        if (!token_keys.ok()) {
          return absl::InvalidArgumentError(
              tern::Cat("--token-key-file: ", token_keys.status().message()));
        }
        absl::StatusOr<tern::common::KeyRing> blob_keys =
            tern::common::KeyRing::Load(cfg.GetString("blob-key-file"));
        if (!blob_keys.ok()) {
          return absl::InvalidArgumentError(
              tern::Cat("--blob-key-file: ", blob_keys.status().message()));
        }
        absl::StatusOr<std::string> admin_token =
            tern::common::ReadSecretFile(cfg.GetString("admin-token-file"));
        if (!admin_token.ok()) return admin_token.status();
        absl::StatusOr<std::string> service_token =
            tern::common::ReadSecretFile(cfg.GetString("service-token-file"));
        if (!service_token.ok()) return service_token.status();
        auto* store = rt.Own(std::make_unique<tern::metadata::MetadataStore>(
            *pool, tern::metadata::StoreOptions{
                       .blob_keys = *blob_keys,
                       .append_limit = static_cast<uint64_t>(cfg.GetInt("append-limit"))}));
        auto* notifier = rt.Own(
            std::make_unique<tern::metadata::Notifier>(cfg.GetString("redis-addr"), rt.metrics()));
        auto* callers = rt.Own(std::make_unique<tern::common::CallerAuthenticator>(
            *token_keys, *service_token, *admin_token));
        const tern::common::TlsFiles tls{cfg.GetString("grpc-tls-cert"),
                                         cfg.GetString("grpc-tls-key"),
                                         cfg.GetString("grpc-tls-ca")};
        absl::StatusOr<std::shared_ptr<grpc::Channel>> blob_channel =
            tern::common::MakeChannel(cfg.GetString("blobd-addr"), tls);
        if (!blob_channel.ok()) return blob_channel.status();
        auto* blob_stub = rt.Own(tern::blob::v1::BlobService::NewStub(*blob_channel));
        tern::metadata::RawLoader loader;
        if (!service_token->empty()) {
          loader = tern::metadata::BlobdLoader(*blob_stub, *service_token);
        }
        auto* service = rt.Own(std::make_unique<tern::metadata::MetadataServiceImpl>(
            *store, *notifier, *callers, cfg.GetDuration("gc-min-expunged-window"), loader));
        rt.AddService(service, tern::metadata::v1::MetadataService::service_full_name());

        rt.readiness().AddCheck("postgresql",
                                [pool](absl::Duration timeout) { return pool->Ping(timeout); });
        const bool migrate = cfg.GetBool("migrate-on-start");
        rt.readiness().AddCheck("schema", [pool, migrate](absl::Duration) {
          return tern::metadata::CheckSchemaCurrent(*pool, migrate);
        });
        const std::string redis = cfg.GetString("redis-addr");
        rt.readiness().AddCheck(
            "redis",
            [redis](absl::Duration timeout) { return tern::common::PingRedis(redis, timeout); },
            /*critical=*/false);
        return absl::OkStatus();
      });
}
