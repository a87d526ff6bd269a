#include "services/metadata/blob_loader.h"

#include "services/common/credentials.h"
#include "services/common/grpc_client.h"
#include "services/common/strings.h"

namespace tern::metadata {

RawLoader BlobdLoader(blob::v1::BlobService::Stub& blobd, std::string service_token) {
  return [&blobd, token = std::move(service_token)](
             const std::string& blob_id) -> absl::StatusOr<std::string> {
    std::string bytes;
    const grpc::Status s =
        common::CallWithRetry(common::CallPolicy{.deadline = absl::Seconds(30), .idempotent = true},
                              {}, [&](grpc::ClientContext& ctx) {
                                ctx.AddMetadata(common::kServiceTokenKey, token);
                                blob::v1::GetRequest req;
                                req.set_blob_id(blob_id);
                                auto reader = blobd.Get(&ctx, req);
                                bytes.clear();
                                blob::v1::GetResponse chunk;
                                while (reader->Read(&chunk)) bytes += chunk.data();
                                return reader->Finish();
                              });
    if (!s.ok()) return absl::UnavailableError(Cat("blobd: ", s.error_message()));
    return bytes;
  };
}

}  // namespace tern::metadata
