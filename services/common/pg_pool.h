#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/config.h"

namespace tern::common {

struct PgPoolOptions {
  std::string dsn;  // libpq connection string or URI
  int size = 8;     // connections at most; Acquire waits for one beyond that
  absl::Duration acquire_timeout = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration statement_timeout = absl::Seconds(10);
};

// A fixed-size pool of PostgreSQL connections (DESIGN.md: each worker borrows one; the
// number of connections is bounded, never grows with load). Connections open lazily with a
// connect timeout, carry a server-side statement_timeout, and a connection that broke is
// dropped on return instead of being reused. libpqxx exceptions end in this layer's callers
// (the repositories), which translate them to absl::Status.
class PgPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_.get(); }
    // The connection failed: close it instead of returning it to the pool.
    void MarkBroken() { broken_ = true; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn);
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  explicit PgPool(PgPoolOptions options);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // A connection within min(timeout, acquire_timeout): Unavailable when PostgreSQL cannot be
  // reached or every connection stays busy.
  absl::StatusOr<Lease> Acquire(absl::Duration timeout = absl::InfiniteDuration());
  // Readiness check: SELECT 1 within the timeout.
  absl::Status Ping(absl::Duration timeout);

  const PgPoolOptions& options() const { return options_; }

 private:
  void Return(std::unique_ptr<pqxx::connection> conn, bool broken);
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(absl::Duration timeout);

  PgPoolOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + being opened
};

// The settings of a service that keeps state in PostgreSQL and uses Redis: --pg-dsn,
// --pg-pool-size, --redis-addr. redis_help says what the service uses Redis for.
std::vector<SettingSpec> DatabaseSettings(std::string_view redis_help);

// dsn with connect_timeout added, for both "key=value" strings and postgresql:// URIs.
std::string DsnWithConnectTimeout(std::string_view dsn, int seconds);

// One versioned schema change. Versions are applied in ascending order, each exactly once.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Applies every migration newer than the database's version in one transaction, under an
// advisory lock so concurrent replicas starting together apply each migration once.
// Returns the schema version afterwards.
absl::StatusOr<int> ApplyMigrations(PgPool& pool, std::span<const Migration> migrations);
// The highest applied migration (0 when none).
absl::StatusOr<int> SchemaVersion(PgPool& pool);

}  // namespace tern::common
