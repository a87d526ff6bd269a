#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "tests/support/testing.h"

namespace tern::testing {

// One PostgreSQL and one Redis per integration test binary, started before the first test
// and stopped after the last, even when tests fail.
class ClusterEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    pg_ = std::make_unique<PgServer>();
    pg_->Start();
    redis_ = std::make_unique<RedisServer>();
    redis_->Start();
  }
  void TearDown() override {
    redis_.reset();
    pg_.reset();
  }
  PgServer& pg() { return *pg_; }
  RedisServer& redis() { return *redis_; }

 private:
  std::unique_ptr<PgServer> pg_;
  std::unique_ptr<RedisServer> redis_;
};

ClusterEnv& Env();

}  // namespace tern::testing
