// The real tern-metad and tern-blobd binaries with PostgreSQL and Redis: mailboxes, the
// append -> select -> fetch -> blob read path, flags and MODSEQ, expunge and VANISHED,
// copy and move, idempotency, quota, concurrent appends, change notices, and isolation
// between users.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <future>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "services/ctl/blob_gc.h"
#include "services/ingest/ingest.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"
#include "tests/integration/cluster_env.h"

namespace tern::metadata {
namespace {

using testing::Env;
using testing::FreePort;
using testing::HttpGet;
using testing::Process;
using testing::TempDir;
using testing::WaitFor;

const std::string kTokenSecret(32, '\x44');
const std::string kBlobSecret(32, '\x55');
constexpr char kAdmin[] = "metad-test-admin";
constexpr char kService[] = "metad-test-service";

struct Server {
  int grpc_port = FreePort();
  int http_port = FreePort();
  std::unique_ptr<Process> process;
  std::shared_ptr<grpc::Channel> channel;
};

// Decodes the compact index of a SelectMailbox stream into (uid, modseq, system flags).
struct IndexEntry {
  uint32_t uid;
  uint64_t modseq;
  uint32_t flags;
};

uint64_t ReadVarint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; pos < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[pos++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) break;
  }
  return v;
}

class MetadataServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    testing::WriteFile(d + "/token.key", "t1 " + std::string(64, '4') + "\n");
    testing::WriteFile(d + "/blob.key", "b1 " + std::string(64, '5') + "\n");
    testing::WriteFile(d + "/admin.token", kAdmin);
    testing::WriteFile(d + "/service.token", kService);
    std::filesystem::create_directories(d + "/blobs");
    metad_ = new Server();
    blobd_ = new Server();
    StartServers();
    pqxx::connection conn(Env().pg().dsn());
    pqxx::work txn(conn);
    for (const char* address : {"alice@meta.test", "bob@meta.test", "quota@meta.test"}) {
      const pqxx::row r = txn.exec_params1(
          "INSERT INTO users (address, password_hash, scram_salt, scram_iterations,"
          " scram_stored_key, scram_server_key) VALUES ($1, 'x', 'x', 4096, 'x', 'x')"
          " RETURNING id",
          std::string(address));
      ids_.push_back(r[0].as<uint64_t>());
    }
    txn.commit();
  }
  static void StartServers() {
    const std::string d = dir_->path();
    metad_->process = std::make_unique<Process>(
        testing::BinaryDir() + "/services/metadata/tern-metad",
        std::vector<std::string>{
            "--grpc-listen=127.0.0.1:" + std::to_string(metad_->grpc_port),
            "--http-listen=127.0.0.1:" + std::to_string(metad_->http_port),
            "--token-key-file=" + d + "/token.key", "--blob-key-file=" + d + "/blob.key",
            "--admin-token-file=" + d + "/admin.token",
            "--service-token-file=" + d + "/service.token", "--gc-min-expunged-window=1s",
            "--grpc-max-threads=32", "--pg-pool-size=16",
            "--blobd-addr=127.0.0.1:" + std::to_string(blobd_->grpc_port)},
        std::map<std::string, std::string>{{"TERN_PG_DSN", Env().pg().dsn()},
                                           {"TERN_REDIS_ADDR", Env().redis().addr()}},
        d + "/metad.log");
    blobd_->process = std::make_unique<Process>(
        testing::BinaryDir() + "/services/blob/tern-blobd",
        std::vector<std::string>{
            "--grpc-listen=127.0.0.1:" + std::to_string(blobd_->grpc_port),
            "--http-listen=127.0.0.1:" + std::to_string(blobd_->http_port),
            "--blob-dir=" + d + "/blobs", "--token-key-file=" + d + "/token.key",
            "--blob-key-file=" + d + "/blob.key", "--service-token-file=" + d + "/service.token"},
        std::map<std::string, std::string>{}, d + "/blobd.log");
    for (Server* s : {metad_, blobd_}) {
      ASSERT_TRUE(WaitFor([s] { return HttpGet(s->http_port, "/readyz").status == 200; },
                          std::chrono::seconds(30)))
          << s->process->Log();
      // A fresh channel: one that saw the old process die may still hold its dead socket.
      s->channel = *common::MakeChannel("127.0.0.1:" + std::to_string(s->grpc_port), {});
    }
    delete meta_;
    delete blob_;
    meta_ = v1::MetadataService::NewStub(metad_->channel).release();
    blob_ = blob::v1::BlobService::NewStub(blobd_->channel).release();
  }

  static void TearDownTestSuite() {
    delete meta_;
    delete blob_;
    delete metad_;
    delete blobd_;
    delete dir_;
  }

  static uint64_t Alice() { return ids_[0]; }
  static uint64_t Bob() { return ids_[1]; }

  static std::string Token(uint64_t user) {
    auth::v1::TokenClaims c;
    c.set_user_id(user);
    c.set_scope(auth::v1::TOKEN_SCOPE_SESSION);
    c.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    return common::SignSessionToken(c, common::KeyRing::Single("t1", kTokenSecret));
  }

  struct Ctx {
    explicit Ctx(uint64_t user) {
      ctx.AddMetadata(common::kSessionTokenKey, Token(user));
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
      // After a restart the channel may still be backing off; wait instead of failing fast.
      if (restarted_) ctx.set_wait_for_ready(true);
    }
    std::string Reason() const {
      auto it = ctx.GetServerTrailingMetadata().find("tern-error-reason");
      return it == ctx.GetServerTrailingMetadata().end()
                 ? ""
                 : std::string(it->second.data(), it->second.size());
    }
    grpc::ClientContext ctx;
  };

  // Stores bytes in blobd and appends them to mailbox for user.
  static grpc::Status Append(uint64_t user, const std::string& mailbox,
                             const std::vector<std::string>& messages, const std::string& key,
                             v1::AppendMessagesResponse* resp, std::string* reason = nullptr,
                             uint32_t flags = 0) {
    v1::AppendMessagesRequest req;
    req.set_mailbox(mailbox);
    req.set_idempotency_key(key);
    for (const std::string& bytes : messages) {
      Ctx put_ctx(user);
      blob::v1::PutResponse put;
      auto writer = blob_->Put(&put_ctx.ctx, &put);
      blob::v1::PutRequest header;
      header.mutable_header();
      writer->Write(header);
      blob::v1::PutRequest data;
      data.set_data(bytes);
      writer->Write(data);
      writer->WritesDone();
      if (grpc::Status s = writer->Finish(); !s.ok()) return s;
      v1::AppendItem* item = req.add_items();
      item->set_blob_id(put.blob_id());
      item->set_size(put.size());
      item->set_put_receipt(put.put_receipt());
      item->mutable_flags()->set_system(flags);
      *item->mutable_parsed() = ingest::Ingest(bytes);
    }
    Ctx ctx(user);
    grpc::Status s = meta_->AppendMessages(&ctx.ctx, req, resp);
    if (reason != nullptr) *reason = ctx.Reason();
    return s;
  }

  static std::vector<v1::SelectChunk> Select(uint64_t user, const std::string& name, bool read_only,
                                             grpc::Status* status,
                                             std::optional<v1::QresyncParameters> qresync = {}) {
    Ctx ctx(user);
    v1::SelectMailboxRequest req;
    req.set_name(name);
    req.set_read_only(read_only);
    req.set_max_chunk_messages(3);
    if (qresync) *req.mutable_qresync() = *qresync;
    auto reader = meta_->SelectMailbox(&ctx.ctx, req);
    std::vector<v1::SelectChunk> chunks;
    v1::SelectChunk chunk;
    while (reader->Read(&chunk)) chunks.push_back(chunk);
    *status = reader->Finish();
    return chunks;
  }

  static std::vector<IndexEntry> Decode(const std::vector<v1::SelectChunk>& chunks) {
    std::vector<IndexEntry> out;
    std::vector<uint32_t> dictionary;
    for (size_t c = 1; c < chunks.size(); ++c) {
      const v1::IndexChunk& ix = chunks[c].index();
      for (const v1::FlagSet& fs : ix.flag_set_dictionary_additions()) {
        dictionary.push_back(fs.system_flags());
      }
      size_t pu = 0, pm = 0, pf = 0;
      uint32_t uid = 0;
      uint64_t modseq = 0;
      for (uint32_t i = 0; i < ix.count(); ++i) {
        uid += static_cast<uint32_t>(ReadVarint(ix.uid_deltas(), pu));
        const uint64_t z = ReadVarint(ix.modseq_zigzag_deltas(), pm);
        modseq +=
            static_cast<uint64_t>(static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1));
        out.push_back({uid, modseq, dictionary[ReadVarint(ix.flag_set_index(), pf)]});
      }
    }
    return out;
  }

  static grpc::Status Create(uint64_t user, const std::string& name,
                             std::string* reason = nullptr) {
    Ctx ctx(user);
    v1::CreateMailboxRequest req;
    req.set_name(name);
    v1::Mailbox m;
    grpc::Status s = meta_->CreateMailbox(&ctx.ctx, req, &m);
    if (reason != nullptr) *reason = ctx.Reason();
    return s;
  }

  static std::vector<std::string> ListNames(uint64_t user, const std::string& pattern,
                                            std::map<std::string, std::set<int>>* attrs = nullptr) {
    Ctx ctx(user);
    v1::ListMailboxesRequest req;
    req.add_patterns(pattern);
    v1::ListMailboxesResponse resp;
    EXPECT_TRUE(meta_->ListMailboxes(&ctx.ctx, req, &resp).ok());
    std::vector<std::string> names;
    for (const auto& m : resp.mailboxes()) {
      names.push_back(m.name());
      if (attrs != nullptr) (*attrs)[m.name()] = {m.attributes().begin(), m.attributes().end()};
    }
    return names;
  }

  static v1::SelectHeader Header(uint64_t user, const std::string& name) {
    grpc::Status s;
    auto chunks = Select(user, name, true, &s);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return chunks.empty() ? v1::SelectHeader() : chunks[0].header();
  }

  static TempDir* dir_;
  static Server* metad_;
  static Server* blobd_;
  static v1::MetadataService::Stub* meta_;
  static blob::v1::BlobService::Stub* blob_;
  static std::vector<uint64_t> ids_;
  static inline bool restarted_ = false;
};
TempDir* MetadataServiceTest::dir_ = nullptr;
Server* MetadataServiceTest::metad_ = nullptr;
Server* MetadataServiceTest::blobd_ = nullptr;
v1::MetadataService::Stub* MetadataServiceTest::meta_ = nullptr;
blob::v1::BlobService::Stub* MetadataServiceTest::blob_ = nullptr;
std::vector<uint64_t> MetadataServiceTest::ids_;

TEST_F(MetadataServiceTest, MailboxHierarchyFollowsRfc3501) {
  // Created on first use: INBOX and the default folders, with their special-use attributes.
  EXPECT_EQ(ListNames(Alice(), "*"),
            (std::vector<std::string>{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}));
  {
    Ctx ctx(Alice());
    v1::ListMailboxesRequest req;
    req.add_patterns("*");
    req.mutable_selection()->set_special_use(true);
    v1::ListMailboxesResponse resp;
    ASSERT_TRUE(meta_->ListMailboxes(&ctx.ctx, req, &resp).ok());
    ASSERT_EQ(resp.mailboxes_size(), 5);
    EXPECT_EQ(resp.mailboxes(3).name(), "Sent");
    EXPECT_EQ(resp.mailboxes(3).special_use(0), v1::SPECIAL_USE_SENT);
  }
  ASSERT_TRUE(Create(Alice(), "Work/Projects/Tern").ok());  // superiors too
  std::string reason;
  EXPECT_EQ(Create(Alice(), "work/projects/tern").error_code(),
            grpc::StatusCode::OK);  // case-sensitive
  EXPECT_EQ(Create(Alice(), "Work").error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Create(Alice(), "inbox", &reason).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(reason, "ERROR_REASON_ALREADYEXISTS");
  EXPECT_EQ(Create(Alice(), "bad*name").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Create(Alice(), "a//b").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::map<std::string, std::set<int>> attrs;
  EXPECT_EQ(ListNames(Alice(), "Work/%", &attrs), std::vector<std::string>{"Work/Projects"});
  EXPECT_TRUE(attrs["Work/Projects"].contains(v1::MAILBOX_ATTRIBUTE_HAS_CHILDREN));
  EXPECT_EQ(ListNames(Alice(), "Work*").size(), 3u);
  // DELETE of a mailbox with inferiors leaves it \Noselect (RFC 3501 6.3.4).
  {
    Ctx ctx(Alice());
    v1::DeleteMailboxRequest del;
    del.set_name("Work");
    v1::DeleteMailboxResponse r;
    ASSERT_TRUE(meta_->DeleteMailbox(&ctx.ctx, del, &r).ok());
  }
  ListNames(Alice(), "Work", &attrs);
  EXPECT_TRUE(attrs["Work"].contains(v1::MAILBOX_ATTRIBUTE_NOSELECT));
  // RENAME moves inferiors and keeps UIDVALIDITY.
  const uint32_t before = Header(Alice(), "Work/Projects/Tern").uidvalidity();
  {
    Ctx ctx(Alice());
    v1::RenameMailboxRequest ren;
    ren.set_old_name("Work/Projects");
    ren.set_new_name("Archive/2026");
    v1::Mailbox m;
    ASSERT_TRUE(meta_->RenameMailbox(&ctx.ctx, ren, &m).ok());
  }
  EXPECT_EQ(Header(Alice(), "Archive/2026/Tern").uidvalidity(), before);
  {
    Ctx ctx(Alice());
    v1::DeleteMailboxRequest del;
    del.set_name("INBOX");
    v1::DeleteMailboxResponse r;
    EXPECT_EQ(meta_->DeleteMailbox(&ctx.ctx, del, &r).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ctx.Reason(), "ERROR_REASON_CANNOT");
  }
  // Re-creating a deleted name gives a greater UIDVALIDITY (RFC 3501 2.3.1.1).
  ASSERT_TRUE(Create(Alice(), "Temp").ok());
  const uint32_t first = Header(Alice(), "Temp").uidvalidity();
  {
    Ctx ctx(Alice());
    v1::DeleteMailboxRequest del;
    del.set_name("Temp");
    v1::DeleteMailboxResponse r;
    ASSERT_TRUE(meta_->DeleteMailbox(&ctx.ctx, del, &r).ok());
  }
  ASSERT_TRUE(Create(Alice(), "Temp").ok());
  EXPECT_GT(Header(Alice(), "Temp").uidvalidity(), first);
}

TEST_F(MetadataServiceTest, SubscriptionsStatusQuotaRootAndRenameInbox) {
  const uint64_t user = Bob();
  // Any name can be subscribed; LSUB-style listing shows it \NonExistent.
  for (const char* name : {"Lists/Tern", "Sent"}) {
    Ctx ctx(user);
    v1::SubscribeRequest req;
    req.set_name(name);
    v1::SubscribeResponse resp;
    ASSERT_TRUE(meta_->Subscribe(&ctx.ctx, req, &resp).ok());
  }
  {
    Ctx ctx(user);
    v1::ListMailboxesRequest req;
    req.add_patterns("*");
    req.mutable_selection()->set_subscribed(true);
    v1::ListMailboxesResponse resp;
    ASSERT_TRUE(meta_->ListMailboxes(&ctx.ctx, req, &resp).ok());
    ASSERT_EQ(resp.mailboxes_size(), 2);
    EXPECT_EQ(resp.mailboxes(0).name(), "Lists/Tern");
    const auto& attrs = resp.mailboxes(0).attributes();
    EXPECT_NE(std::find(attrs.begin(), attrs.end(), v1::MAILBOX_ATTRIBUTE_NONEXISTENT),
              attrs.end());
    EXPECT_NE(std::find(attrs.begin(), attrs.end(), v1::MAILBOX_ATTRIBUTE_SUBSCRIBED), attrs.end());
  }
  {
    Ctx ctx(user);
    v1::UnsubscribeRequest req;
    req.set_name("Lists/Tern");
    v1::UnsubscribeResponse resp;
    ASSERT_TRUE(meta_->Unsubscribe(&ctx.ctx, req, &resp).ok());
  }
  // STATUS counts what is in the mailbox.
  v1::AppendMessagesResponse app;
  ASSERT_TRUE(Append(user, "INBOX", {"s1", "s22"}, "bob-status", &app, nullptr,
                     v1::SYSTEM_FLAG_SEEN | v1::SYSTEM_FLAG_DELETED)
                  .ok());
  ASSERT_TRUE(Append(user, "INBOX", {"s333"}, "bob-status-2", &app).ok());
  {
    Ctx ctx(user);
    v1::GetStatusRequest req;
    req.set_name("inbox");
    for (auto item : {v1::STATUS_ITEM_MESSAGES, v1::STATUS_ITEM_UNSEEN, v1::STATUS_ITEM_SIZE,
                      v1::STATUS_ITEM_DELETED, v1::STATUS_ITEM_UIDNEXT, v1::STATUS_ITEM_RECENT}) {
      req.add_items(item);
    }
    v1::MailboxStatus st;
    ASSERT_TRUE(meta_->GetStatus(&ctx.ctx, req, &st).ok());
    EXPECT_EQ(st.messages(), 3u);
    EXPECT_EQ(st.unseen(), 1u);
    EXPECT_EQ(st.deleted(), 2u);
    EXPECT_EQ(st.size(), 9u);
    EXPECT_EQ(st.recent(), 3u);
    EXPECT_EQ(st.uidnext(), app.uids().ranges(0).last() + 1);
    EXPECT_FALSE(st.has_highest_modseq());  // only what was asked
  }
  {
    Ctx ctx(user);
    v1::GetQuotaRootRequest req;
    req.set_mailbox("INBOX");
    v1::GetQuotaRootResponse resp;
    ASSERT_TRUE(meta_->GetQuotaRoot(&ctx.ctx, req, &resp).ok());
    ASSERT_EQ(resp.roots_size(), 1);
    EXPECT_EQ(resp.roots(0), "");
  }
  // RENAME INBOX moves its messages to the new mailbox and leaves INBOX empty (RFC 3501
  // 6.3.5).
  {
    Ctx ctx(user);
    v1::RenameMailboxRequest req;
    req.set_old_name("INBOX");
    req.set_new_name("Old Inbox");
    v1::Mailbox m;
    ASSERT_TRUE(meta_->RenameMailbox(&ctx.ctx, req, &m).ok());
  }
  EXPECT_EQ(Header(user, "INBOX").exists(), 0u);
  EXPECT_EQ(Header(user, "Old Inbox").exists(), 3u);
}

TEST_F(MetadataServiceTest, AppendSelectFetchAndReadTheBlobBack) {
  v1::AppendMessagesResponse app;
  const std::vector<std::string> bodies = {"Subject: one\r\n\r\nfirst\r\n",
                                           "Subject: two\r\n\r\nsecond\r\n"};
  ASSERT_TRUE(Append(Alice(), "INBOX", bodies, "append-1", &app).ok());
  ASSERT_EQ(app.uids().ranges_size(), 1);
  const uint32_t first = app.uids().ranges(0).first();
  EXPECT_EQ(app.uids().ranges(0).last(), first + 1);

  grpc::Status s;
  auto chunks = Select(Alice(), "inbox", false, &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const v1::SelectHeader& h = chunks[0].header();
  EXPECT_EQ(h.name(), "INBOX");
  EXPECT_EQ(h.uidvalidity(), app.uidvalidity());
  EXPECT_EQ(h.exists(), 2u);
  EXPECT_EQ(h.recent(), 2u);
  EXPECT_EQ(h.uidnext(), first + 2);
  auto index = Decode(chunks);
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0].uid, first);
  EXPECT_EQ(index[1].uid, first + 1);
  EXPECT_EQ(index[1].modseq, app.highest_modseq());
  EXPECT_TRUE(index[0].flags & v1::SYSTEM_FLAG_RECENT);
  // \Recent belongs to the session that claimed it.
  auto again = Select(Alice(), "INBOX", false, &s);
  EXPECT_EQ(again[0].header().recent(), 0u);

  Ctx ctx(Alice());
  v1::FetchMessagesRequest fetch;
  fetch.set_mailbox_id(h.mailbox_id());
  fetch.set_uidvalidity(h.uidvalidity());
  fetch.mutable_uid_set()->add_ranges()->set_first(first);  // first:* (last = 0)
  fetch.mutable_attributes()->set_blob_id(true);
  fetch.mutable_attributes()->set_size(true);
  fetch.mutable_attributes()->set_envelope(true);
  fetch.mutable_attributes()->set_flags(true);
  fetch.set_set_seen(true);
  auto reader = meta_->FetchMessages(&ctx.ctx, fetch);
  std::vector<v1::MessageMeta> metas;
  v1::FetchMessagesResponse batch;
  while (reader->Read(&batch))
    metas.insert(metas.end(), batch.messages().begin(), batch.messages().end());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(metas.size(), 2u);
  EXPECT_EQ(metas[1].size(), bodies[1].size());
  EXPECT_EQ(metas[0].envelope().subject(), "one");
  EXPECT_TRUE(metas[0].flags().system() & v1::SYSTEM_FLAG_SEEN);
  // The grant from metad opens the blob in blobd, byte for byte.
  Ctx get_ctx(Alice());
  blob::v1::GetRequest get;
  get.set_blob_id(metas[1].blob_id());
  get.set_blob_grant(metas[1].blob_grant());
  auto blob_reader = blob_->Get(&get_ctx.ctx, get);
  std::string bytes;
  blob::v1::GetResponse part;
  while (blob_reader->Read(&part)) bytes += part.data();
  ASSERT_TRUE(blob_reader->Finish().ok());
  EXPECT_EQ(bytes, bodies[1]);
  // Bob's token with Alice's grant gets nothing.
  Ctx bob_ctx(Bob());
  auto denied = blob_->Get(&bob_ctx.ctx, get);
  while (denied->Read(&part)) {
  }
  EXPECT_EQ(denied->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MetadataServiceTest, AppendIsIdempotentAndChecksReceipts) {
  ASSERT_TRUE(Create(Alice(), "Idem").ok());
  v1::AppendMessagesResponse a, b;
  ASSERT_TRUE(Append(Alice(), "Idem", {"same message"}, "idem-key", &a).ok());
  ASSERT_TRUE(Append(Alice(), "Idem", {"same message"}, "idem-key", &b).ok());
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(Header(Alice(), "Idem").exists(), 1u);
  std::string reason;
  EXPECT_EQ(Append(Alice(), "Idem", {"other message"}, "idem-key", &b, &reason).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(reason, "ERROR_REASON_IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(Append(Alice(), "Nope", {"x"}, "k2", &b, &reason).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(reason, "ERROR_REASON_TRYCREATE");
  // A receipt for other bytes, or none at all, is refused.
  v1::AppendMessagesRequest req;
  req.set_mailbox("Idem");
  req.set_idempotency_key("forged");
  v1::AppendItem* item = req.add_items();
  item->set_blob_id(std::string(64, 'a'));
  item->set_size(10);
  item->set_put_receipt(common::IssuePutReceipt(common::KeyRing::Single("b1", kBlobSecret),
                                                std::string(64, 'b'), 10, absl::Now(),
                                                absl::Now() + absl::Hours(1)));
  Ctx ctx(Alice());
  EXPECT_EQ(meta_->AppendMessages(&ctx.ctx, req, &b).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ctx.Reason(), "ERROR_REASON_BAD_RECEIPT");
}

TEST_F(MetadataServiceTest, ConcurrentAppendsGetUniqueIncreasingUids) {
  ASSERT_TRUE(Create(Alice(), "Busy").ok());
  std::vector<std::future<std::vector<uint32_t>>> workers;
  for (int w = 0; w < 6; ++w) {
    workers.push_back(std::async(std::launch::async, [w] {
      std::vector<uint32_t> uids;
      for (int i = 0; i < 15; ++i) {
        v1::AppendMessagesResponse r;
        const std::string key = "busy-" + std::to_string(w) + "-" + std::to_string(i);
        if (Append(Alice(), "Busy", {"message " + key}, key, &r).ok()) {
          uids.push_back(r.uids().ranges(0).first());
        }
      }
      return uids;
    }));
  }
  std::set<uint32_t> all;
  size_t total = 0;
  for (auto& w : workers) {
    std::vector<uint32_t> uids = w.get();
    EXPECT_TRUE(std::is_sorted(uids.begin(), uids.end()));
    total += uids.size();
    all.insert(uids.begin(), uids.end());
  }
  EXPECT_EQ(total, 90u);
  EXPECT_EQ(all.size(), total);  // no UID twice
  const v1::SelectHeader h = Header(Alice(), "Busy");
  EXPECT_EQ(h.exists(), 90u);
  EXPECT_EQ(h.uidnext(), *all.rbegin() + 1);
}

TEST_F(MetadataServiceTest, FlagsModseqExpungeAndChanges) {
  ASSERT_TRUE(Create(Alice(), "Flags").ok());
  v1::AppendMessagesResponse app;
  ASSERT_TRUE(Append(Alice(), "Flags", {"a", "b", "c"}, "flags-1", &app).ok());
  const uint32_t u1 = app.uids().ranges(0).first();
  const v1::SelectHeader h = Header(Alice(), "Flags");
  const uint64_t start_modseq = h.highest_modseq();

  const auto store = [&](uint32_t first, uint32_t last, v1::StoreMode mode, uint32_t flags,
                         std::vector<std::string> keywords,
                         std::optional<uint64_t> unchanged_since) {
    Ctx ctx(Alice());
    v1::StoreFlagsRequest req;
    req.set_mailbox_id(h.mailbox_id());
    req.set_uidvalidity(h.uidvalidity());
    auto* r = req.mutable_uid_set()->add_ranges();
    r->set_first(first);
    r->set_last(last);
    req.set_mode(mode);
    req.mutable_flags()->set_system(flags);
    for (const auto& k : keywords) req.mutable_flags()->add_keywords(k);
    if (unchanged_since) req.set_unchanged_since(*unchanged_since);
    auto reader = meta_->StoreFlags(&ctx.ctx, req);
    v1::StoreFlagsResponse resp, last_resp;
    std::vector<v1::MessageFlags> updated;
    while (reader->Read(&resp)) {
      updated.insert(updated.end(), resp.updated().begin(), resp.updated().end());
      last_resp = resp;
    }
    EXPECT_TRUE(reader->Finish().ok());
    return std::make_pair(updated, last_resp);
  };
  auto [updated, summary] =
      store(u1, u1 + 1, v1::STORE_MODE_ADD, v1::SYSTEM_FLAG_FLAGGED, {"$Important"}, std::nullopt);
  ASSERT_EQ(updated.size(), 2u);
  EXPECT_GT(updated[0].modseq(), start_modseq);
  EXPECT_EQ(updated[0].flags().keywords(0), "$Important");
  // Same flags again: nothing changes, MODSEQ stays (RFC 7162 3.1).
  auto [none, s2] =
      store(u1, u1 + 1, v1::STORE_MODE_ADD, v1::SYSTEM_FLAG_FLAGGED, {"$important"}, std::nullopt);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(s2.highest_modseq(), summary.highest_modseq());
  // UNCHANGEDSINCE older than the message's MODSEQ: MODIFIED, not stored.
  auto [skipped, s3] = store(u1, u1, v1::STORE_MODE_ADD, v1::SYSTEM_FLAG_DELETED, {}, start_modseq);
  EXPECT_TRUE(skipped.empty());
  ASSERT_EQ(s3.modified().ranges_size(), 1);
  EXPECT_EQ(s3.modified().ranges(0).first(), u1);
  // Mark two deleted and expunge them.
  store(u1 + 1, u1 + 2, v1::STORE_MODE_ADD, v1::SYSTEM_FLAG_DELETED, {}, std::nullopt);
  v1::ExpungeResponse ex;
  {
    Ctx ctx(Alice());
    v1::ExpungeRequest req;
    req.set_mailbox_id(h.mailbox_id());
    req.set_uidvalidity(h.uidvalidity());
    ASSERT_TRUE(meta_->Expunge(&ctx.ctx, req, &ex).ok());
  }
  ASSERT_EQ(ex.expunged_uids().ranges_size(), 1);
  EXPECT_EQ(ex.expunged_uids().ranges(0).first(), u1 + 1);
  EXPECT_EQ(ex.expunged_uids().ranges(0).last(), u1 + 2);
  // Changes since the start: u1 changed, u1+1..u1+2 vanished.
  Ctx ctx(Alice());
  v1::GetChangesRequest changes;
  changes.set_mailbox_id(h.mailbox_id());
  changes.set_uidvalidity(h.uidvalidity());
  changes.set_since_modseq(start_modseq);
  auto reader = meta_->GetChanges(&ctx.ctx, changes);
  v1::GetChangesResponse resp, last;
  std::vector<uint32_t> changed;
  while (reader->Read(&resp)) {
    for (const auto& c : resp.changed()) changed.push_back(c.uid());
    last = resp;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(changed, std::vector<uint32_t>{u1});
  ASSERT_EQ(last.vanished().ranges_size(), 1);
  EXPECT_EQ(last.vanished().ranges(0).first(), u1 + 1);
  EXPECT_EQ(last.summary().exists(), 1u);
  EXPECT_EQ(last.summary().highest_modseq(), ex.highest_modseq());
  // QRESYNC select reports the same.
  v1::QresyncParameters q;
  q.set_known_uidvalidity(h.uidvalidity());
  q.set_known_modseq(start_modseq);
  grpc::Status s;
  auto chunks = Select(Alice(), "Flags", true, &s, q);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(chunks[0].header().qresync_applied());
  EXPECT_EQ(chunks[0].header().vanished().ranges(0).first(), u1 + 1);
  EXPECT_EQ(chunks[0].header().changed_uids().ranges(0).first(), u1);
}

TEST_F(MetadataServiceTest, CopyAndMoveReportCopyUid) {
  ASSERT_TRUE(Create(Alice(), "From").ok());
  ASSERT_TRUE(Create(Alice(), "To").ok());
  v1::AppendMessagesResponse app;
  ASSERT_TRUE(
      Append(Alice(), "From", {"m1", "m2"}, "copy-src", &app, nullptr, v1::SYSTEM_FLAG_SEEN).ok());
  const v1::SelectHeader from = Header(Alice(), "From");
  v1::CopyMessagesResponse copied;
  {
    Ctx ctx(Alice());
    v1::CopyMessagesRequest req;
    req.set_source_mailbox_id(from.mailbox_id());
    req.set_source_uidvalidity(from.uidvalidity());
    req.mutable_uid_set()->add_ranges()->set_first(1);
    req.set_destination("To");
    req.set_idempotency_key("copy-1");
    ASSERT_TRUE(meta_->CopyMessages(&ctx.ctx, req, &copied).ok());
  }
  EXPECT_EQ(copied.copy_uid().destination_uidvalidity(), Header(Alice(), "To").uidvalidity());
  EXPECT_EQ(copied.copy_uid().source_uids().ranges(0).last(), app.uids().ranges(0).last());
  EXPECT_EQ(Header(Alice(), "To").exists(), 2u);
  v1::MoveMessagesResponse moved;
  {
    Ctx ctx(Alice());
    v1::MoveMessagesRequest req;
    req.set_source_mailbox_id(from.mailbox_id());
    req.set_source_uidvalidity(from.uidvalidity());
    req.mutable_uid_set()->add_ranges()->set_first(app.uids().ranges(0).first());
    req.mutable_uid_set()->mutable_ranges(0)->set_last(app.uids().ranges(0).first());
    req.set_destination("To");
    req.set_idempotency_key("move-1");
    ASSERT_TRUE(meta_->MoveMessages(&ctx.ctx, req, &moved).ok());
  }
  EXPECT_EQ(moved.expunged_source_uids().ranges(0).first(), app.uids().ranges(0).first());
  EXPECT_EQ(Header(Alice(), "From").exists(), 1u);
  EXPECT_EQ(Header(Alice(), "To").exists(), 3u);
  Ctx ctx(Alice());
  v1::CopyMessagesRequest missing;
  missing.set_source_mailbox_id(from.mailbox_id());
  missing.set_source_uidvalidity(from.uidvalidity());
  missing.mutable_uid_set()->add_ranges()->set_first(1);
  missing.set_destination("Nowhere");
  missing.set_idempotency_key("copy-2");
  EXPECT_EQ(meta_->CopyMessages(&ctx.ctx, missing, &copied).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ctx.Reason(), "ERROR_REASON_TRYCREATE");
}

TEST_F(MetadataServiceTest, QuotaIsEnforcedOnAppend) {
  const uint64_t user = ids_[2];
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata(common::kAdminTokenKey, kAdmin);
    v1::SetQuotaRequest req;
    req.set_user_id(user);
    req.set_messages(2);
    v1::SetQuotaResponse resp;
    ASSERT_TRUE(meta_->SetQuota(&ctx, req, &resp).ok());
  }
  v1::AppendMessagesResponse r;
  ASSERT_TRUE(Append(user, "INBOX", {"q1", "q2"}, "quota-1", &r).ok());
  std::string reason;
  EXPECT_EQ(Append(user, "INBOX", {"q3"}, "quota-2", &r, &reason).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(reason, "ERROR_REASON_OVERQUOTA");
  Ctx ctx(user);
  v1::GetQuotaResponse quota;
  ASSERT_TRUE(meta_->GetQuota(&ctx.ctx, {}, &quota).ok());
  ASSERT_EQ(quota.quota().resources_size(), 1);
  EXPECT_EQ(quota.quota().resources(0).usage(), 2u);
  EXPECT_EQ(quota.quota().resources(0).limit(), 2u);
}

TEST_F(MetadataServiceTest, OneUserCannotReachAnothersMailbox) {
  const v1::SelectHeader inbox = Header(Alice(), "INBOX");
  Ctx ctx(Bob());
  v1::FetchMessagesRequest fetch;
  fetch.set_mailbox_id(inbox.mailbox_id());
  fetch.set_uidvalidity(inbox.uidvalidity());
  fetch.mutable_uid_set()->add_ranges()->set_first(1);
  auto reader = meta_->FetchMessages(&ctx.ctx, fetch);
  v1::FetchMessagesResponse batch;
  EXPECT_FALSE(reader->Read(&batch));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Header(Bob(), "INBOX").exists(), 0u);  // Bob has his own INBOX
  grpc::ClientContext none;
  v1::ListMailboxesRequest list;
  list.add_patterns("*");
  v1::ListMailboxesResponse resp;
  EXPECT_EQ(meta_->ListMailboxes(&none, list, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(MetadataServiceTest, CommittedChangesArePublishedOnRedis) {
  ASSERT_TRUE(Create(Alice(), "Watched").ok());
  const v1::SelectHeader h = Header(Alice(), "Watched");
  Process sub("/usr/bin/redis-cli",
              {"-p", std::to_string(Env().redis().port()), "SUBSCRIBE",
               "tern:mailbox:" + std::to_string(h.mailbox_id())},
              {}, dir_->path() + "/sub.log");
  ASSERT_TRUE(WaitFor([&] { return sub.Log().find("subscribe") != std::string::npos; },
                      std::chrono::seconds(5)));
  v1::AppendMessagesResponse app;
  ASSERT_TRUE(Append(Alice(), "Watched", {"notify me"}, "watched-1", &app).ok());
  EXPECT_TRUE(WaitFor([&] { return sub.Log().find("message") != std::string::npos; },
                      std::chrono::seconds(5)))
      << sub.Log();
}

TEST_F(MetadataServiceTest, SearchMatchesHeadersDatesFlagsAndDecodedBodies) {
  ASSERT_TRUE(Create(Alice(), "Search").ok());
  v1::AppendMessagesResponse first, second;
  ASSERT_TRUE(Append(Alice(), "Search",
                     {"From: Carol <carol@x.test>\r\n"
                      "Subject: =?UTF-8?Q?caf=C3=A9?= menu\r\n"
                      "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
                      "X-Custom: orange\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                      "the b=C3=A9st cake\r\n"},
                     "search-1", &first)
                  .ok());
  ASSERT_TRUE(Append(Alice(), "Search",
                     {"From: dave@y.test\r\nSubject: hello\r\nDate: 1 Mar 2020 10:00:00 +0000\r\n"
                      "\r\nplain body about apples\r\n"},
                     "search-2", &second, nullptr, v1::SYSTEM_FLAG_SEEN)
                  .ok());
  const uint32_t u1 = first.uids().ranges(0).first();
  const uint32_t u2 = second.uids().ranges(0).first();
  const v1::SelectHeader h = Header(Alice(), "Search");
  const auto search = [&](const v1::SearchKey& key, std::string* reason = nullptr,
                          std::optional<v1::SearchReturnOptions> opts = {},
                          v1::SearchSummary* summary = nullptr) {
    Ctx ctx(Alice());
    v1::SearchMessagesRequest req;
    req.set_mailbox_id(h.mailbox_id());
    req.set_uidvalidity(h.uidvalidity());
    *req.mutable_key() = key;
    req.set_charset(reason != nullptr ? "KOI8-R" : "UTF-8");
    if (opts) *req.mutable_return_options() = *opts;
    auto reader = meta_->SearchMessages(&ctx.ctx, req);
    std::vector<uint32_t> uids;
    v1::SearchMessagesResponse resp;
    while (reader->Read(&resp)) {
      for (const auto& r : resp.uids().ranges()) {
        for (uint32_t u = r.first(); u <= r.last(); ++u) uids.push_back(u);
      }
      if (resp.has_summary() && summary != nullptr) *summary = resp.summary();
    }
    grpc::Status s = reader->Finish();
    if (reason != nullptr) *reason = ctx.Reason();
    EXPECT_TRUE(s.ok() || reason != nullptr) << s.error_message();
    return uids;
  };
  const auto header = [](const std::string& name, const std::string& value) {
    v1::SearchKey k;
    k.mutable_header()->set_field_name(name);
    k.mutable_header()->set_value(value);
    return k;
  };
  const auto text = [](v1::TextCriterion::Scope scope, const std::string& value) {
    v1::SearchKey k;
    k.mutable_text()->set_scope(scope);
    k.mutable_text()->set_value(value);
    return k;
  };
  using U = std::vector<uint32_t>;
  EXPECT_EQ(search(header("Subject", "CAF\xc3\xa9")), U{u1});  // RFC 2047 decoded
  EXPECT_EQ(search(header("from", "carol")), U{u1});
  EXPECT_EQ(search(header("X-Custom", "orange")), U{u1});  // outside the cache: read the blob
  EXPECT_EQ(search(header("X-Custom", "")), U{u1});        // present at all
  EXPECT_EQ(search(text(v1::TextCriterion::SCOPE_BODY, "b\xc3\xa9st")), U{u1});  // QP + charset
  EXPECT_EQ(search(text(v1::TextCriterion::SCOPE_BODY, "menu")), U{});
  EXPECT_EQ(search(text(v1::TextCriterion::SCOPE_TEXT, "menu")), U{u1});
  EXPECT_EQ(search(text(v1::TextCriterion::SCOPE_TEXT, "APPLES")), U{u2});
  v1::SearchKey sent;
  sent.mutable_date()->set_field(v1::DateCriterion::FIELD_SENT_DATE);
  sent.mutable_date()->set_comparison(v1::DateCriterion::COMPARISON_BEFORE);
  sent.mutable_date()->mutable_date()->set_year(2000);
  sent.mutable_date()->mutable_date()->set_month(1);
  sent.mutable_date()->mutable_date()->set_day(1);
  EXPECT_EQ(search(sent), U{u1});
  v1::SearchKey unseen;
  unseen.mutable_flag()->set_flag(v1::SYSTEM_FLAG_SEEN);
  unseen.mutable_flag()->set_set(false);
  EXPECT_EQ(search(unseen), U{u1});
  v1::SearchKey all;
  all.set_all(true);
  v1::SearchReturnOptions esearch;
  esearch.set_min(true);
  esearch.set_max(true);
  esearch.set_count(true);
  v1::SearchSummary summary;
  EXPECT_EQ(search(all, nullptr, esearch, &summary), U{});  // ESEARCH without ALL: no list
  EXPECT_EQ(summary.min(), u1);
  EXPECT_EQ(summary.max(), u2);
  EXPECT_EQ(summary.count(), 2u);
  v1::SearchKey modseq;
  modseq.mutable_modseq()->set_modseq(second.highest_modseq());
  EXPECT_EQ(search(modseq, nullptr, std::nullopt, &summary), U{u2});
  EXPECT_EQ(summary.highest_modseq(), second.highest_modseq());
  std::string reason;
  search(all, &reason);
  EXPECT_EQ(reason, "ERROR_REASON_BADCHARSET");
  // SORT over the same messages (RFC 5256): base subject, then reverse sent date.
  const auto sort = [&](v1::SortKey key, bool reverse) {
    Ctx ctx(Alice());
    v1::SortMessagesRequest req;
    req.set_mailbox_id(h.mailbox_id());
    req.set_uidvalidity(h.uidvalidity());
    req.add_criteria()->set_key(key);
    req.mutable_criteria(0)->set_reverse(reverse);
    req.mutable_key()->set_all(true);
    auto reader = meta_->SortMessages(&ctx.ctx, req);
    U uids;
    v1::SortMessagesResponse resp;
    while (reader->Read(&resp)) uids.insert(uids.end(), resp.uids().begin(), resp.uids().end());
    EXPECT_TRUE(reader->Finish().ok());
    return uids;
  };
  EXPECT_EQ(sort(v1::SORT_KEY_SUBJECT, false), (U{u1, u2}));  // "café menu" < "hello"
  EXPECT_EQ(sort(v1::SORT_KEY_DATE, true), (U{u2, u1}));      // 2020 before 1994
  EXPECT_EQ(sort(v1::SORT_KEY_FROM, false), (U{u1, u2}));     // carol < dave
  // THREAD=ORDEREDSUBJECT: two subjects, two threads, by the sent date of their first message.
  Ctx ctx(Alice());
  v1::ThreadMessagesRequest thread;
  thread.set_mailbox_id(h.mailbox_id());
  thread.set_uidvalidity(h.uidvalidity());
  thread.set_algorithm(v1::THREAD_ALGORITHM_ORDEREDSUBJECT);
  thread.mutable_key()->set_all(true);
  auto reader = meta_->ThreadMessages(&ctx.ctx, thread);
  std::vector<std::pair<uint32_t, uint32_t>> nodes;
  v1::ThreadMessagesResponse resp;
  while (reader->Read(&resp)) {
    for (const auto& n : resp.nodes()) nodes.emplace_back(n.uid(), n.parent());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(nodes, (std::vector<std::pair<uint32_t, uint32_t>>{{u1, 0}, {u2, 0}}));
  // THREAD=REFERENCES: no references between them, different subjects: two threads too.
  Ctx refs_ctx(Alice());
  thread.set_algorithm(v1::THREAD_ALGORITHM_REFERENCES);
  auto refs_reader = meta_->ThreadMessages(&refs_ctx.ctx, thread);
  nodes.clear();
  while (refs_reader->Read(&resp)) {
    for (const auto& n : resp.nodes()) nodes.emplace_back(n.uid(), n.parent());
  }
  ASSERT_TRUE(refs_reader->Finish().ok());
  EXPECT_EQ(nodes, (std::vector<std::pair<uint32_t, uint32_t>>{{u1, 0}, {u2, 0}}));
}

TEST_F(MetadataServiceTest, FlagChangesRacingExpungesStayConsistent) {
  ASSERT_TRUE(Create(Alice(), "Race").ok());
  std::vector<std::string> bodies;
  for (int i = 0; i < 40; ++i) bodies.push_back("race message " + std::to_string(i));
  v1::AppendMessagesResponse app;
  ASSERT_TRUE(Append(Alice(), "Race", bodies, "race-append", &app).ok());
  const v1::SelectHeader h = Header(Alice(), "Race");
  const uint32_t first = app.uids().ranges(0).first();
  std::atomic<bool> stop{false};
  // One session keeps flagging everything (\Deleted on odd rounds), another keeps
  // expunging: each STORE and EXPUNGE is atomic against the other.
  std::thread flagger([&] {
    for (int round = 0; !stop; ++round) {
      Ctx ctx(Alice());
      v1::StoreFlagsRequest req;
      req.set_mailbox_id(h.mailbox_id());
      req.set_uidvalidity(h.uidvalidity());
      req.mutable_uid_set()->add_ranges()->set_first(1);
      req.set_mode(v1::STORE_MODE_REPLACE);
      req.mutable_flags()->set_system(round % 2 ? v1::SYSTEM_FLAG_DELETED : v1::SYSTEM_FLAG_SEEN);
      auto reader = meta_->StoreFlags(&ctx.ctx, req);
      v1::StoreFlagsResponse resp;
      while (reader->Read(&resp)) {
      }
      reader->Finish();
    }
  });
  std::set<uint32_t> expunged;
  // At least 30 rounds, and on until the race has really expunged something.
  for (int i = 0; i < 30 || (expunged.empty() && i < 3000); ++i) {
    Ctx ctx(Alice());
    v1::ExpungeRequest req;
    req.set_mailbox_id(h.mailbox_id());
    req.set_uidvalidity(h.uidvalidity());
    v1::ExpungeResponse resp;
    ASSERT_TRUE(meta_->Expunge(&ctx.ctx, req, &resp).ok());
    for (const auto& r : resp.expunged_uids().ranges()) {
      for (uint32_t u = r.first(); u <= r.last(); ++u) EXPECT_TRUE(expunged.insert(u).second);
    }
  }
  stop = true;
  flagger.join();
  EXPECT_FALSE(expunged.empty());
  pqxx::connection conn(Env().pg().dsn());
  pqxx::read_transaction txn(conn);
  const int64_t id = static_cast<int64_t>(h.mailbox_id());
  // Every message is either present or recorded as vanished, never both, never lost.
  EXPECT_EQ(txn.exec_params1("SELECT count(*) FROM messages m JOIN vanished v USING (mailbox_id,"
                             " uid) WHERE m.mailbox_id = $1",
                             id)[0]
                .as<int>(),
            0);
  const int present =
      txn.exec_params1("SELECT count(*) FROM messages WHERE mailbox_id = $1", id)[0].as<int>();
  EXPECT_EQ(present + static_cast<int>(expunged.size()), 40);
  EXPECT_EQ(
      txn.exec_params1("SELECT count(*) FROM vanished WHERE mailbox_id = $1", id)[0].as<int>(),
      static_cast<int>(expunged.size()));
  // No message or expunge has a MODSEQ above the mailbox's HIGHESTMODSEQ.
  EXPECT_TRUE(
      txn.exec_params1("SELECT COALESCE(MAX(modseq), 0) <= (SELECT highest_modseq FROM mailboxes"
                       " WHERE id = $1) FROM (SELECT modseq FROM messages WHERE mailbox_id = $1"
                       " UNION ALL SELECT modseq FROM vanished WHERE mailbox_id = $1) x",
                       id)[0]
          .as<bool>());
  for (uint32_t u : expunged) EXPECT_GE(u, first);
}

TEST_F(MetadataServiceTest, MaildropLockHasOneHolderAtATime) {
  const auto acquire = [](const std::string& holder, bool renew, std::string* reason) {
    Ctx ctx(Bob());
    v1::MaildropLease lease;
    grpc::Status s;
    if (renew) {
      v1::RenewMaildropLockRequest req;
      req.set_holder_id(holder);
      req.mutable_lease()->set_seconds(60);
      s = meta_->RenewMaildropLock(&ctx.ctx, req, &lease);
    } else {
      v1::AcquireMaildropLockRequest req;
      req.set_holder_id(holder);
      req.mutable_lease()->set_seconds(60);
      s = meta_->AcquireMaildropLock(&ctx.ctx, req, &lease);
    }
    *reason = ctx.Reason();
    return s.error_code();
  };
  std::string reason;
  EXPECT_EQ(acquire("pop3d-a/1", false, &reason), grpc::StatusCode::OK);
  EXPECT_EQ(acquire("pop3d-a/1", false, &reason), grpc::StatusCode::OK);  // same holder renews
  EXPECT_EQ(acquire("pop3d-b/7", false, &reason), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(reason, "ERROR_REASON_IN_USE");
  EXPECT_EQ(acquire("pop3d-b/7", true, &reason), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(reason, "ERROR_REASON_LOCK_LOST");
  {
    Ctx ctx(Bob());
    v1::ReleaseMaildropLockRequest req;
    req.set_holder_id("pop3d-a/1");
    v1::ReleaseMaildropLockResponse resp;
    ASSERT_TRUE(meta_->ReleaseMaildropLock(&ctx.ctx, req, &resp).ok());
  }
  EXPECT_EQ(acquire("pop3d-b/7", false, &reason), grpc::StatusCode::OK);
}

TEST_F(MetadataServiceTest, BlobGcDeletesOnlyUnreferencedOldBlobs) {
  ASSERT_TRUE(Create(Alice(), "Gc").ok());
  v1::AppendMessagesResponse kept, expunged;
  ASSERT_TRUE(Append(Alice(), "Gc", {"gc referenced"}, "gc-1", &kept).ok());
  ASSERT_TRUE(Append(Alice(), "Gc", {"gc expunged just now"}, "gc-2", &expunged, nullptr,
                     v1::SYSTEM_FLAG_DELETED)
                  .ok());
  const v1::SelectHeader h = Header(Alice(), "Gc");
  {
    Ctx ctx(Alice());
    v1::ExpungeRequest req;
    req.set_mailbox_id(h.mailbox_id());
    req.set_uidvalidity(h.uidvalidity());
    v1::ExpungeResponse resp;
    ASSERT_TRUE(meta_->Expunge(&ctx.ctx, req, &resp).ok());
  }
  // An orphan: put but never appended (a failed append, a crash in between).
  Ctx put_ctx(Alice());
  blob::v1::PutResponse orphan;
  {
    auto writer = blob_->Put(&put_ctx.ctx, &orphan);
    blob::v1::PutRequest header;
    header.mutable_header();
    writer->Write(header);
    blob::v1::PutRequest data;
    data.set_data("gc orphan");
    writer->Write(data);
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  auto meta_stub = v1::MetadataService::NewStub(metad_->channel);
  auto blob_stub = blob::v1::BlobService::NewStub(blobd_->channel);
  // With a grace period longer than the blobs' age, nothing is even listed.
  auto careful = ctl::RunBlobGc(*meta_stub, *blob_stub, kService, absl::Hours(1));
  ASSERT_TRUE(careful.ok()) << careful.status();
  EXPECT_EQ(careful->deleted, 0u);
  // With none: the orphan goes; the referenced blob and the one expunged within the
  // window stay.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto gc = ctl::RunBlobGc(*meta_stub, *blob_stub, kService, absl::ZeroDuration());
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_GE(gc->deleted, 1u);
  const auto exists = [&](const std::string& id) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(common::kServiceTokenKey, kService);
    blob::v1::StatRequest req;
    req.set_blob_id(id);
    blob::v1::StatResponse resp;
    EXPECT_TRUE(blob_->Stat(&ctx, req, &resp).ok());
    return resp.exists();
  };
  EXPECT_FALSE(exists(orphan.blob_id()));
  Ctx ctx(Alice());
  v1::FetchMessagesRequest fetch;
  fetch.set_mailbox_id(h.mailbox_id());
  fetch.set_uidvalidity(h.uidvalidity());
  fetch.mutable_uid_set()->add_ranges()->set_first(1);
  fetch.mutable_attributes()->set_blob_id(true);
  auto reader = meta_->FetchMessages(&ctx.ctx, fetch);
  v1::FetchMessagesResponse batch;
  ASSERT_TRUE(reader->Read(&batch));
  EXPECT_TRUE(exists(batch.messages(0).blob_id()));
  while (reader->Read(&batch)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
}

// POP3 reports sizes with every line ending counted as CRLF (RFC 1939 11): metad serves
// the size ingest computed, so a maildrop listing reads no blob.
TEST_F(MetadataServiceTest, FetchServesPop3Size) {
  ASSERT_TRUE(Create(Alice(), "Pop3Sizes").ok());
  const std::vector<std::string> bodies = {"Subject: crlf\r\n\r\nbody\r\n",
                                           "Subject: lf\n\nline one\nline two\n"};
  v1::AppendMessagesResponse app;
  ASSERT_TRUE(Append(Alice(), "Pop3Sizes", bodies, "pop3-size", &app).ok());
  Ctx ctx(Alice());
  v1::FetchMessagesRequest fetch;
  fetch.set_mailbox_id(app.mailbox_id());
  fetch.set_uidvalidity(app.uidvalidity());
  fetch.mutable_uid_set()->add_ranges()->set_first(1);
  fetch.mutable_attributes()->set_size(true);
  fetch.mutable_attributes()->set_pop3_size(true);
  auto reader = meta_->FetchMessages(&ctx.ctx, fetch);
  std::vector<v1::MessageMeta> metas;
  v1::FetchMessagesResponse batch;
  while (reader->Read(&batch))
    metas.insert(metas.end(), batch.messages().begin(), batch.messages().end());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(metas.size(), 2u);
  EXPECT_EQ(metas[0].size(), bodies[0].size());
  EXPECT_EQ(metas[0].pop3_size(), bodies[0].size());
  EXPECT_EQ(metas[1].size(), bodies[1].size());
  EXPECT_EQ(metas[1].pop3_size(), bodies[1].size() + 4);  // four LF sent as CRLF
}

TEST_F(MetadataServiceTest, AcknowledgedAppendsSurviveKillDashNine) {
  ASSERT_TRUE(Create(Alice(), "Crash").ok());
  std::mutex mu;
  std::vector<std::pair<uint32_t, std::string>> acked;  // uid, bytes
  std::atomic<bool> stop{false};
  std::atomic<size_t> count{0};
  std::thread writer([&] {
    for (int i = 0; i < 100000 && !stop; ++i) {
      const std::string bytes = "Subject: crash " + std::to_string(i) + "\r\n\r\n" +
                                std::string(static_cast<size_t>(i % 300) * 17, 'x');
      v1::AppendMessagesResponse r;
      if (Append(Alice(), "Crash", {bytes}, "crash-" + std::to_string(i), &r).ok()) {
        std::lock_guard lock(mu);
        acked.emplace_back(r.uids().ranges(0).first(), bytes);
        ++count;
      }
    }
  });
  ASSERT_TRUE(WaitFor([&] { return count >= 15; }, std::chrono::seconds(30)));
  metad_->process->Signal(SIGKILL);
  blobd_->process->Signal(SIGKILL);
  metad_->process->Wait(std::chrono::seconds(10));
  blobd_->process->Wait(std::chrono::seconds(10));
  stop = true;
  writer.join();
  StartServers();
  restarted_ = true;

  const v1::SelectHeader h = Header(Alice(), "Crash");
  Ctx ctx(Alice());
  v1::FetchMessagesRequest fetch;
  fetch.set_mailbox_id(h.mailbox_id());
  fetch.set_uidvalidity(h.uidvalidity());
  fetch.mutable_uid_set()->add_ranges()->set_first(1);
  fetch.mutable_attributes()->set_blob_id(true);
  auto reader = meta_->FetchMessages(&ctx.ctx, fetch);
  std::map<uint32_t, v1::MessageMeta> stored;
  v1::FetchMessagesResponse batch;
  while (reader->Read(&batch)) {
    for (const auto& m : batch.messages()) stored[m.uid()] = m;
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(acked.size(), 15u);
  for (const auto& [uid, bytes] : acked) {
    ASSERT_TRUE(stored.contains(uid)) << "acknowledged UID " << uid << " lost";
    Ctx get_ctx(Alice());
    blob::v1::GetRequest get;
    get.set_blob_id(stored[uid].blob_id());
    get.set_blob_grant(stored[uid].blob_grant());
    auto blob_reader = blob_->Get(&get_ctx.ctx, get);
    std::string got;
    blob::v1::GetResponse part;
    while (blob_reader->Read(&part)) got += part.data();
    ASSERT_TRUE(blob_reader->Finish().ok()) << uid;
    EXPECT_EQ(got, bytes) << uid;
  }
}

}  // namespace
}  // namespace tern::metadata
