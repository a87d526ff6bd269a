#include "services/blob/blob_service.h"

#include "services/common/grpc_status.h"
#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::blob {
namespace {

using common::Caller;
using common::ToGrpc;

constexpr char kErrorReasonKey[] = "tern-error-reason";
constexpr char kGrantDomain[] = "tern-blob-grant-v1";
constexpr size_t kMaxChunk = 1 << 20;
constexpr int kMaxRanges = 64;
constexpr uint32_t kDefaultListPage = 100000;
constexpr size_t kListBatch = 10000;
constexpr absl::Duration kSkew = absl::Seconds(30);

grpc::Status Fail(grpc::ServerContext* ctx, grpc::StatusCode code, v1::ErrorReason reason,
                  std::string message) {
  if (reason != v1::ERROR_REASON_UNSPECIFIED) {
    ctx->AddTrailingMetadata(kErrorReasonKey, v1::ErrorReason_Name(reason));
  }
  return {code, std::move(message)};
}

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProto(const BlobInfo& info, v1::BlobInfo* out) {
  out->set_blob_id(info.id);
  out->set_size(info.size);
  SetTime(out->mutable_created_at(), info.created_at);
  SetTime(out->mutable_last_put_at(), info.last_put_at);
}

}  // namespace

grpc::Status BlobServiceImpl::CheckRead(grpc::ServerContext* ctx, const std::string& blob_id,
                                        const std::string& grant_bytes) {
  absl::StatusOr<Caller> caller = auth_.Authenticate(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!IsBlobId(blob_id)) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "blob_id must be 64 lowercase hex digits"};
  }
  if (caller->kind == Caller::Kind::kService || caller->kind == Caller::Kind::kAdmin) {
    return grpc::Status::OK;
  }
  if (caller->kind != Caller::Kind::kSession) {
    return Fail(ctx, grpc::StatusCode::PERMISSION_DENIED, v1::ERROR_REASON_GRANT_REQUIRED,
                "this credential cannot read blobs");
  }
  // Invariant 4: blobs are shared by deduplication, so only metad's grant proves that this
  // user has a message referencing this blob.
  if (grant_bytes.empty()) {
    return Fail(ctx, grpc::StatusCode::PERMISSION_DENIED, v1::ERROR_REASON_GRANT_REQUIRED,
                "a blob grant is required");
  }
  v1::BlobGrant grant;
  v1::BlobGrantClaims claims;
  const std::string* key = nullptr;
  if (!grant.ParseFromString(grant_bytes) || !claims.ParseFromString(grant.claims()) ||
      (key = options_.capability_keys.Find(grant.key_id())) == nullptr ||
      !common::ConstantTimeEquals(common::CapabilitySignature(*key, kGrantDomain, grant.claims()),
                                  grant.signature()) ||
      claims.blob_id() != blob_id || claims.user_id() != caller->user_id) {
    return Fail(ctx, grpc::StatusCode::PERMISSION_DENIED, v1::ERROR_REASON_GRANT_INVALID,
                "blob grant refused");
  }
  if (FromProto(claims.expires_at()) + kSkew < absl::Now()) {
    return Fail(ctx, grpc::StatusCode::PERMISSION_DENIED, v1::ERROR_REASON_GRANT_EXPIRED,
                "blob grant expired");
  }
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::Put(grpc::ServerContext* ctx,
                                  grpc::ServerReader<v1::PutRequest>* reader,
                                  v1::PutResponse* resp) {
  absl::StatusOr<Caller> caller = auth_.Authenticate(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  v1::PutRequest msg;
  if (!reader->Read(&msg) || !msg.has_header()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "a Put stream starts with its header"};
  }
  const v1::PutHeader header = msg.header();
  if (header.has_expected_sha256() && !IsBlobId(header.expected_sha256())) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "expected_sha256 is not 64 lowercase hex digits"};
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> writer = backend_.NewWriter();
  if (!writer.ok()) return ToGrpc(writer.status());
  uint64_t received = 0;
  while (reader->Read(&msg)) {
    if (msg.has_header()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "a second header in one Put stream"};
    }
    if (msg.data().size() > kMaxChunk) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "a Put chunk is larger than 1 MiB"};
    }
    if (absl::Status s = (*writer)->Write(msg.data()); !s.ok()) {
      if (s.code() == absl::StatusCode::kResourceExhausted) {
        return Fail(ctx, grpc::StatusCode::RESOURCE_EXHAUSTED, v1::ERROR_REASON_TOO_LARGE,
                    std::string(s.message()));
      }
      return ToGrpc(s);
    }
    received += msg.data().size();
  }
  if (ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "client cancelled the Put"};
  if (header.has_expected_size() && header.expected_size() != received) {
    return Fail(ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_REASON_SIZE_MISMATCH,
                Cat("received ", received, " octets, expected ", header.expected_size()));
  }
  std::optional<std::string> expected;
  if (header.has_expected_sha256()) expected = header.expected_sha256();
  absl::StatusOr<BlobWriter::Result> result = (*writer)->Commit(expected);
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kDataLoss) {
      return Fail(ctx, grpc::StatusCode::DATA_LOSS, v1::ERROR_REASON_HASH_MISMATCH,
                  std::string(result.status().message()));
    }
    return ToGrpc(result.status());
  }
  resp->set_blob_id(result->info.id);
  resp->set_size(result->info.size);
  resp->set_already_existed(result->already_existed);
  if (!options_.capability_keys.empty()) {
    const absl::Time now = absl::Now();
    const absl::Time expires = now + options_.put_receipt_ttl;
    resp->set_put_receipt(common::IssuePutReceipt(options_.capability_keys, result->info.id,
                                                  result->info.size, now, expires));
    SetTime(resp->mutable_put_receipt_expires_at(), expires);
  }
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                                  grpc::ServerWriter<v1::GetResponse>* writer) {
  if (grpc::Status s = CheckRead(ctx, req->blob_id(), req->blob_grant()); !s.ok()) return s;
  if (req->ranges_size() > kMaxRanges) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "more than 64 ranges"};
  }
  std::vector<ByteRange> ranges;
  for (const v1::ByteRange& r : req->ranges()) ranges.push_back({r.offset(), r.length()});
  if (ranges.empty()) ranges.push_back({0, 0});
  absl::StatusOr<std::optional<BlobInfo>> info = backend_.Stat(req->blob_id());
  if (!info.ok()) return ToGrpc(info.status());
  if (!info->has_value()) return {grpc::StatusCode::NOT_FOUND, "no such blob"};
  bool first = true;
  bool write_failed = false;
  const absl::Status s =
      backend_.Read(req->blob_id(), ranges, options_.get_chunk,
                    [&](size_t index, uint64_t offset, std::string_view data, bool last) {
                      v1::GetResponse chunk;
                      chunk.set_range_index(static_cast<uint32_t>(index));
                      chunk.set_offset(offset);
                      chunk.set_data(std::string(data));
                      chunk.set_last_in_range(last);
                      if (first) chunk.set_blob_size((*info)->size);
                      first = false;
                      if (!writer->Write(chunk)) write_failed = true;
                      return !write_failed && !ctx->IsCancelled();
                    });
  if (s.code() == absl::StatusCode::kDataLoss) {
    return Fail(ctx, grpc::StatusCode::DATA_LOSS, v1::ERROR_REASON_CORRUPT,
                std::string(s.message()));
  }
  if (!s.ok()) return ToGrpc(s);
  if (write_failed || ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "client went away"};
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::Stat(grpc::ServerContext* ctx, const v1::StatRequest* req,
                                   v1::StatResponse* resp) {
  if (grpc::Status s = CheckRead(ctx, req->blob_id(), req->blob_grant()); !s.ok()) return s;
  absl::StatusOr<std::optional<BlobInfo>> info = backend_.Stat(req->blob_id());
  if (!info.ok()) return ToGrpc(info.status());
  resp->set_exists(info->has_value());
  if (info->has_value()) {
    resp->set_size((*info)->size);
    SetTime(resp->mutable_created_at(), (*info)->created_at);
    SetTime(resp->mutable_last_put_at(), (*info)->last_put_at);
  }
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                                     v1::DeleteResponse* resp) {
  absl::StatusOr<Caller> caller = auth_.Authenticate(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (caller->kind != Caller::Kind::kService && caller->kind != Caller::Kind::kAdmin) {
    return {grpc::StatusCode::PERMISSION_DENIED, "Delete needs a service or admin credential"};
  }
  if (!IsBlobId(req->blob_id())) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "blob_id must be 64 lowercase hex digits"};
  }
  if (!req->has_unless_put_after()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "unless_put_after is required"};
  }
  absl::StatusOr<bool> deleted =
      backend_.Delete(req->blob_id(), FromProto(req->unless_put_after()));
  if (deleted.status().code() == absl::StatusCode::kFailedPrecondition) {
    return Fail(ctx, grpc::StatusCode::FAILED_PRECONDITION, v1::ERROR_REASON_RECENTLY_PUT,
                std::string(deleted.status().message()));
  }
  if (!deleted.ok()) return ToGrpc(deleted.status());
  resp->set_deleted(*deleted);
  if (*deleted) common::LogInfo("blob deleted", {{"blob_id", req->blob_id()}});
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::List(grpc::ServerContext* ctx, const v1::ListRequest* req,
                                   grpc::ServerWriter<v1::ListResponse>* writer) {
  absl::StatusOr<Caller> caller = auth_.Authenticate(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (caller->kind != Caller::Kind::kService && caller->kind != Caller::Kind::kAdmin) {
    return {grpc::StatusCode::PERMISSION_DENIED, "List needs a service or admin credential"};
  }
  if (!req->page_token().empty() && !IsBlobId(req->page_token())) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "bad page_token"};
  }
  const size_t page = req->page_size() == 0 ? kDefaultListPage : req->page_size();
  const absl::Time before =
      req->has_last_put_before() ? FromProto(req->last_put_before()) : absl::InfiniteFuture();
  // One more than the page says whether another page follows.
  absl::StatusOr<std::vector<BlobInfo>> blobs = backend_.List(req->page_token(), before, page + 1);
  if (!blobs.ok()) return ToGrpc(blobs.status());
  const bool more = blobs->size() > page;
  if (more) blobs->pop_back();
  v1::ListResponse batch;
  for (size_t i = 0; i < blobs->size(); ++i) {
    ToProto((*blobs)[i], batch.add_blobs());
    const bool last = i + 1 == blobs->size();
    if (static_cast<size_t>(batch.blobs_size()) == kListBatch || last) {
      if (last && more) batch.set_next_page_token(blobs->back().id);
      if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
      batch.Clear();
    }
  }
  if (blobs->empty()) writer->Write(batch);  // one (empty) message ends the listing
  return grpc::Status::OK;
}

}  // namespace tern::blob
