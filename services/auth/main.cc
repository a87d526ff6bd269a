// tern-authd: users, password hashes, SASL exchanges, session tokens.
#include <vector>

#include "absl/strings/ascii.h"
#include "services/auth/auth_service.h"
#include "services/auth/authenticator.h"
#include "services/auth/throttle.h"
#include "services/auth/user_store.h"
#include "services/common/credentials.h"
#include "services/common/pg_pool.h"
#include "services/common/redis_check.h"
#include "services/common/redis_client.h"
#include "services/common/service_runtime.h"
#include "services/common/strings.h"
#include "services/common/tls.h"
#include "services/metadata/schema.h"

namespace {

using tern::common::SettingSpec;
using tern::common::SettingType;

std::vector<SettingSpec> Settings() {
  std::vector<SettingSpec> s = tern::common::CommonSettings("0.0.0.0:7001", "0.0.0.0:9101");
  const std::vector<SettingSpec> db =
      tern::common::DatabaseSettings("host:port of Redis (brute-force counters)");
  s.insert(s.end(), db.begin(), db.end());
  const std::vector<SettingSpec> own = {
      {"admin-token-file", "TERN_ADMIN_TOKEN_FILE", "", SettingType::kString,
       "file holding the operator credential for admin RPCs (empty: admin RPCs refused)"},
      {"argon2-time-cost", "TERN_ARGON2_TIME_COST", "3", SettingType::kInt,
       "argon2id passes over memory for new password hashes"},
      {"argon2-memory-kib", "TERN_ARGON2_MEMORY_KIB", "65536", SettingType::kInt,
       "argon2id memory per hash, KiB"},
      {"argon2-parallelism", "TERN_ARGON2_PARALLELISM", "1", SettingType::kInt, "argon2id lanes"},
      {"argon2-concurrency", "TERN_ARGON2_CONCURRENCY", "4", SettingType::kInt,
       "argon2id computations at once (each uses argon2-memory-kib); bounds memory"},
      {"scram-iterations", "TERN_SCRAM_ITERATIONS", "4096", SettingType::kInt,
       "PBKDF2 iterations of stored SCRAM-SHA-256 keys (at least 4096)"},
      {"fold-local-part", "TERN_FOLD_LOCAL_PART", "true", SettingType::kBool,
       "treat the local part of addresses case-insensitively"},
      {"token-key-file", "TERN_TOKEN_KEY_FILE", "", SettingType::kString,
       "key ring signing session and deliver tokens ('<key_id> <hex secret>' per line; "
       "required)"},
      {"service-token-file", "TERN_SERVICE_TOKEN_FILE", "", SettingType::kString,
       "file holding the credential of internal services (tern-lmtpd's recipient lookup)"},
      {"session-ttl", "TERN_SESSION_TTL", "15m", SettingType::kDuration,
       "lifetime of session tokens (front-ends renew them)"},
      {"deliver-ttl", "TERN_DELIVER_TTL", "5m", SettingType::kDuration,
       "lifetime of delivery tokens"},
      {"allow-plaintext", "TERN_ALLOW_PLAINTEXT", "false", SettingType::kBool,
       "accept plaintext passwords without TLS from non-loopback clients"},
      {"detail-separator", "TERN_DETAIL_SEPARATOR", "+", SettingType::kString,
       "subaddress separator in recipient addresses (user+detail@domain)"},
      {"oauth-issuer", "TERN_OAUTH_ISSUER", "", SettingType::kString,
       "OAUTHBEARER: the token issuer (iss) accepted; empty disables OAUTHBEARER"},
      {"oauth-audience", "TERN_OAUTH_AUDIENCE", "", SettingType::kString,
       "OAUTHBEARER: required audience (aud), if set"},
      {"oauth-keys-file", "TERN_OAUTH_KEYS_FILE", "", SettingType::kString,
       "OAUTHBEARER: PEM public keys of the issuer, each after a 'kid: <id>' line"},
      {"oauth-user-claim", "TERN_OAUTH_USER_CLAIM", "email", SettingType::kString,
       "OAUTHBEARER: the claim holding the user's address"},
      {"lockout-after", "TERN_LOCKOUT_AFTER", "10", SettingType::kInt,
       "failed logins per user or client address, within the window, that lock it out"},
      {"lockout-window", "TERN_LOCKOUT_WINDOW", "15m", SettingType::kDuration,
       "how long failures are counted (and a lockout lasts)"},
      {"fail-delay", "TERN_FAIL_DELAY", "250ms", SettingType::kDuration,
       "delay after the first failure; doubles with each further one"},
      {"fail-delay-max", "TERN_FAIL_DELAY_MAX", "5s", SettingType::kDuration,
       "longest delay after a failure"},
  };
  s.insert(s.end(), own.begin(), own.end());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<SettingSpec> settings = Settings();
  return tern::common::RunService(
      "tern-authd", settings, argc, argv, [](tern::common::ServiceRuntime& rt) -> absl::Status {
        const tern::common::Config& cfg = rt.config();
        tern::auth::AuthServiceOptions options;
        if (const std::string& path = cfg.GetString("admin-token-file"); !path.empty()) {
          absl::StatusOr<std::string> token = tern::common::ReadFileToString(path);
          if (!token.ok()) return token.status();
          options.admin_token = std::string(absl::StripAsciiWhitespace(*token));
        }
        tern::auth::SetArgon2Concurrency(static_cast<int>(cfg.GetInt("argon2-concurrency")));
        options.argon2.time_cost = static_cast<uint32_t>(cfg.GetInt("argon2-time-cost"));
        options.argon2.memory_kib = static_cast<uint32_t>(cfg.GetInt("argon2-memory-kib"));
        options.argon2.parallelism = static_cast<uint32_t>(cfg.GetInt("argon2-parallelism"));
        options.scram_iterations = static_cast<uint32_t>(cfg.GetInt("scram-iterations"));
        options.fold_local_part = cfg.GetBool("fold-local-part");
        if (options.scram_iterations < 4096) {
          return absl::InvalidArgumentError("--scram-iterations must be at least 4096");
        }

        absl::StatusOr<tern::common::KeyRing> token_keys =
            tern::common::KeyRing::Load(cfg.GetString("token-key-file"));
        if (!token_keys.ok()) {
          return absl::InvalidArgumentError(
              tern::Cat("--token-key-file: ", token_keys.status().message()));
        }
        absl::StatusOr<std::string> service_token =
            tern::common::ReadSecretFile(cfg.GetString("service-token-file"));
        if (!service_token.ok()) return service_token.status();
        if (cfg.GetString("detail-separator").size() != 1) {
          return absl::InvalidArgumentError("--detail-separator must be one character");
        }
        options.token_keys = *token_keys;
        if (!cfg.GetString("redis-addr").empty()) {
          options.sessions_redis = rt.Own(std::make_unique<tern::common::RedisClient>(
              cfg.GetString("redis-addr"), absl::Seconds(2)));
        }

        auto* pool = rt.Own(std::make_unique<tern::common::PgPool>(tern::common::PgPoolOptions{
            .dsn = cfg.GetString("pg-dsn"), .size = static_cast<int>(cfg.GetInt("pg-pool-size"))}));
        auto* store = rt.Own(std::make_unique<tern::auth::PgUserStore>(*pool));
        auto* throttle =
            rt.Own(std::make_unique<tern::auth::RedisThrottle>(tern::auth::ThrottleOptions{
                .redis_addr = cfg.GetString("redis-addr"),
                .lockout_after = static_cast<int>(cfg.GetInt("lockout-after")),
                .window = cfg.GetDuration("lockout-window"),
                .base_delay = cfg.GetDuration("fail-delay"),
                .max_delay = cfg.GetDuration("fail-delay-max")}));
        const tern::auth::JwtVerifier* oauth = nullptr;
        if (!cfg.GetString("oauth-issuer").empty()) {
          absl::StatusOr<std::string> pem =
              tern::common::ReadFileToString(cfg.GetString("oauth-keys-file"));
          if (!pem.ok()) return pem.status();
          absl::StatusOr<std::unique_ptr<tern::auth::JwtVerifier>> verifier =
              tern::auth::JwtVerifier::Load(*pem,
                                            {.issuer = cfg.GetString("oauth-issuer"),
                                             .audience = cfg.GetString("oauth-audience"),
                                             .user_claim = cfg.GetString("oauth-user-claim")});
          if (!verifier.ok()) return verifier.status();
          oauth = rt.Own(*std::move(verifier));
        }
        auto* authenticator = rt.Own(std::make_unique<tern::auth::Authenticator>(
            *store, *throttle,
            tern::auth::AuthenticatorOptions{
                .token_keys = *token_keys,
                .session_ttl = cfg.GetDuration("session-ttl"),
                .deliver_ttl = cfg.GetDuration("deliver-ttl"),
                .allow_plaintext = cfg.GetBool("allow-plaintext"),
                .fold_local_part = options.fold_local_part,
                .detail_separator = cfg.GetString("detail-separator")[0],
                .scram_iterations = options.scram_iterations,
                .oauth = oauth}));
        auto* callers = rt.Own(std::make_unique<tern::common::CallerAuthenticator>(
            *token_keys, *service_token, options.admin_token));
        auto* service = rt.Own(std::make_unique<tern::auth::AuthServiceImpl>(*store, *authenticator,
                                                                             *callers, options));
        rt.AddService(service, tern::auth::v1::AuthService::service_full_name());

        rt.readiness().AddCheck("postgresql",
                                [pool](absl::Duration timeout) { return pool->Ping(timeout); });
        rt.readiness().AddCheck("schema", [pool](absl::Duration) {
          return tern::metadata::CheckSchemaCurrent(*pool, /*migrate=*/false);
        });
        const std::string redis = cfg.GetString("redis-addr");
        rt.readiness().AddCheck(
            "redis",
            [redis](absl::Duration timeout) { return tern::common::PingRedis(redis, timeout); },
            /*critical=*/false);
        return absl::OkStatus();
      });
}
