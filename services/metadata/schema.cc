#include "services/metadata/schema.h"

#include "services/common/strings.h"

namespace tern::metadata {
namespace {

// Version 1: users and their credentials (owned by tern-authd). Passwords are kept only as
// an argon2id hash (PHC string) and as SCRAM-SHA-256 keys (RFC 5802 section 3: StoredKey and
// ServerKey with their salt and iteration count), never in a form that can be replayed.
constexpr char kUsers[] = R"sql(
CREATE TABLE users (
  id                  bigserial PRIMARY KEY,
  address             text NOT NULL,
  password_hash       text NOT NULL,
  scram_salt          bytea NOT NULL,
  scram_iterations    integer NOT NULL CHECK (scram_iterations >= 4096),
  scram_stored_key    bytea NOT NULL,
  scram_server_key    bytea NOT NULL,
  enabled             boolean NOT NULL DEFAULT true,
  quota_storage_bytes bigint CHECK (quota_storage_bytes >= 0),
  quota_messages      bigint CHECK (quota_messages >= 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  password_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_address_key ON users (address);
CREATE INDEX users_domain_idx ON users ((split_part(address, '@', 2)), id);
)sql";

constexpr common::Migration kMigrations[] = {
    {1, "users", kUsers},
};

}  // namespace

std::span<const common::Migration> SchemaMigrations() { return kMigrations; }

int RequiredSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

absl::Status CheckSchemaCurrent(common::PgPool& pool, bool migrate) {
  absl::StatusOr<int> version = common::SchemaVersion(pool);
  if (!version.ok()) return version.status();
  if (*version < RequiredSchemaVersion() && migrate) {
    version = common::ApplyMigrations(pool, SchemaMigrations());
    if (!version.ok()) return version.status();
  }
  if (*version < RequiredSchemaVersion()) {
    return absl::FailedPreconditionError(Cat("schema version ", *version, ", need ",
                                             RequiredSchemaVersion(), " (run ternctl migrate)"));
  }
  return absl::OkStatus();
}

}  // namespace tern::metadata
