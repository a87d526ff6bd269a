#include "services/metadata/metadata_service.h"

#include "services/common/grpc_status.h"
#include "services/metadata/uid_set.h"

namespace tern::metadata {
namespace {

constexpr size_t kFetchBatch = 1000;
constexpr size_t kFetchBatchBytes = 1 << 20;
constexpr int kChangesBatch = 10000;

}  // namespace

absl::StatusOr<uint64_t> MetadataServiceImpl::User(const grpc::ServerContext& ctx,
                                                   bool allow_deliver) const {
  absl::StatusOr<common::Caller> caller = callers_.Authenticate(ctx);
  if (!caller.ok()) return caller.status();
  if (caller->kind == common::Caller::Kind::kSession ||
      (allow_deliver && caller->kind == common::Caller::Kind::kDeliver)) {
    return caller->user_id;
  }
  return absl::PermissionDeniedError("this credential cannot do that");
}

grpc::Status MetadataServiceImpl::Fail(grpc::ServerContext* ctx, const absl::Status& status) const {
  if (const v1::ErrorReason reason = ReasonOf(status); reason != v1::ERROR_REASON_UNSPECIFIED) {
    ctx->AddTrailingMetadata("tern-error-reason", v1::ErrorReason_Name(reason));
  }
  return common::ToGrpc(status);
}

grpc::Status MetadataServiceImpl::CreateMailbox(grpc::ServerContext* ctx,
                                                const v1::CreateMailboxRequest* req,
                                                v1::Mailbox* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::Mailbox> m = store_.CreateMailbox(user, *req, notices);
  if (m.ok()) notifier_.Publish(notices);
  if (!m.ok()) return Fail(ctx, m.status());
  *resp = *std::move(m);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::DeleteMailbox(grpc::ServerContext* ctx,
                                                const v1::DeleteMailboxRequest* req,
                                                v1::DeleteMailboxResponse*) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::Status s = store_.DeleteMailbox(user, req->name(), notices);
  if (s.ok()) notifier_.Publish(notices);
  return s.ok() ? grpc::Status::OK : Fail(ctx, s);
}

grpc::Status MetadataServiceImpl::RenameMailbox(grpc::ServerContext* ctx,
                                                const v1::RenameMailboxRequest* req,
                                                v1::Mailbox* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::Mailbox> m =
      store_.RenameMailbox(user, req->old_name(), req->new_name(), notices);
  if (m.ok()) notifier_.Publish(notices);
  if (!m.ok()) return Fail(ctx, m.status());
  *resp = *std::move(m);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::ListMailboxes(grpc::ServerContext* ctx,
                                                const v1::ListMailboxesRequest* req,
                                                v1::ListMailboxesResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<v1::ListMailboxesResponse> list = store_.ListMailboxes(user, *req);
  if (!list.ok()) return Fail(ctx, list.status());
  *resp = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::Subscribe(grpc::ServerContext* ctx,
                                            const v1::SubscribeRequest* req,
                                            v1::SubscribeResponse*) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::Status s = store_.SetSubscribed(user, req->name(), true, notices);
  return s.ok() ? grpc::Status::OK : Fail(ctx, s);
}

grpc::Status MetadataServiceImpl::Unsubscribe(grpc::ServerContext* ctx,
                                              const v1::UnsubscribeRequest* req,
                                              v1::UnsubscribeResponse*) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::Status s = store_.SetSubscribed(user, req->name(), false, notices);
  return s.ok() ? grpc::Status::OK : Fail(ctx, s);
}

grpc::Status MetadataServiceImpl::GetStatus(grpc::ServerContext* ctx,
                                            const v1::GetStatusRequest* req,
                                            v1::MailboxStatus* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  std::vector<v1::StatusItem> items;
  for (int i : req->items()) items.push_back(static_cast<v1::StatusItem>(i));
  absl::StatusOr<v1::MailboxStatus> s = store_.GetStatus(user, req->name(), items);
  if (!s.ok()) return Fail(ctx, s.status());
  *resp = *std::move(s);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::SelectMailbox(grpc::ServerContext* ctx,
                                                const v1::SelectMailboxRequest* req,
                                                grpc::ServerWriter<v1::SelectChunk>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<std::vector<v1::SelectChunk>> chunks = store_.Select(user, *req);
  if (!chunks.ok()) return Fail(ctx, chunks.status());
  for (const v1::SelectChunk& chunk : *chunks) {
    if (!writer->Write(chunk)) return {grpc::StatusCode::CANCELLED, "client went away"};
  }
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::FetchMessages(
    grpc::ServerContext* ctx, const v1::FetchMessagesRequest* req,
    grpc::ServerWriter<v1::FetchMessagesResponse>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<std::vector<v1::MessageMeta>> metas = store_.Fetch(user, *req, notices);
  if (metas.ok()) notifier_.Publish(notices);
  if (!metas.ok()) return Fail(ctx, metas.status());
  v1::FetchMessagesResponse batch;
  size_t bytes = 0;
  for (v1::MessageMeta& meta : *metas) {
    bytes += meta.ByteSizeLong();
    *batch.add_messages() = std::move(meta);
    if (static_cast<size_t>(batch.messages_size()) >= kFetchBatch || bytes >= kFetchBatchBytes) {
      if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
      batch.Clear();
      bytes = 0;
    }
  }
  if (batch.messages_size() > 0 && !writer->Write(batch)) {
    return {grpc::StatusCode::CANCELLED, "client went away"};
  }
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::StoreFlags(grpc::ServerContext* ctx,
                                             const v1::StoreFlagsRequest* req,
                                             grpc::ServerWriter<v1::StoreFlagsResponse>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::StoreFlagsResponse> result = store_.StoreFlags(user, *req, notices);
  if (result.ok()) notifier_.Publish(notices);
  if (!result.ok()) return Fail(ctx, result.status());
  // At most kChangesBatch updates per message; the last one carries the summary.
  v1::StoreFlagsResponse batch;
  for (int i = 0; i < result->updated_size(); ++i) {
    *batch.add_updated() = result->updated(i);
    if (batch.updated_size() == kChangesBatch && i + 1 < result->updated_size()) {
      if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
      batch.Clear();
    }
  }
  *batch.mutable_modified() = result->modified();
  batch.set_highest_modseq(result->highest_modseq());
  batch.set_done(true);
  writer->Write(batch);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::CopyMessages(grpc::ServerContext* ctx,
                                               const v1::CopyMessagesRequest* req,
                                               v1::CopyMessagesResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::MoveMessagesResponse> r =
      store_.CopyOrMove(user, req->source_mailbox_id(), req->source_uidvalidity(), req->uid_set(),
                        req->destination(), req->idempotency_key(), false, notices);
  if (r.ok()) notifier_.Publish(notices);
  if (!r.ok()) return Fail(ctx, r.status());
  *resp->mutable_copy_uid() = r->copy_uid();
  resp->set_destination_highest_modseq(r->destination_highest_modseq());
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::MoveMessages(grpc::ServerContext* ctx,
                                               const v1::MoveMessagesRequest* req,
                                               v1::MoveMessagesResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::MoveMessagesResponse> r =
      store_.CopyOrMove(user, req->source_mailbox_id(), req->source_uidvalidity(), req->uid_set(),
                        req->destination(), req->idempotency_key(), true, notices);
  if (r.ok()) notifier_.Publish(notices);
  if (!r.ok()) return Fail(ctx, r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::Expunge(grpc::ServerContext* ctx, const v1::ExpungeRequest* req,
                                          v1::ExpungeResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::ExpungeResponse> r = store_.Expunge(user, *req, notices);
  if (r.ok()) notifier_.Publish(notices);
  if (!r.ok()) return Fail(ctx, r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::AppendMessages(grpc::ServerContext* ctx,
                                                 const v1::AppendMessagesRequest* req,
                                                 v1::AppendMessagesResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx, /*allow_deliver=*/true);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  Notices notices;
  absl::StatusOr<v1::AppendMessagesResponse> r = store_.Append(user, *req, notices);
  if (r.ok()) notifier_.Publish(notices);
  if (!r.ok()) return Fail(ctx, r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::GetChanges(grpc::ServerContext* ctx,
                                             const v1::GetChangesRequest* req,
                                             grpc::ServerWriter<v1::GetChangesResponse>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<v1::GetChangesResponse> r = store_.GetChanges(user, *req);
  if (!r.ok()) return Fail(ctx, r.status());
  v1::GetChangesResponse batch;
  for (int i = 0; i < r->changed_size(); ++i) {
    *batch.add_changed() = r->changed(i);
    if (batch.changed_size() == kChangesBatch) {
      if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
      batch.Clear();
    }
  }
  *batch.mutable_vanished() = r->vanished();
  *batch.mutable_summary() = r->summary();
  writer->Write(batch);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::GetQuota(grpc::ServerContext* ctx, const v1::GetQuotaRequest* req,
                                           v1::GetQuotaResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  if (!req->root().empty()) {
    return Fail(ctx, ReasonError(absl::StatusCode::kNotFound, v1::ERROR_REASON_NONEXISTENT,
                                 "the only quota root is \"\""));
  }
  absl::StatusOr<v1::QuotaRoot> q = store_.GetQuota(user);
  if (!q.ok()) return Fail(ctx, q.status());
  *resp->mutable_quota() = *std::move(q);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::GetQuotaRoot(grpc::ServerContext* ctx,
                                               const v1::GetQuotaRootRequest* req,
                                               v1::GetQuotaRootResponse* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  if (absl::Status s = store_.CheckMailboxExists(user, req->mailbox()); !s.ok()) {
    return Fail(ctx, s);
  }
  absl::StatusOr<v1::QuotaRoot> q = store_.GetQuota(user);
  if (!q.ok()) return Fail(ctx, q.status());
  resp->set_mailbox(req->mailbox());
  resp->add_roots("");
  *resp->add_quotas() = *std::move(q);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::SetQuota(grpc::ServerContext* ctx, const v1::SetQuotaRequest* req,
                                           v1::SetQuotaResponse* resp) {
  absl::StatusOr<common::Caller> caller = callers_.Authenticate(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  if (caller->kind != common::Caller::Kind::kAdmin) {
    return {grpc::StatusCode::PERMISSION_DENIED, "SetQuota needs the admin credential"};
  }
  absl::StatusOr<v1::QuotaRoot> q = store_.SetQuota(*req);
  if (!q.ok()) return Fail(ctx, q.status());
  *resp->mutable_quota() = *std::move(q);
  return grpc::Status::OK;
}

namespace {
absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}
}  // namespace

grpc::Status MetadataServiceImpl::AcquireMaildropLock(grpc::ServerContext* ctx,
                                                      const v1::AcquireMaildropLockRequest* req,
                                                      v1::MaildropLease* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<v1::MaildropLease> lease =
      store_.AcquireMaildrop(user, req->holder_id(), FromProto(req->lease()), false);
  if (!lease.ok()) return Fail(ctx, lease.status());
  *resp = *std::move(lease);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::RenewMaildropLock(grpc::ServerContext* ctx,
                                                    const v1::RenewMaildropLockRequest* req,
                                                    v1::MaildropLease* resp) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<v1::MaildropLease> lease =
      store_.AcquireMaildrop(user, req->holder_id(), FromProto(req->lease()), true);
  if (!lease.ok()) return Fail(ctx, lease.status());
  *resp = *std::move(lease);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::ReleaseMaildropLock(grpc::ServerContext* ctx,
                                                      const v1::ReleaseMaildropLockRequest* req,
                                                      v1::ReleaseMaildropLockResponse*) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::Status s = store_.ReleaseMaildrop(user, req->holder_id());
  return s.ok() ? grpc::Status::OK : Fail(ctx, s);
}

grpc::Status MetadataServiceImpl::SearchMessages(
    grpc::ServerContext* ctx, const v1::SearchMessagesRequest* req,
    grpc::ServerWriter<v1::SearchMessagesResponse>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<std::pair<std::vector<uint32_t>, v1::SearchSummary>> result =
      store_.Search(user, *req, raw_loader_);
  if (!result.ok()) return Fail(ctx, result.status());
  const bool send_uids =
      !req->has_return_options() || req->return_options().all() || req->return_options().save();
  v1::SearchMessagesResponse batch;
  if (send_uids) {
    // Batches of at most 10000 UIDs, each a compact set.
    const std::vector<uint32_t>& uids = result->first;
    for (size_t i = 0; i < uids.size(); i += kChangesBatch) {
      const size_t end = std::min(uids.size(), i + kChangesBatch);
      batch.mutable_uids()->CopyFrom(UidSetOf(std::vector<uint32_t>(
          uids.begin() + static_cast<long>(i), uids.begin() + static_cast<long>(end))));
      if (end < uids.size()) {
        if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
        batch.Clear();
      }
    }
  }
  *batch.mutable_summary() = result->second;
  writer->Write(batch);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::SortMessages(
    grpc::ServerContext* ctx, const v1::SortMessagesRequest* req,
    grpc::ServerWriter<v1::SortMessagesResponse>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<std::vector<uint32_t>> uids = store_.Sort(user, *req, raw_loader_);
  if (!uids.ok()) return Fail(ctx, uids.status());
  constexpr size_t kBatch = 65536;
  v1::SortMessagesResponse batch;
  for (size_t i = 0; i < uids->size(); ++i) {
    batch.add_uids((*uids)[i]);
    if (static_cast<size_t>(batch.uids_size()) == kBatch && i + 1 < uids->size()) {
      if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
      batch.Clear();
    }
  }
  writer->Write(batch);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::ThreadMessages(
    grpc::ServerContext* ctx, const v1::ThreadMessagesRequest* req,
    grpc::ServerWriter<v1::ThreadMessagesResponse>* writer) {
  absl::StatusOr<uint64_t> caller = User(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  const uint64_t user = *caller;
  absl::StatusOr<std::vector<v1::ThreadNode>> nodes = store_.Thread(user, *req, raw_loader_);
  if (!nodes.ok()) return Fail(ctx, nodes.status());
  constexpr int kBatch = 65536;
  v1::ThreadMessagesResponse batch;
  for (size_t i = 0; i < nodes->size(); ++i) {
    *batch.add_nodes() = (*nodes)[i];
    if (batch.nodes_size() == kBatch && i + 1 < nodes->size()) {
      if (!writer->Write(batch)) return {grpc::StatusCode::CANCELLED, "client went away"};
      batch.Clear();
    }
  }
  writer->Write(batch);
  return grpc::Status::OK;
}

grpc::Status MetadataServiceImpl::ListBlobReferences(
    grpc::ServerContext* ctx, const v1::ListBlobReferencesRequest* req,
    grpc::ServerWriter<v1::ListBlobReferencesResponse>* writer) {
  absl::StatusOr<common::Caller> caller = callers_.Authenticate(*ctx);
  if (!caller.ok()) return Fail(ctx, caller.status());
  if (caller->kind != common::Caller::Kind::kService &&
      caller->kind != common::Caller::Kind::kAdmin) {
    return {grpc::StatusCode::PERMISSION_DENIED, "needs the service or admin credential"};
  }
  const absl::Duration window = FromProto(req->include_expunged_within());
  if (window < gc_min_expunged_window_) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "include_expunged_within is shorter than the configured minimum"};
  }
  constexpr size_t kBatch = 10000;
  std::string after = req->start_after();
  bool first = true;
  for (;;) {
    absl::StatusOr<std::vector<v1::BlobReference>> refs =
        store_.BlobReferences(after, window, kBatch);
    if (!refs.ok()) return Fail(ctx, refs.status());
    v1::ListBlobReferencesResponse batch;
    if (first) {
      const int64_t now = absl::ToUnixSeconds(absl::Now());
      batch.mutable_snapshot_time()->set_seconds(now);
      first = false;
    }
    for (v1::BlobReference& r : *refs) *batch.add_references() = std::move(r);
    if (!refs->empty()) after = batch.references(batch.references_size() - 1).blob_id();
    if ((!refs->empty() || batch.has_snapshot_time()) && !writer->Write(batch)) {
      return {grpc::StatusCode::CANCELLED, "client went away"};
    }
    if (refs->size() < kBatch || ctx->IsCancelled()) break;
  }
  return grpc::Status::OK;
}

}  // namespace tern::metadata
