#pragma once

#include "services/common/credentials.h"
#include "services/metadata/notifier.h"
#include "services/metadata/store.h"
#include "tern/metadata/v1/metadata.grpc.pb.h"

namespace tern::metadata {

// tern-metad's gRPC service: checks the caller's token (the user id comes only from it,
// invariant 4), calls the store, publishes the committed changes, and maps errors with
// their reason.
class MetadataServiceImpl final : public v1::MetadataService::Service {
 public:
  MetadataServiceImpl(MetadataStore& store, Notifier& notifier,
                      const common::CallerAuthenticator& callers,
                      absl::Duration gc_min_expunged_window = absl::Hours(24),
                      RawLoader raw_loader = nullptr)
      : store_(store),
        notifier_(notifier),
        callers_(callers),
        gc_min_expunged_window_(gc_min_expunged_window),
        raw_loader_(std::move(raw_loader)) {}

  grpc::Status CreateMailbox(grpc::ServerContext* ctx, const v1::CreateMailboxRequest* req,
                             v1::Mailbox* resp) override;
  grpc::Status DeleteMailbox(grpc::ServerContext* ctx, const v1::DeleteMailboxRequest* req,
                             v1::DeleteMailboxResponse* resp) override;
  grpc::Status RenameMailbox(grpc::ServerContext* ctx, const v1::RenameMailboxRequest* req,
                             v1::Mailbox* resp) override;
  grpc::Status ListMailboxes(grpc::ServerContext* ctx, const v1::ListMailboxesRequest* req,
                             v1::ListMailboxesResponse* resp) override;
  grpc::Status Subscribe(grpc::ServerContext* ctx, const v1::SubscribeRequest* req,
                         v1::SubscribeResponse* resp) override;
  grpc::Status Unsubscribe(grpc::ServerContext* ctx, const v1::UnsubscribeRequest* req,
                           v1::UnsubscribeResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::GetStatusRequest* req,
                         v1::MailboxStatus* resp) override;
  grpc::Status SelectMailbox(grpc::ServerContext* ctx, const v1::SelectMailboxRequest* req,
                             grpc::ServerWriter<v1::SelectChunk>* writer) override;
  grpc::Status FetchMessages(grpc::ServerContext* ctx, const v1::FetchMessagesRequest* req,
                             grpc::ServerWriter<v1::FetchMessagesResponse>* writer) override;
  grpc::Status StoreFlags(grpc::ServerContext* ctx, const v1::StoreFlagsRequest* req,
                          grpc::ServerWriter<v1::StoreFlagsResponse>* writer) override;
  grpc::Status CopyMessages(grpc::ServerContext* ctx, const v1::CopyMessagesRequest* req,
                            v1::CopyMessagesResponse* resp) override;
  grpc::Status MoveMessages(grpc::ServerContext* ctx, const v1::MoveMessagesRequest* req,
                            v1::MoveMessagesResponse* resp) override;
  grpc::Status Expunge(grpc::ServerContext* ctx, const v1::ExpungeRequest* req,
                       v1::ExpungeResponse* resp) override;
  grpc::Status AppendMessages(grpc::ServerContext* ctx, const v1::AppendMessagesRequest* req,
                              v1::AppendMessagesResponse* resp) override;
  grpc::Status GetChanges(grpc::ServerContext* ctx, const v1::GetChangesRequest* req,
                          grpc::ServerWriter<v1::GetChangesResponse>* writer) override;
  grpc::Status GetQuota(grpc::ServerContext* ctx, const v1::GetQuotaRequest* req,
                        v1::GetQuotaResponse* resp) override;
  grpc::Status GetQuotaRoot(grpc::ServerContext* ctx, const v1::GetQuotaRootRequest* req,
                            v1::GetQuotaRootResponse* resp) override;
  grpc::Status SetQuota(grpc::ServerContext* ctx, const v1::SetQuotaRequest* req,
                        v1::SetQuotaResponse* resp) override;
  grpc::Status AcquireMaildropLock(grpc::ServerContext* ctx,
                                   const v1::AcquireMaildropLockRequest* req,
                                   v1::MaildropLease* resp) override;
  grpc::Status RenewMaildropLock(grpc::ServerContext* ctx, const v1::RenewMaildropLockRequest* req,
                                 v1::MaildropLease* resp) override;
  grpc::Status ReleaseMaildropLock(grpc::ServerContext* ctx,
                                   const v1::ReleaseMaildropLockRequest* req,
                                   v1::ReleaseMaildropLockResponse* resp) override;
  grpc::Status SearchMessages(grpc::ServerContext* ctx, const v1::SearchMessagesRequest* req,
                              grpc::ServerWriter<v1::SearchMessagesResponse>* writer) override;
  grpc::Status SortMessages(grpc::ServerContext* ctx, const v1::SortMessagesRequest* req,
                            grpc::ServerWriter<v1::SortMessagesResponse>* writer) override;
  grpc::Status ThreadMessages(grpc::ServerContext* ctx, const v1::ThreadMessagesRequest* req,
                              grpc::ServerWriter<v1::ThreadMessagesResponse>* writer) override;
  grpc::Status ListBlobReferences(
      grpc::ServerContext* ctx, const v1::ListBlobReferencesRequest* req,
      grpc::ServerWriter<v1::ListBlobReferencesResponse>* writer) override;

 private:
  // The user of a SESSION token (or, with allow_deliver, a DELIVER token).
  absl::StatusOr<uint64_t> User(const grpc::ServerContext& ctx, bool allow_deliver = false) const;
  grpc::Status Fail(grpc::ServerContext* ctx, const absl::Status& status) const;

  MetadataStore& store_;
  Notifier& notifier_;
  const common::CallerAuthenticator& callers_;
  absl::Duration gc_min_expunged_window_;
  RawLoader raw_loader_;
};

}  // namespace tern::metadata
