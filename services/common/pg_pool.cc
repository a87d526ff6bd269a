#include "services/common/pg_pool.h"

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/time/clock.h"
#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

// Arbitrary, fixed: the advisory lock key that serializes schema migrations.
constexpr int64_t kMigrationLockKey = 0x7465726e6d6967;  // "ternmig"

constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS tern_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

absl::Status FromPqxx(const std::exception& e, std::string_view what) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(Cat(what, ": ", e.what()));
  }
  return absl::InternalError(Cat(what, ": ", e.what()));
}

}  // namespace

std::vector<SettingSpec> DatabaseSettings(std::string_view redis_help) {
  return {
      {"pg-dsn", "TERN_PG_DSN", "host=127.0.0.1 port=5432 dbname=tern user=tern",
       SettingType::kString, "libpq connection string or URI of the cluster database", true},
      {"pg-pool-size", "TERN_PG_POOL_SIZE", "8", SettingType::kInt,
       "PostgreSQL connections at most"},
      {"redis-addr", "TERN_REDIS_ADDR", "127.0.0.1:6379", SettingType::kString, redis_help},
  };
}

std::string DsnWithConnectTimeout(std::string_view dsn, int seconds) {
  if (dsn.find("connect_timeout") != std::string_view::npos) return std::string(dsn);
  if (dsn.starts_with("postgres://") || dsn.starts_with("postgresql://")) {
    return Cat(dsn, dsn.find('?') != std::string_view::npos ? "&" : "?",
               "connect_timeout=", seconds);
  }
  return Cat(dsn, dsn.empty() ? "" : " ", "connect_timeout=", seconds);
}

PgPool::Lease::Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), broken_(other.broken_) {
  other.pool_ = nullptr;
}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Return(std::move(conn_), broken_);
}

PgPool::PgPool(PgPoolOptions options) : options_(std::move(options)) {
  options_.size = std::max(1, options_.size);
}

PgPool::~PgPool() = default;

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Connect(absl::Duration timeout) {
  const int secs = std::max<int>(
      1, static_cast<int>(absl::ToInt64Seconds(std::min(timeout, options_.connect_timeout))));
  try {
    auto conn = std::make_unique<pqxx::connection>(DsnWithConnectTimeout(options_.dsn, secs));
    pqxx::nontransaction txn(*conn);
    txn.exec(
        Cat("SET statement_timeout = ", absl::ToInt64Milliseconds(options_.statement_timeout)));
    return conn;
  } catch (const std::exception& e) {
    return absl::UnavailableError(Cat("postgresql connect: ", e.what()));
  }
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + std::min(timeout, options_.acquire_timeout);
  std::unique_lock lock(mu_);
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    if (open_ < options_.size) {
      ++open_;
      lock.unlock();
      absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = Connect(deadline - absl::Now());
      if (!conn.ok()) {
        lock.lock();
        --open_;
        cv_.notify_one();
        return conn.status();
      }
      return Lease(this, *std::move(conn));
    }
    if (cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        idle_.empty() && open_ >= options_.size) {
      return absl::UnavailableError("postgresql pool: every connection is busy");
    }
  }
}

void PgPool::Return(std::unique_ptr<pqxx::connection> conn, bool broken) {
  bool usable = !broken;
  if (usable) {
    try {
      usable = conn->is_open();
    } catch (...) {
      usable = false;
    }
  }
  if (!usable) conn.reset();  // closes outside the lock
  std::lock_guard lock(mu_);
  if (usable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

absl::Status PgPool::Ping(absl::Duration timeout) {
  absl::StatusOr<Lease> lease = Acquire(timeout);
  if (!lease.ok()) return lease.status();
  try {
    pqxx::nontransaction txn(**lease);
    txn.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    lease->MarkBroken();
    return FromPqxx(e, "postgresql ping");
  }
}

absl::StatusOr<int> SchemaVersion(PgPool& pool) {
  absl::StatusOr<PgPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::read_transaction txn(**lease);
    const pqxx::row exists = txn.exec1("SELECT to_regclass('tern_schema_migrations') IS NOT NULL");
    if (!exists[0].as<bool>()) return 0;
    const pqxx::row row = txn.exec1("SELECT COALESCE(MAX(version), 0) FROM tern_schema_migrations");
    return row[0].as<int>();
  } catch (const pqxx::broken_connection& e) {
    lease->MarkBroken();
    return FromPqxx(e, "schema version");
  } catch (const std::exception& e) {
    return FromPqxx(e, "schema version");
  }
}

absl::StatusOr<int> ApplyMigrations(PgPool& pool, std::span<const Migration> migrations) {
  absl::StatusOr<PgPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  std::vector<const Migration*> sorted;
  for (const Migration& m : migrations) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(),
            [](const Migration* a, const Migration* b) { return a->version < b->version; });
  try {
    pqxx::work txn(**lease);
    txn.exec(Cat("SELECT pg_advisory_xact_lock(", kMigrationLockKey, ")"));
    txn.exec(std::string(kCreateMigrationsTable));
    int current =
        txn.exec1("SELECT COALESCE(MAX(version), 0) FROM tern_schema_migrations")[0].as<int>();
    int applied = 0;
    for (const Migration* m : sorted) {
      if (m->version <= current) continue;
      txn.exec(std::string(m->sql));
      txn.exec_params("INSERT INTO tern_schema_migrations (version, name) VALUES ($1, $2)",
                      m->version, std::string(m->name));
      LogInfo("migration applied", {{"version", m->version}, {"name", std::string(m->name)}});
      current = m->version;
      ++applied;
    }
    txn.commit();
    if (applied == 0) LogInfo("schema up to date", {{"version", current}});
    return current;
  } catch (const pqxx::broken_connection& e) {
    lease->MarkBroken();
    return FromPqxx(e, "migrate");
  } catch (const std::exception& e) {
    return FromPqxx(e, "migrate");
  }
}

}  // namespace tern::common
