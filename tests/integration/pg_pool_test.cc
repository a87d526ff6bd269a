// PgPool and the schema migrations against a real PostgreSQL.
#include "services/common/pg_pool.h"

#include <gtest/gtest.h>

#include <future>
#include <pqxx/pqxx>

#include "services/metadata/schema.h"
#include "tests/integration/cluster_env.h"

namespace tern::common {
namespace {

using tern::testing::Env;

TEST(PgPoolTest, PingsAndMigratesOnceEvenWhenReplicasRace) {
  PgPool pool({.dsn = Env().pg().dsn(), .size = 4});
  ASSERT_TRUE(pool.Ping(absl::Seconds(2)).ok());
  std::vector<std::future<absl::StatusOr<int>>> racers;
  for (int i = 0; i < 4; ++i) {
    racers.push_back(std::async(std::launch::async, [&] {
      PgPool own({.dsn = Env().pg().dsn(), .size = 1});
      return ApplyMigrations(own, metadata::SchemaMigrations());
    }));
  }
  for (auto& r : racers) {
    auto version = r.get();
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_EQ(*version, metadata::RequiredSchemaVersion());
  }
  auto version = SchemaVersion(pool);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, metadata::RequiredSchemaVersion());
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok());
  pqxx::read_transaction txn(**lease);
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM tern_schema_migrations")[0].as<int>(),
            static_cast<int>(metadata::SchemaMigrations().size()));
}

TEST(PgPoolTest, NeverOpensMoreThanItsSize) {
  PgPool pool({.dsn = Env().pg().dsn(), .size = 2, .acquire_timeout = absl::Milliseconds(200)});
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  const auto start = std::chrono::steady_clock::now();
  auto c = pool.Acquire();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  { auto released = std::move(*a); }
  EXPECT_TRUE(pool.Acquire().ok());
}

TEST(PgPoolTest, BadDsnIsUnavailableNotACrash) {
  PgPool pool({.dsn = "host=127.0.0.1 port=1 dbname=x user=x", .size = 1});
  EXPECT_EQ(pool.Ping(absl::Seconds(2)).code(), absl::StatusCode::kUnavailable);
}

TEST(PgPoolTest, DsnGetsAConnectTimeout) {
  EXPECT_EQ(DsnWithConnectTimeout("host=a", 3), "host=a connect_timeout=3");
  EXPECT_EQ(DsnWithConnectTimeout("postgresql://a/b", 3), "postgresql://a/b?connect_timeout=3");
  EXPECT_EQ(DsnWithConnectTimeout("postgresql://a/b?x=1", 3),
            "postgresql://a/b?x=1&connect_timeout=3");
  EXPECT_EQ(DsnWithConnectTimeout("host=a connect_timeout=9", 3), "host=a connect_timeout=9");
}

TEST(PgPoolTest, RecoversAfterPostgresRestarts) {
  PgPool pool({.dsn = Env().pg().dsn(), .size = 2});
  ASSERT_TRUE(pool.Ping(absl::Seconds(2)).ok());
  Env().pg().Stop();
  EXPECT_EQ(pool.Ping(absl::Seconds(1)).code(), absl::StatusCode::kUnavailable);
  Env().pg().Start();
  EXPECT_TRUE(pool.Ping(absl::Seconds(2)).ok());
}

}  // namespace
}  // namespace tern::common
