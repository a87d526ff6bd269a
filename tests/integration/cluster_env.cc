#include "tests/integration/cluster_env.h"

namespace tern::testing {

ClusterEnv& Env() {
  static ClusterEnv* env =
      static_cast<ClusterEnv*>(::testing::AddGlobalTestEnvironment(new ClusterEnv));
  return *env;
}

namespace {
// Registers the environment before main() runs the tests.
[[maybe_unused]] const ClusterEnv& kRegistered = Env();
}  // namespace

}  // namespace tern::testing
