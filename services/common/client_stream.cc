#include "services/common/client_stream.h"

#include <openssl/ssl.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

// co_await results are stored in named variables before they are tested: GCC 12
// miscompiles co_await inside conditions (see services/imap/server/session.cc).

namespace tern::common {
namespace {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
constexpr auto kUse = as_tuple(asio::use_awaitable);

}  // namespace

ClientStream::ClientStream(asio::ip::tcp::socket socket, asio::strand<asio::any_io_executor> strand)
    : strand_(std::move(strand)), socket_(std::move(socket)) {}

ClientStream::~ClientStream() = default;

bool ClientStream::TlsPending() const {
  if (!tls_) return false;
  SSL* ssl = tls_->native_handle();
  return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

bool ClientStream::HasBufferedInput() const { return in_pos_ < in_.size() || TlsPending(); }

void ClientStream::Compact() {
  if (in_pos_ == 0) return;
  in_.erase(0, in_pos_);
  in_pos_ = 0;
  if (in_.empty() && in_.capacity() > (64 << 10)) in_.shrink_to_fit();
}

asio::awaitable<ClientStream::Read> ClientStream::WaitSocket(Duration timeout) {
  asio::steady_timer timer(strand_, timeout);
  auto result =
      co_await (socket_.async_wait(asio::socket_base::wait_read, kUse) || timer.async_wait(kUse));
  if (result.index() == 1) co_return Read::kTimeout;
  co_return std::get<0>(std::get<0>(result)) ? Read::kClosed : Read::kData;
}

asio::awaitable<ClientStream::Read> ClientStream::ReadMore(Duration timeout) {
  for (;;) {
    // Unconsumed input does not count here: the caller wants more than it (a partial line).
    // Bytes inside the TLS layer do, as the socket may never become readable for them.
    const bool tls_pending = TlsPending();
    if (!tls_pending) {
      const Read ready = co_await WaitSocket(timeout);
      if (ready != Read::kData) co_return ready;
    }
    asio::error_code ec;
    size_t n = 0;
    if (tls_) {
      tls_buffer_.resize(16384);
      // A partial TLS record must not hang the session: the same timeout applies.
      asio::steady_timer timer(strand_, timeout);
      auto result = co_await (tls_->async_read_some(asio::buffer(tls_buffer_), kUse) ||
                              timer.async_wait(kUse));
      if (result.index() == 1) co_return Read::kTimeout;
      std::tie(ec, n) = std::get<0>(result);
      if (ec) co_return Read::kClosed;
      Compact();
      in_.append(tls_buffer_.data(), n);
      co_return Read::kData;
    }
    // Plaintext: read into a per-thread buffer once the socket is readable, so an idle
    // connection holds no read buffer at all.
    thread_local char buffer[16384];
    socket_.non_blocking(true, ec);
    n = socket_.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec) co_return Read::kClosed;
    Compact();
    in_.append(buffer, n);
    co_return Read::kData;
  }
}

asio::awaitable<bool> ClientStream::Write(std::string& out, Duration timeout) {
  if (out.empty()) co_return true;
  asio::steady_timer timer(strand_, timeout);
  bool ok = false;
  if (tls_) {
    auto result =
        co_await (asio::async_write(*tls_, asio::buffer(out), kUse) || timer.async_wait(kUse));
    ok = result.index() == 0 && !std::get<0>(std::get<0>(result));
  } else {
    auto result =
        co_await (asio::async_write(socket_, asio::buffer(out), kUse) || timer.async_wait(kUse));
    ok = result.index() == 0 && !std::get<0>(std::get<0>(result));
  }
  out.clear();
  if (out.capacity() > (256 << 10)) out.shrink_to_fit();
  co_return ok;
}

asio::awaitable<bool> ClientStream::StartTls(asio::ssl::context& context, Duration timeout) {
  if (tls_) co_return false;
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, context);
  asio::error_code ec;
  socket_.non_blocking(false, ec);
  asio::steady_timer timer(strand_, timeout);
  auto result = co_await (tls_->async_handshake(asio::ssl::stream_base::server, kUse) ||
                          timer.async_wait(kUse));
  in_.clear();
  in_pos_ = 0;
  co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
}

void ClientStream::Cancel() {
  asio::error_code ignored;
  socket_.cancel(ignored);
}

asio::awaitable<void> ClientStream::Close(bool abrupt) {
  asio::error_code ec;
  if (tls_ && !abrupt) {
    asio::steady_timer timer(strand_, std::chrono::seconds(2));
    co_await (tls_->async_shutdown(kUse) || timer.async_wait(kUse));
  }
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace tern::common
