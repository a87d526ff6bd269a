#pragma once

#include <span>

#include "services/common/pg_pool.h"

namespace tern::metadata {

// The versioned PostgreSQL schema of the cluster, oldest first. tern-metad applies it at
// start (--migrate-on-start) and `ternctl migrate` applies it on demand; a migration, once
// released, is never edited: changes come as a new version.
std::span<const common::Migration> SchemaMigrations();

// The version this build expects: services refuse readiness on an older database.
int RequiredSchemaVersion();

// Readiness check: OK when the database schema is at RequiredSchemaVersion(). With migrate
// set (tern-metad --migrate-on-start), an older schema is migrated first.
absl::Status CheckSchemaCurrent(common::PgPool& pool, bool migrate);

}  // namespace tern::metadata
