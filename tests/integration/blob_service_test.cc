// The real tern-blobd binary over gRPC: credentials and grants, streaming Put and ranged Get,
// dedup, corruption, GC's List/Delete, and acknowledged puts surviving kill -9.
#include "services/blob/blob_service.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "tern/blob/v1/blob.grpc.pb.h"
#include "tests/support/testing.h"

namespace tern::blob {
namespace {

using tern::testing::FreePort;
using tern::testing::HttpGet;
using tern::testing::Process;
using tern::testing::TempDir;
using tern::testing::WaitFor;

const std::string kTokenSecretHex(64, 'a');
const std::string kBlobSecretHex(64, 'b');
constexpr char kServiceToken[] = "service-secret-for-tests";

struct Blobd {
  int grpc_port = FreePort();
  int http_port = FreePort();
  std::unique_ptr<Process> process;
};

class BlobServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    testing::WriteFile(dir_->path() + "/token.key", "t1 " + kTokenSecretHex + "\n");
    testing::WriteFile(dir_->path() + "/blob.key", "b1 " + kBlobSecretHex + "\n");
    testing::WriteFile(dir_->path() + "/service.token", kServiceToken);
    std::filesystem::create_directories(dir_->path() + "/blobs");
    blobd_ = new Blobd();
    Start();
  }
  static void TearDownTestSuite() {
    delete stub_;
    stub_ = nullptr;
    delete blobd_;
    delete dir_;
  }

  static void Start() {
    const std::string d = dir_->path();
    blobd_->process = std::make_unique<Process>(
        testing::BinaryDir() + "/services/blob/tern-blobd",
        std::vector<std::string>{
            "--grpc-listen=127.0.0.1:" + std::to_string(blobd_->grpc_port),
            "--http-listen=127.0.0.1:" + std::to_string(blobd_->http_port),
            "--blob-dir=" + d + "/blobs", "--token-key-file=" + d + "/token.key",
            "--blob-key-file=" + d + "/blob.key", "--service-token-file=" + d + "/service.token",
            "--max-blob-size=1048576"},
        std::map<std::string, std::string>{}, d + "/blobd.log");
    ASSERT_TRUE(WaitFor([] { return HttpGet(blobd_->http_port, "/readyz").status == 200; },
                        std::chrono::seconds(20)))
        << blobd_->process->Log();
    auto channel = common::MakeChannel("127.0.0.1:" + std::to_string(blobd_->grpc_port), {});
    delete stub_;
    stub_ = v1::BlobService::NewStub(*channel).release();
  }

  static std::string Token(uint64_t user, auth::v1::TokenScope scope) {
    auth::v1::TokenClaims claims;
    claims.set_user_id(user);
    claims.set_scope(scope);
    claims.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    return common::SignSessionToken(claims, common::KeyRing::Single("t1", std::string(32, '\xaa')));
  }
  static std::string Grant(const std::string& id, uint64_t user,
                           absl::Duration ttl = absl::Minutes(10)) {
    return IssueBlobGrant(common::KeyRing::Single("b1", std::string(32, '\xbb')), id, user,
                          absl::Now() + ttl);
  }

  struct Cred {
    std::string key;
    std::string value;
  };
  static Cred Session(uint64_t user) {
    return {common::kSessionTokenKey, Token(user, auth::v1::TOKEN_SCOPE_SESSION)};
  }
  static Cred Deliver(uint64_t user) {
    return {common::kSessionTokenKey, Token(user, auth::v1::TOKEN_SCOPE_DELIVER)};
  }
  static Cred Service() { return {common::kServiceTokenKey, kServiceToken}; }

  static grpc::Status Put(const Cred& cred, const std::string& bytes, v1::PutResponse* resp,
                          std::optional<std::string> expected_sha = std::nullopt,
                          std::optional<uint64_t> expected_size = std::nullopt) {
    grpc::ClientContext ctx;
    if (!cred.key.empty()) ctx.AddMetadata(cred.key, cred.value);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto writer = stub_->Put(&ctx, resp);
    v1::PutRequest req;
    if (expected_sha) req.mutable_header()->set_expected_sha256(*expected_sha);
    if (expected_size) req.mutable_header()->set_expected_size(*expected_size);
    req.mutable_header()->set_content_hint(v1::CONTENT_HINT_IMAP_APPEND);
    writer->Write(req);
    for (size_t i = 0; i < bytes.size(); i += 65536) {
      v1::PutRequest chunk;
      chunk.set_data(bytes.substr(i, 65536));
      if (!writer->Write(chunk)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    last_reason_ = Reason(ctx);
    return s;
  }

  static grpc::Status Get(const Cred& cred, const std::string& id, const std::string& grant,
                          std::vector<std::pair<uint64_t, uint64_t>> ranges, std::string* out) {
    grpc::ClientContext ctx;
    if (!cred.key.empty()) ctx.AddMetadata(cred.key, cred.value);
    v1::GetRequest req;
    req.set_blob_id(id);
    req.set_blob_grant(grant);
    for (auto [offset, length] : ranges) {
      auto* r = req.add_ranges();
      r->set_offset(offset);
      r->set_length(length);
    }
    auto reader = stub_->Get(&ctx, req);
    v1::GetResponse chunk;
    out->clear();
    while (reader->Read(&chunk)) {
      *out += chunk.data();
      if (chunk.last_in_range()) *out += "|";
    }
    grpc::Status s = reader->Finish();
    last_reason_ = Reason(ctx);
    return s;
  }

  static std::string Reason(const grpc::ClientContext& ctx) {
    auto it = ctx.GetServerTrailingMetadata().find("tern-error-reason");
    if (it == ctx.GetServerTrailingMetadata().end()) return "";
    return std::string(it->second.data(), it->second.size());
  }

  static TempDir* dir_;
  static Blobd* blobd_;
  static v1::BlobService::Stub* stub_;
  static std::string last_reason_;
};
TempDir* BlobServiceTest::dir_ = nullptr;
Blobd* BlobServiceTest::blobd_ = nullptr;
v1::BlobService::Stub* BlobServiceTest::stub_ = nullptr;
std::string BlobServiceTest::last_reason_;

TEST_F(BlobServiceTest, PutThenGetRangesWithAGrant) {
  const std::string message = "From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n";
  v1::PutResponse put;
  ASSERT_TRUE(Put(Session(7), message, &put).ok());
  EXPECT_EQ(put.size(), message.size());
  EXPECT_EQ(put.blob_id().size(), 64u);
  EXPECT_FALSE(put.put_receipt().empty());
  std::string got;
  ASSERT_TRUE(Get(Session(7), put.blob_id(), Grant(put.blob_id(), 7), {}, &got).ok());
  EXPECT_EQ(got, message + "|");
  ASSERT_TRUE(
      Get(Session(7), put.blob_id(), Grant(put.blob_id(), 7), {{0, 4}, {37, 0}}, &got).ok());
  EXPECT_EQ(got, "From|body\r\n|");
  // The receipt is signed by blobd's capability key over the claims.
  v1::PutReceipt receipt;
  ASSERT_TRUE(receipt.ParseFromString(put.put_receipt()));
  EXPECT_EQ(receipt.key_id(), "b1");
  EXPECT_EQ(receipt.signature(),
            common::CapabilitySignature(std::string(32, '\xbb'), "tern-put-receipt-v1",
                                        receipt.claims()));
}

TEST_F(BlobServiceTest, OneUserCannotReadAnothersBlob) {
  v1::PutResponse put;
  ASSERT_TRUE(Put(Session(1), "secret of user one", &put).ok());
  std::string got;
  // No grant, another user's grant, another blob's grant, an expired grant, a forged grant.
  EXPECT_EQ(Get(Session(2), put.blob_id(), "", {}, &got).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(last_reason_, "ERROR_REASON_GRANT_REQUIRED");
  EXPECT_EQ(Get(Session(2), put.blob_id(), Grant(put.blob_id(), 1), {}, &got).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(last_reason_, "ERROR_REASON_GRANT_INVALID");
  EXPECT_EQ(Get(Session(1), put.blob_id(), Grant(std::string(64, 'c'), 1), {}, &got).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Get(Session(1), put.blob_id(), Grant(put.blob_id(), 1, -absl::Minutes(5)), {}, &got)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(last_reason_, "ERROR_REASON_GRANT_EXPIRED");
  const std::string forged = IssueBlobGrant(common::KeyRing::Single("b1", std::string(32, 'x')),
                                            put.blob_id(), 2, absl::Now() + absl::Minutes(5));
  EXPECT_EQ(Get(Session(2), put.blob_id(), forged, {}, &got).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(got.empty());
  // A delivery token may store but never read.
  v1::PutResponse delivered;
  EXPECT_TRUE(Put(Deliver(3), "delivered", &delivered).ok());
  EXPECT_EQ(
      Get(Deliver(3), delivered.blob_id(), Grant(delivered.blob_id(), 3), {}, &got).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // No credential, or a token signed with another key: unauthenticated.
  EXPECT_EQ(Put({}, "x", &delivered).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      Get({common::kSessionTokenKey, "tern1.bad.token"}, put.blob_id(), "", {}, &got).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Get({common::kServiceTokenKey, "guess"}, put.blob_id(), "", {}, &got).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(BlobServiceTest, PutChecksHashSizeAndLimit) {
  v1::PutResponse put;
  EXPECT_EQ(Put(Session(1), "abc", &put, std::string(64, '0')).error_code(),
            grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(last_reason_, "ERROR_REASON_HASH_MISMATCH");
  EXPECT_EQ(Put(Session(1), "abc", &put, std::nullopt, 4).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(last_reason_, "ERROR_REASON_SIZE_MISMATCH");
  EXPECT_EQ(Put(Session(1), std::string((1 << 20) + 1, 'x'), &put).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(last_reason_, "ERROR_REASON_TOO_LARGE");
  // SHA-256("abc")
  EXPECT_TRUE(Put(Session(1), "abc", &put,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3)
                  .ok());
  EXPECT_FALSE(put.already_existed());
  EXPECT_TRUE(Put(Session(2), "abc", &put).ok());
  EXPECT_TRUE(put.already_existed());
}

TEST_F(BlobServiceTest, CorruptBlobIsDataLossNotServed) {
  v1::PutResponse put;
  ASSERT_TRUE(Put(Session(5), "will be damaged on disk", &put).ok());
  const std::string path =
      dir_->path() + "/blobs/objects/" + put.blob_id().substr(0, 2) + "/" + put.blob_id();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "will be damaged on d1sk";
  }
  std::string got;
  EXPECT_EQ(Get(Session(5), put.blob_id(), Grant(put.blob_id(), 5), {}, &got).error_code(),
            grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(last_reason_, "ERROR_REASON_CORRUPT");
  EXPECT_TRUE(got.empty());
}

TEST_F(BlobServiceTest, GcListsAndDeletesOnlyWithServiceCredentials) {
  v1::PutResponse put;
  ASSERT_TRUE(Put(Session(9), "garbage candidate", &put).ok());
  grpc::ClientContext c1;
  c1.AddMetadata(common::kSessionTokenKey, Session(9).value);
  v1::DeleteRequest del;
  del.set_blob_id(put.blob_id());
  del.mutable_unless_put_after()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 10);
  v1::DeleteResponse del_resp;
  EXPECT_EQ(stub_->Delete(&c1, del, &del_resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext c2;
  c2.AddMetadata(common::kServiceTokenKey, kServiceToken);
  v1::ListRequest list;
  auto reader = stub_->List(&c2, list);
  v1::ListResponse batch;
  bool found = false;
  while (reader->Read(&batch)) {
    for (const auto& b : batch.blobs()) found = found || b.blob_id() == put.blob_id();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(found);

  grpc::ClientContext c3;
  c3.AddMetadata(common::kServiceTokenKey, kServiceToken);
  v1::DeleteRequest recent = del;
  recent.mutable_unless_put_after()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 3600);
  EXPECT_EQ(stub_->Delete(&c3, recent, &del_resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  grpc::ClientContext c4;
  c4.AddMetadata(common::kServiceTokenKey, kServiceToken);
  ASSERT_TRUE(stub_->Delete(&c4, del, &del_resp).ok());
  EXPECT_TRUE(del_resp.deleted());
  std::string got;
  EXPECT_EQ(Get(Service(), put.blob_id(), "", {}, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(BlobServiceTest, AcknowledgedPutsSurviveKillDashNine) {
  std::vector<std::pair<std::string, std::string>> acked;  // id, bytes
  std::atomic<bool> stop{false};
  std::atomic<size_t> acked_count{0};
  std::thread writer([&] {
    for (int i = 0; i < 100000 && !stop; ++i) {
      const std::string bytes = "message " + std::to_string(i) + std::string(i % 5000, '.');
      v1::PutResponse put;
      if (Put(Session(11), bytes, &put).ok()) {
        acked.emplace_back(put.blob_id(), bytes);
        ++acked_count;
      }
    }
  });
  ASSERT_TRUE(WaitFor([&] { return acked_count >= 20; }, std::chrono::seconds(30)));
  blobd_->process->Signal(SIGKILL);
  blobd_->process->Wait(std::chrono::seconds(10));
  stop = true;
  writer.join();
  Start();
  ASSERT_GE(acked.size(), 20u);
  for (const auto& [id, bytes] : acked) {
    std::string got;
    ASSERT_TRUE(Get(Session(11), id, Grant(id, 11), {}, &got).ok()) << id;
    EXPECT_EQ(got, bytes + "|");
  }
  // Nothing half-written is left where blobs live.
  for (const auto& e : std::filesystem::directory_iterator(dir_->path() + "/blobs/tmp")) {
    ADD_FAILURE() << "left in tmp: " << e.path();
  }
}

}  // namespace
}  // namespace tern::blob
