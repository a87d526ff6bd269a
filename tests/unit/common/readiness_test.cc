#include "services/common/readiness.h"

#include <gtest/gtest.h>

#include <atomic>

namespace tern::common {
namespace {

TEST(ReadinessTest, ReadyOnlyWhileEveryCriticalCheckPasses) {
  prometheus::Registry registry;
  Readiness readiness(registry);
  std::atomic<bool> db_up{true};
  readiness.AddCheck("db", [&](absl::Duration) {
    return db_up ? absl::OkStatus() : absl::UnavailableError("db down");
  });
  std::vector<bool> changes;
  readiness.OnChange([&](bool ready) { changes.push_back(ready); });
  readiness.RunChecks();
  EXPECT_TRUE(readiness.ready());
  db_up = false;
  readiness.RunChecks();
  EXPECT_FALSE(readiness.ready());
  EXPECT_NE(readiness.Report().find("fail db: db down"), std::string::npos);
  db_up = true;
  readiness.RunChecks();
  EXPECT_TRUE(readiness.ready());
  EXPECT_EQ(changes, (std::vector<bool>{true, false, true}));
}

TEST(ReadinessTest, NonCriticalFailureIsDegradedButReady) {
  prometheus::Registry registry;
  Readiness readiness(registry);
  readiness.AddCheck(
      "redis", [](absl::Duration) { return absl::UnavailableError("refused"); },
      /*critical=*/false);
  readiness.RunChecks();
  EXPECT_TRUE(readiness.ready());
  EXPECT_NE(readiness.Report().find("degraded redis: refused"), std::string::npos);
}

TEST(ReadinessTest, ShuttingDownIsNeverReady) {
  prometheus::Registry registry;
  Readiness readiness(registry);
  readiness.RunChecks();
  EXPECT_TRUE(readiness.ready());
  readiness.SetShuttingDown();
  EXPECT_FALSE(readiness.ready());
  readiness.RunChecks();
  EXPECT_FALSE(readiness.ready());
}

TEST(ReadinessTest, BackgroundCheckerNoticesRecovery) {
  prometheus::Registry registry;
  Readiness readiness(registry);
  std::atomic<bool> up{false};
  readiness.AddCheck("dep", [&](absl::Duration) {
    return up ? absl::OkStatus() : absl::UnavailableError("down");
  });
  readiness.Start(absl::Milliseconds(20), absl::Seconds(1));
  EXPECT_FALSE(readiness.ready());
  up = true;
  for (int i = 0; i < 200 && !readiness.ready(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(readiness.ready());
  readiness.Stop();
}

}  // namespace
}  // namespace tern::common
