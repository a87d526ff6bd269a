#include "services/blob/fs_blob_backend.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/testing.h"

namespace tern::blob {
namespace {

// SHA-256("hello world\n")
constexpr char kHelloId[] = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

class FsBlobBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = FsBlobBackend::Open({.dir = dir_.path() + "/blobs", .max_blob_size = 1 << 20});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }

  absl::StatusOr<BlobWriter::Result> Put(std::string_view bytes,
                                         std::optional<std::string> expected = std::nullopt,
                                         size_t chunk = 7) {
    auto writer = backend_->NewWriter();
    if (!writer.ok()) return writer.status();
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      if (absl::Status s = (*writer)->Write(bytes.substr(i, chunk)); !s.ok()) return s;
    }
    return (*writer)->Commit(expected);
  }

  std::string ReadAll(const std::string& id, std::vector<ByteRange> ranges, absl::Status* status,
                      size_t chunk = 3) {
    std::string out;
    *status = backend_->Read(id, ranges, chunk,
                             [&](size_t index, uint64_t, std::string_view data, bool last) {
                               out += std::to_string(index) + ":" + std::string(data);
                               if (last) out += "|";
                               return true;
                             });
    return out;
  }

  size_t TmpFiles() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(dir_.path() + "/blobs/tmp")) {
      ++n;
    }
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<FsBlobBackend> backend_;
};

TEST_F(FsBlobBackendTest, StoresUnderSha256AndReadsRanges) {
  auto put = Put("hello world\n");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->info.id, kHelloId);
  EXPECT_EQ(put->info.size, 12u);
  EXPECT_FALSE(put->already_existed);
  EXPECT_TRUE(std::filesystem::exists(backend_->PathOf(kHelloId)));
  absl::Status s;
  EXPECT_EQ(ReadAll(kHelloId, {{0, 0}}, &s), "0:hel0:lo 0:wor0:ld\n|");
  EXPECT_TRUE(s.ok());
  // Ranges are clipped; one past the end yields one empty, final chunk.
  EXPECT_EQ(ReadAll(kHelloId, {{6, 5}, {10, 100}, {50, 1}}, &s, 64), "0:world|1:d\n|2:|");
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST_F(FsBlobBackendTest, IdenticalContentIsStoredOnceAndRefreshesLastPut) {
  ASSERT_TRUE(Put("hello world\n").ok());
  auto before = backend_->Stat(kHelloId);
  ASSERT_TRUE(before.ok() && before->has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto again = Put("hello world\n", std::nullopt, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_existed);
  EXPECT_GT(again->info.last_put_at, (*before)->last_put_at);
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST_F(FsBlobBackendTest, HashMismatchAndOversizeStoreNothing) {
  auto wrong = Put("hello world\n", std::string(64, '0'));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(backend_->PathOf(kHelloId)));
  auto right = Put("hello world\n", std::string(kHelloId));
  EXPECT_TRUE(right.ok());
  auto writer = backend_->NewWriter();
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Write(std::string(1 << 20, 'x')).ok());
  EXPECT_EQ((*writer)->Write("y").code(), absl::StatusCode::kResourceExhausted);
  writer->reset();
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST_F(FsBlobBackendTest, CorruptBlobIsReportedQuarantinedAndNeverServed) {
  ASSERT_TRUE(Put("hello world\n").ok());
  {
    std::ofstream f(backend_->PathOf(kHelloId), std::ios::binary | std::ios::trunc);
    f << "hello w0rld\n";
  }
  absl::Status s;
  const std::string served = ReadAll(kHelloId, {{0, 0}}, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(served, "");
  EXPECT_FALSE(std::filesystem::exists(backend_->PathOf(kHelloId)));
  EXPECT_FALSE(std::filesystem::is_empty(dir_.path() + "/blobs/quarantine"));
  // A fresh Put of the right bytes heals it.
  ASSERT_TRUE(Put("hello world\n").ok());
  EXPECT_EQ(ReadAll(kHelloId, {{0, 5}}, &s, 64), "0:hello|");
}

TEST_F(FsBlobBackendTest, CorruptionAfterAVerifiedReadIsStillCaught) {
  ASSERT_TRUE(Put("hello world\n").ok());
  absl::Status s;
  ReadAll(kHelloId, {{0, 0}}, &s);
  ASSERT_TRUE(s.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::ofstream f(backend_->PathOf(kHelloId), std::ios::binary | std::ios::trunc);
    f << "HELLO WORLD\n";
  }
  ReadAll(kHelloId, {{0, 0}}, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
}

TEST_F(FsBlobBackendTest, MissingBlobIsNotFound) {
  absl::Status s;
  ReadAll(std::string(64, 'a'), {{0, 0}}, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  auto stat = backend_->Stat(std::string(64, 'a'));
  ASSERT_TRUE(stat.ok());
  EXPECT_FALSE(stat->has_value());
}

TEST_F(FsBlobBackendTest, ListsAscendingWithPagingAndTimeFilter) {
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto put = Put("message " + std::to_string(i));
    ASSERT_TRUE(put.ok());
    ids.push_back(put->info.id);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> listed;
  std::string after;
  for (;;) {
    auto page = backend_->List(after, absl::InfiniteFuture(), 6);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    for (const BlobInfo& b : *page) listed.push_back(b.id);
    after = page->back().id;
  }
  EXPECT_EQ(listed, ids);
  auto none = backend_->List("", absl::Now() - absl::Hours(1), 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(FsBlobBackendTest, DeleteSparesRecentlyPutBlobs) {
  ASSERT_TRUE(Put("hello world\n").ok());
  EXPECT_EQ(backend_->Delete(kHelloId, absl::Now() - absl::Hours(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(backend_->PathOf(kHelloId)));
  auto deleted = backend_->Delete(kHelloId, absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  auto again = backend_->Delete(kHelloId, absl::Now());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

TEST_F(FsBlobBackendTest, OpenRemovesInterruptedUploads) {
  // What a crash in the middle of a Put leaves behind.
  testing::WriteFile(dir_.path() + "/blobs/tmp/put-AbC123", "half a message");
  EXPECT_EQ(TmpFiles(), 1u);
  auto reopened = FsBlobBackend::Open({.dir = dir_.path() + "/blobs"});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST(BlobIdTest, AcceptsOnlyLowercaseSha256Hex) {
  EXPECT_TRUE(IsBlobId(kHelloId));
  EXPECT_FALSE(IsBlobId(std::string(kHelloId).substr(1)));
  EXPECT_FALSE(IsBlobId(std::string(64, 'A')));
  EXPECT_FALSE(IsBlobId("../../etc/passwd"));
}

}  // namespace
}  // namespace tern::blob
