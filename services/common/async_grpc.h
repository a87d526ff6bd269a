#pragma once

// gRPC's callback API as Asio awaitables for the protocol front-ends (DESIGN.md
// "Concurrency model"): a call is started from the session's coroutine, gRPC's callback posts the
// result back to the coroutine's executor, and the coroutine simply co_awaits it. No event-loop
// thread ever blocks on a call. Every call has a deadline and idempotent calls are retried with
// exponential backoff and jitter (invariant 6), exactly as CallWithRetry does for blocking callers.

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "services/common/grpc_client.h"

namespace tern::common {

// Calls that have not completed yet, so shutdown can cancel them and wait: a coroutine
// frame owning a ClientContext must outlive the call.
class CallTracker {
 public:
  void Add(grpc::ClientContext* ctx);
  void Remove(grpc::ClientContext* ctx);
  void CancelAll();
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<grpc::ClientContext*> calls_;
};
CallTracker& Calls();

namespace detail {

// Awaits one callback-API call started by `start(ctx, done)`.
template <typename Start>
asio::awaitable<grpc::Status> AwaitCallback(grpc::ClientContext* ctx, Start& start) {
  Calls().Add(ctx);
  grpc::Status status =
      co_await asio::async_initiate<decltype(asio::use_awaitable), void(grpc::Status)>(
          [ctx, &start](auto handler) {
            auto executor = asio::get_associated_executor(handler);
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            start(ctx, [shared, executor](grpc::Status s) {
              asio::post(executor,
                         [shared, s = std::move(s)]() mutable { (*shared)(std::move(s)); });
            });
          },
          asio::use_awaitable);
  Calls().Remove(ctx);
  co_return status;
}

std::mt19937_64& Rng();

}  // namespace detail

// The result of a call: its status and the machine-readable reason the service attached
// as trailing metadata `tern-error-reason` (empty when none).
struct Outcome {
  grpc::Status status;
  std::string reason;
  bool ok() const { return status.ok(); }
};

// Runs `start(ClientContext*, std::function<void(grpc::Status)>)` under `policy`: one
// deadline for all attempts, retries only for idempotent calls and retryable codes.
template <typename Start>
// GCC 12 destroys class temporaries in a co_await expression twice (and coroutine
// parameters of class type copied from them): pass `meta` as a named object, never as a
// temporary. The policy is trivially destructible and taken by value.
asio::awaitable<Outcome> Call(CallPolicy policy, const CallMeta& meta, Start start) {
  const absl::Time deadline = absl::Now() + policy.deadline;
  const std::string request_id = meta.request_id.empty() ? NewRequestId() : meta.request_id;
  Outcome outcome;
  for (int n = 1;; ++n) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    ctx.AddMetadata(kRequestIdKey, request_id);
    if (!meta.session_token.empty()) ctx.AddMetadata(kSessionTokenKey, meta.session_token);
    if (!meta.service_token.empty()) {
      ctx.AddMetadata(kServiceTokenKey, meta.service_token);
    }
    outcome.status = co_await detail::AwaitCallback(&ctx, start);
    outcome.reason.clear();
    if (!outcome.status.ok()) {
      const auto& trailers = ctx.GetServerTrailingMetadata();
      if (auto it = trailers.find("tern-error-reason"); it != trailers.end()) {
        outcome.reason.assign(it->second.data(), it->second.size());
      }
    }
    // RESOURCE_EXHAUSTED without a reason is a full work queue: the request was not
    // started, so even a non-idempotent call may be sent again (API conventions).
    const bool rejected = outcome.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                          outcome.reason.empty();
    const bool retry = rejected || (policy.idempotent && IsRetryable(outcome.status));
    if (outcome.ok() || !retry || n >= std::max(1, policy.max_attempts)) break;
    const absl::Duration delay = BackoffDelay(policy, n, detail::Rng());
    if (absl::Now() + delay >= deadline) break;
    asio::steady_timer timer(co_await asio::this_coro::executor, absl::ToChronoMicroseconds(delay));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return outcome;
}

// Collects every message of a server-streaming call, up to `max_messages` (the call is
// cancelled beyond it and ends RESOURCE_EXHAUSTED).
template <typename Resp>
class CollectReader : public grpc::ClientReadReactor<Resp> {
 public:
  explicit CollectReader(size_t max_messages) : max_(max_messages) {}

  // Starts the call (after `stub->async()->Method(ctx, &req, this)`).
  void Begin(std::function<void(grpc::Status)> done) {
    done_ = std::move(done);
    this->StartRead(&current_);
    this->StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (messages.size() >= max_) {
      overflow_ = true;
      context_->TryCancel();
      return;
    }
    messages.push_back(std::move(current_));
    current_.Clear();
    this->StartRead(&current_);
  }
  void OnDone(const grpc::Status& s) override {
    // The callback resumes the coroutine, which may destroy this reactor at once: take the
    // callback out of it first.
    auto done = std::move(done_);
    done(overflow_ ? grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many results") : s);
  }
  void set_context(grpc::ClientContext* ctx) { context_ = ctx; }

  std::vector<Resp> messages;

 private:
  const size_t max_;
  Resp current_;
  bool overflow_ = false;
  grpc::ClientContext* context_ = nullptr;
  std::function<void(grpc::Status)> done_;
};

// A server-streaming call collected into `out`. `begin(ctx, reader)` must call
// stub->async()->Method(ctx, &request, reader).
template <typename Resp, typename Begin>
asio::awaitable<Outcome> CallStream(CallPolicy policy, const CallMeta& meta, std::vector<Resp>& out,
                                    Begin begin, size_t max_messages = 1 << 20) {
  std::unique_ptr<CollectReader<Resp>> reader;
  Outcome outcome = co_await Call(
      policy, meta, [&](grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
        reader = std::make_unique<CollectReader<Resp>>(max_messages);
        reader->set_context(ctx);
        begin(ctx, reader.get());
        reader->Begin(std::move(done));
      });
  if (reader) out = std::move(reader->messages);
  co_return outcome;
}

// A client-streaming call writing `messages` in order, then WritesDone.
template <typename Req>
class WriteAll : public grpc::ClientWriteReactor<Req> {
 public:
  explicit WriteAll(const std::vector<Req>& messages) : messages_(messages) {}
  void Begin(std::function<void(grpc::Status)> done) {
    done_ = std::move(done);
    WriteNext();
    this->StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnDone(const grpc::Status& s) override {
    auto done = std::move(done_);  // see CollectReader::OnDone
    done(s);
  }

 private:
  void WriteNext() {
    if (next_ + 1 < messages_.size()) {
      this->StartWrite(&messages_[next_++]);
    } else if (next_ + 1 == messages_.size()) {
      this->StartWriteLast(&messages_[next_++], grpc::WriteOptions());
    } else if (messages_.empty() && !done_writes_) {
      done_writes_ = true;
      this->StartWritesDone();
    }
  }
  const std::vector<Req>& messages_;
  size_t next_ = 0;
  bool done_writes_ = false;
  std::function<void(grpc::Status)> done_;
};

}  // namespace tern::common
