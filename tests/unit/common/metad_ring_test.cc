// Users hashed over the metad replicas (services/common/frontend_wiring.h, MetadRing).

#include <gtest/gtest.h>

#include <map>

#include "services/common/frontend_wiring.h"

namespace tern::common {
namespace {

MetadRing Ring(const std::vector<std::string>& addresses) {
  std::vector<MetadRing::Endpoint> endpoints;
  for (const std::string& a : addresses) endpoints.push_back({a, nullptr, nullptr});
  return MetadRing(std::move(endpoints));
}

TEST(MetadRing, OneReplicaTakesEveryone) {
  const MetadRing ring = Ring({"metad-0:7002"});
  for (uint64_t user = 1; user < 100; ++user) EXPECT_EQ(ring.AddressFor(user), "metad-0:7002");
}

TEST(MetadRing, EveryFrontEndPicksTheSameReplica) {
  // Another front-end lists the replicas in another order: the choice must not change.
  const MetadRing a = Ring({"10.0.0.1:7002", "10.0.0.2:7002", "10.0.0.3:7002"});
  const MetadRing b = Ring({"10.0.0.3:7002", "10.0.0.1:7002", "10.0.0.2:7002"});
  for (uint64_t user = 1; user < 2000; ++user) EXPECT_EQ(a.AddressFor(user), b.AddressFor(user));
}

TEST(MetadRing, UsersSpreadEvenly) {
  const MetadRing ring = Ring({"10.0.0.1:7002", "10.0.0.2:7002", "10.0.0.3:7002"});
  std::map<std::string, int> count;
  for (uint64_t user = 1; user <= 30000; ++user) ++count[ring.AddressFor(user)];
  ASSERT_EQ(count.size(), 3u);
  for (const auto& [address, n] : count) {
    EXPECT_GT(n, 9000) << address;
    EXPECT_LT(n, 11000) << address;
  }
}

TEST(MetadRing, RemovingAReplicaMovesOnlyItsUsers) {
  const MetadRing three = Ring({"10.0.0.1:7002", "10.0.0.2:7002", "10.0.0.3:7002"});
  const MetadRing two = Ring({"10.0.0.1:7002", "10.0.0.2:7002"});
  int moved = 0;
  for (uint64_t user = 1; user <= 9000; ++user) {
    const std::string before = three.AddressFor(user);
    const std::string after = two.AddressFor(user);
    if (before != "10.0.0.3:7002") {
      EXPECT_EQ(before, after) << user;  // a warm cache stays warm
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 2000);
  EXPECT_LT(moved, 4000);
}

}  // namespace
}  // namespace tern::common
