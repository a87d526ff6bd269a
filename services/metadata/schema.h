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

}  // namespace tern::metadata
