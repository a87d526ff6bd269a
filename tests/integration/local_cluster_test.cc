// `make run` end to end: deploy/local/run.sh brings up PostgreSQL, Redis and every service
// with /healthz answering 200 and the demo user created, and stops everything on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "tests/support/testing.h"

namespace tern {
namespace {

using testing::HttpGet;
using testing::Process;
using testing::WaitFor;

TEST(LocalClusterTest, RunStartsEverythingAndStopsCleanly) {
  testing::TempDir dir;
  // Ports away from the defaults and below the ephemeral range (32768+).
  const int offset = 10000 + (getpid() % 200) * 10;
  for (int round = 0; round < 2; ++round) {  // the second run reuses ./var
    Process run("/bin/bash", {testing::SourceDir() + "/deploy/local/run.sh", testing::BinaryDir()},
                {{"TERN_VAR", dir.path() + "/var"}, {"TERN_PORT_OFFSET", std::to_string(offset)}},
                dir.path() + "/run" + std::to_string(round) + ".log");
    ASSERT_TRUE(WaitFor(
        [&] { return run.Log().find("tern-local: ready") != std::string::npos || !run.Running(); },
        std::chrono::seconds(120)))
        << run.Log();
    ASSERT_TRUE(run.Running()) << run.Log();
    for (int http : {9101, 9102, 9103, 9104, 9105, 9106}) {
      EXPECT_EQ(HttpGet(http + offset, "/healthz").status, 200) << http << run.Log();
      EXPECT_EQ(HttpGet(http + offset, "/readyz").status, 200) << http;
    }
    EXPECT_NE(run.Log().find("demo@example.test"), std::string::npos);
    const std::string ctl = "TERN_AUTHD_ADDR=127.0.0.1:" + std::to_string(7001 + offset) +
                            " TERN_ADMIN_TOKEN_FILE=" + dir.path() +
                            "/var/secrets/admin.token TERN_GRPC_TLS_CERT=" + dir.path() +
                            "/var/tls/tern.pem TERN_GRPC_TLS_KEY=" + dir.path() +
                            "/var/tls/tern.key TERN_GRPC_TLS_CA=" + dir.path() +
                            "/var/tls/ca.pem " + testing::BinaryDir() +
                            "/services/ctl/ternctl user show demo@example.test >/dev/null";
    EXPECT_EQ(testing::Shell(ctl), 0);
    // Import an mbox of corpus messages into the demo user's INBOX, through authd, blobd and
    // metad; a second import (here, the second run) stores nothing twice.
    const std::string v = dir.path() + "/var";
    const std::string env = "TERN_AUTHD_ADDR=127.0.0.1:" + std::to_string(7001 + offset) +
                            " TERN_METAD_ADDR=127.0.0.1:" + std::to_string(7002 + offset) +
                            " TERN_BLOBD_ADDR=127.0.0.1:" + std::to_string(7003 + offset) +
                            " TERN_ADMIN_TOKEN_FILE=" + v +
                            "/secrets/admin.token TERN_TOKEN_KEY_FILE=" + v + "/secrets/token.key" +
                            " TERN_GRPC_TLS_CERT=" + v + "/tls/tern.pem TERN_GRPC_TLS_KEY=" + v +
                            "/tls/tern.key TERN_GRPC_TLS_CA=" + v + "/tls/ca.pem ";
    const std::string mbox = dir.path() + "/import.mbox";
    ASSERT_EQ(testing::Shell("for m in 01 02 25; do echo 'From importer@example.test Mon Jan  1 "
                             "10:00:00 2024'; sed 's/^From />From /' " +
                             testing::SourceDir() +
                             "/../shared/testdata/mime-corpus/msg_$m.txt; "
                             "echo; done > " +
                             mbox),
              0);
    const std::string ternctl = testing::BinaryDir() + "/services/ctl/ternctl";
    EXPECT_EQ(
        testing::Shell(env + ternctl + " import-mbox demo@example.test " + mbox + " >/dev/null"),
        0);
    const std::string list = env + ternctl + " mailbox list demo@example.test";
    EXPECT_EQ(testing::Shell(list + R"( | grep -qP '^INBOX\tmessages=3\t')"), 0);
    EXPECT_EQ(testing::Shell(list + R"( | grep -qP '^Sent\t.*\\SENT')"), 0);
    EXPECT_EQ(testing::Shell(env + ternctl +
                             " quota set demo@example.test --quota-messages=100 | grep -q "
                             "'MESSAGE=3/100'"),
              0);
    run.Signal(SIGTERM);
    const auto code = run.Wait(std::chrono::seconds(60));
    ASSERT_TRUE(code.has_value()) << run.Log();
    EXPECT_EQ(*code, 0) << run.Log();
    EXPECT_NE(run.Log().find("tern-local: stopped"), std::string::npos);
    for (int http : {9101, 9102, 9103, 9104, 9105, 9106})
      EXPECT_EQ(HttpGet(http + offset, "/healthz").status, 0);
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/var/pg/data/postmaster.pid"));
  }
}

}  // namespace
}  // namespace tern
