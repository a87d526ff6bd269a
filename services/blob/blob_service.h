#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/blob/blob_backend.h"
#include "services/common/credentials.h"
#include "tern/blob/v1/blob.grpc.pb.h"

namespace tern::blob {

struct BlobServiceOptions {
  common::KeyRing capability_keys;  // signs PutReceipts, verifies BlobGrants
  absl::Duration put_receipt_ttl = absl::Hours(1);
  size_t get_chunk = 256 << 10;
};

// tern-blobd's gRPC service: Put, Get, Stat, Delete and List over a BlobBackend, with the
// credential rules of proto/tern/blob/v1/blob.proto (session/deliver tokens, grants,
// service and admin tokens).
class BlobServiceImpl final : public v1::BlobService::Service {
 public:
  BlobServiceImpl(BlobBackend& backend, const common::CallerAuthenticator& auth,
                  BlobServiceOptions options)
      : backend_(backend), auth_(auth), options_(std::move(options)) {}

  grpc::Status Put(grpc::ServerContext* ctx, grpc::ServerReader<v1::PutRequest>* reader,
                   v1::PutResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                   grpc::ServerWriter<v1::GetResponse>* writer) override;
  grpc::Status Stat(grpc::ServerContext* ctx, const v1::StatRequest* req,
                    v1::StatResponse* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                      v1::DeleteResponse* resp) override;
  grpc::Status List(grpc::ServerContext* ctx, const v1::ListRequest* req,
                    grpc::ServerWriter<v1::ListResponse>* writer) override;

 private:
  // Get and Stat: a service/admin caller, or a session whose grant covers blob_id.
  grpc::Status CheckRead(grpc::ServerContext* ctx, const std::string& blob_id,
                         const std::string& grant);

  BlobBackend& backend_;
  const common::CallerAuthenticator& auth_;
  BlobServiceOptions options_;
};

using common::IssueBlobGrant;

}  // namespace tern::blob
