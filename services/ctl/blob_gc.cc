#include "services/ctl/blob_gc.h"

#include <deque>

#include "services/common/credentials.h"
#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::ctl {
namespace {

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

void Prepare(grpc::ClientContext& ctx, const std::string& token, absl::Duration deadline) {
  ctx.AddMetadata(common::kServiceTokenKey, token);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
}

// The reference stream, read one batch at a time.
class References {
 public:
  References(metadata::v1::MetadataService::Stub& metad, const std::string& token,
             absl::Duration window, absl::Duration deadline) {
    Prepare(ctx_, token, deadline);
    metadata::v1::ListBlobReferencesRequest req;
    req.mutable_include_expunged_within()->set_seconds(absl::ToInt64Seconds(window));
    reader_ = metad.ListBlobReferences(&ctx_, req);
  }

  // The smallest referenced id >= id is `id` itself?
  bool Contains(const std::string& id) {
    while (true) {
      while (!pending_.empty() && pending_.front() < id) pending_.pop_front();
      if (!pending_.empty()) return pending_.front() == id;
      if (done_) return false;
      metadata::v1::ListBlobReferencesResponse batch;
      if (!reader_->Read(&batch)) {
        done_ = true;
        status_ = reader_->Finish();
        return false;
      }
      for (const auto& r : batch.references()) pending_.push_back(r.blob_id());
    }
  }

  // After the sweep: did the whole stream arrive? A failed mark must never sweep.
  grpc::Status status() const { return status_; }
  bool done() const { return done_; }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<metadata::v1::ListBlobReferencesResponse>> reader_;
  std::deque<std::string> pending_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace

absl::StatusOr<BlobGcStats> RunBlobGc(metadata::v1::MetadataService::Stub& metad,
                                      blob::v1::BlobService::Stub& blobd,
                                      const std::string& service_token, absl::Duration grace,
                                      absl::Duration call_deadline) {
  const absl::Time t0 = absl::Now();
  const absl::Time cutoff = t0 - grace;
  BlobGcStats stats;
  // Mark: started before the sweep lists anything, so every reference committed before
  // t0 is in it (the stream is one snapshot).
  References refs(metad, service_token, std::max(grace, absl::Hours(24)), call_deadline);
  std::string page_token;
  do {
    grpc::ClientContext ctx;
    Prepare(ctx, service_token, call_deadline);
    blob::v1::ListRequest list;
    list.set_page_token(page_token);
    SetTime(list.mutable_last_put_before(), cutoff);
    list.set_page_size(10000);
    auto reader = blobd.List(&ctx, list);
    blob::v1::ListResponse batch;
    page_token.clear();
    std::vector<std::string> candidates;
    while (reader->Read(&batch)) {
      for (const auto& b : batch.blobs()) {
        ++stats.listed;
        if (refs.Contains(b.blob_id())) {
          ++stats.referenced;
        } else {
          candidates.push_back(b.blob_id());
        }
      }
      if (!batch.next_page_token().empty()) page_token = batch.next_page_token();
    }
    if (grpc::Status s = reader->Finish(); !s.ok()) {
      return absl::UnavailableError(Cat("blobd List: ", s.error_message()));
    }
    // A reference stream that broke off says nothing about the blobs after it.
    if (refs.done() && !refs.status().ok()) {
      return absl::UnavailableError(
          Cat("metad ListBlobReferences: ", refs.status().error_message()));
    }
    for (const std::string& id : candidates) {
      grpc::ClientContext del_ctx;
      Prepare(del_ctx, service_token, call_deadline);
      blob::v1::DeleteRequest del;
      del.set_blob_id(id);
      SetTime(del.mutable_unless_put_after(), cutoff);
      blob::v1::DeleteResponse resp;
      grpc::Status s = blobd.Delete(&del_ctx, del, &resp);
      if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        ++stats.spared;
      } else if (!s.ok()) {
        return absl::UnavailableError(Cat("blobd Delete: ", s.error_message()));
      } else if (resp.deleted()) {
        ++stats.deleted;
      }
    }
  } while (!page_token.empty());
  common::LogInfo("blob gc done", {{"listed", stats.listed},
                                   {"referenced", stats.referenced},
                                   {"deleted", stats.deleted},
                                   {"spared", stats.spared}});
  return stats;
}

}  // namespace tern::ctl
