// Storage benchmark (issue: "appends per second through metad+blobd, and select of a
// 100,000-message mailbox, printed with the machine's core count"). Starts its own
// PostgreSQL, Redis, tern-metad and tern-blobd like the integration tests, then measures.
// Not a test: it prints figures. Run with `make bench`.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <pqxx/pqxx>
#include <thread>

#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "services/ingest/ingest.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"
#include "tests/support/testing.h"

namespace tern {
namespace {

using Clock = std::chrono::steady_clock;
namespace md = metadata::v1;

const std::string kTokenSecret(32, '\x66');

std::string Token(uint64_t user) {
  auth::v1::TokenClaims c;
  c.set_user_id(user);
  c.set_scope(auth::v1::TOKEN_SCOPE_SESSION);
  c.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(2)));
  return common::SignSessionToken(c, common::KeyRing::Single("t1", kTokenSecret));
}

int Run(int argc, char** argv) {
  const int workers = argc > 1 ? std::atoi(argv[1]) : 8;
  const int appends_per_worker = argc > 2 ? std::atoi(argv[2]) : 250;
  const int select_messages = argc > 3 ? std::atoi(argv[3]) : 100000;
  testing::TempDir dir;
  const std::string d = dir.path();
  testing::PgServer pg(/*durable=*/true);  // fsync on, as in production
  pg.Start();
  testing::RedisServer redis;
  redis.Start();
  testing::WriteFile(d + "/token.key", "t1 " + std::string(64, '6') + "\n");
  testing::WriteFile(d + "/blob.key", "b1 " + std::string(64, '7') + "\n");
  std::filesystem::create_directories(d + "/blobs");
  const int metad_port = testing::FreePort(), metad_http = testing::FreePort();
  const int blobd_port = testing::FreePort(), blobd_http = testing::FreePort();
  testing::Process metad(
      testing::BinaryDir() + "/services/metadata/tern-metad",
      {"--grpc-listen=127.0.0.1:" + std::to_string(metad_port),
       "--http-listen=127.0.0.1:" + std::to_string(metad_http),
       "--token-key-file=" + d + "/token.key", "--blob-key-file=" + d + "/blob.key",
       "--grpc-max-threads=32", "--pg-pool-size=16", "--log-level=warn"},
      {{"TERN_PG_DSN", pg.dsn()}, {"TERN_REDIS_ADDR", redis.addr()}}, d + "/metad.log");
  testing::Process blobd(
      testing::BinaryDir() + "/services/blob/tern-blobd",
      {"--grpc-listen=127.0.0.1:" + std::to_string(blobd_port),
       "--http-listen=127.0.0.1:" + std::to_string(blobd_http), "--blob-dir=" + d + "/blobs",
       "--token-key-file=" + d + "/token.key", "--blob-key-file=" + d + "/blob.key",
       "--grpc-max-threads=32", "--log-level=warn"},
      {}, d + "/blobd.log");
  for (int port : {metad_http, blobd_http}) {
    if (!testing::WaitFor([port] { return testing::HttpGet(port, "/readyz").status == 200; },
                          std::chrono::seconds(30))) {
      std::fprintf(stderr, "services did not become ready\n%s\n%s\n", metad.Log().c_str(),
                   blobd.Log().c_str());
      return 1;
    }
  }
  uint64_t user = 0;
  {
    pqxx::connection conn(pg.dsn());
    pqxx::work txn(conn);
    user = txn.exec1(
                  "INSERT INTO users (address, password_hash, scram_salt, scram_iterations,"
                  " scram_stored_key, scram_server_key) VALUES ('bench@example.test', 'x',"
                  " 'x', 4096, 'x', 'x') RETURNING id")[0]
               .as<uint64_t>();
    txn.commit();
  }
  auto meta = md::MetadataService::NewStub(
      *common::MakeChannel("127.0.0.1:" + std::to_string(metad_port), {}));
  auto blob = blob::v1::BlobService::NewStub(
      *common::MakeChannel("127.0.0.1:" + std::to_string(blobd_port), {}));
  const std::string token = Token(user);
  const common::CallMeta call_meta{.session_token = token};
  {
    md::CreateMailboxRequest req;
    req.set_name("Bench");
    md::Mailbox m;
    common::CallWithRetry({}, call_meta, [&](grpc::ClientContext& ctx) {
      return meta->CreateMailbox(&ctx, req, &m);
    });
  }

  // 1. Appends: blobd.Put (fsync) + metad.AppendMessages, one message per append.
  std::string message =
      "From: bench@example.test\r\nTo: bench@example.test\r\nSubject: benchmark\r\n"
      "Date: Mon, 23 Nov 2026 05:00:00 +0000\r\n\r\n";
  while (message.size() < 1024) message += "The quick brown fox jumps over the lazy dog.\r\n";
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < appends_per_worker; ++i) {
        const std::string bytes =
            message + "worker " + std::to_string(w) + " message " + std::to_string(i) + "\r\n";
        blob::v1::PutResponse put;
        grpc::Status s =
            common::CallWithRetry({.idempotent = true}, call_meta, [&](grpc::ClientContext& ctx) {
              auto writer = blob->Put(&ctx, &put);
              blob::v1::PutRequest header;
              header.mutable_header();
              writer->Write(header);
              blob::v1::PutRequest data;
              data.set_data(bytes);
              writer->Write(data);
              writer->WritesDone();
              return writer->Finish();
            });
        md::AppendMessagesRequest req;
        req.set_mailbox("Bench");
        req.set_idempotency_key("bench-" + std::to_string(w) + "-" + std::to_string(i));
        md::AppendItem* item = req.add_items();
        item->set_blob_id(put.blob_id());
        item->set_size(put.size());
        item->set_put_receipt(put.put_receipt());
        *item->mutable_parsed() = ingest::Ingest(bytes);
        md::AppendMessagesResponse resp;
        if (s.ok()) {
          s = common::CallWithRetry({.idempotent = true}, call_meta, [&](grpc::ClientContext& ctx) {
            return meta->AppendMessages(&ctx, req, &resp);
          });
        }
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double append_secs = std::chrono::duration<double>(Clock::now() - start).count();
  const int appended = workers * appends_per_worker - failures;

  // 2. SELECT of a large mailbox: rows inserted in bulk, then the whole index streamed.
  {
    pqxx::connection conn(pg.dsn());
    pqxx::work txn(conn);
    const int64_t mailbox = txn.exec_params1(
                                   "INSERT INTO mailboxes (user_id, name, uidnext, highest_modseq) "
                                   "VALUES ($1, 'Big', $2 + 1,"
                                   " $2 + 1) RETURNING id",
                                   static_cast<int64_t>(user), select_messages)[0]
                                .as<int64_t>();
    txn.exec_params(
        "INSERT INTO messages (mailbox_id, uid, modseq, system_flags, blob_id, size, internal_date)"
        " SELECT $1, g, g, CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END, repeat('a', 64), 2048, now()"
        " FROM generate_series(1, $2) g",
        mailbox, select_messages);
    txn.commit();
  }
  std::vector<double> select_ms;
  size_t index_bytes = 0;
  uint32_t exists = 0;
  for (int run = 0; run < 5; ++run) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(common::kSessionTokenKey, token);
    md::SelectMailboxRequest req;
    req.set_name("Big");
    req.set_read_only(true);
    const auto t0 = Clock::now();
    auto reader = meta->SelectMailbox(&ctx, req);
    md::SelectChunk chunk;
    index_bytes = 0;
    while (reader->Read(&chunk)) {
      if (chunk.has_header()) exists = chunk.header().exists();
      index_bytes += chunk.ByteSizeLong();
    }
    if (!reader->Finish().ok()) return 1;
    select_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(select_ms.begin(), select_ms.end());

  std::printf("tern storage benchmark on %u cores\n", std::thread::hardware_concurrency());
  std::printf(
      "appends through blobd + metad, both fsync: %d messages of ~1 KiB in %.2f s with %d "
      "clients = %.0f appends/s (%d failed)\n",
      appended, append_secs, workers, appended / append_secs, failures.load());
  std::printf(
      "select of a %u-message mailbox: median %.1f ms (min %.1f, max %.1f over 5), "
      "index %.2f MB = %.1f bytes/message\n",
      exists, select_ms[2], select_ms.front(), select_ms.back(), index_bytes / 1e6,
      static_cast<double>(index_bytes) / std::max<uint32_t>(1, exists));
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tern

int main(int argc, char** argv) { return tern::Run(argc, argv); }
