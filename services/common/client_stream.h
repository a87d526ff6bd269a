#pragma once

// The byte stream of one client connection of a front-end (tern-imapd, tern-pop3d): a TCP
// socket, TLS when the connection came in on an implicit-TLS port or upgraded with
// STARTTLS/STLS, an input buffer, and writes that give up on a client that stops reading.
// Everything runs on the session's strand; nothing here blocks a thread.

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tern::common {

class ClientStream {
 public:
  using Duration = std::chrono::steady_clock::duration;

  ClientStream(asio::ip::tcp::socket socket, asio::strand<asio::any_io_executor> strand);
  ~ClientStream();

  asio::ip::tcp::socket& socket() { return socket_; }
  bool tls() const { return tls_ != nullptr; }

  // Input received and not consumed yet.
  std::string_view pending() const { return std::string_view(in_).substr(in_pos_); }
  void Consume(size_t n) { in_pos_ += n; }
  // True when input is waiting that a readiness wait on the socket would not report:
  // unconsumed bytes, or bytes the TLS layer holds.
  bool HasBufferedInput() const;

  enum class Read { kData, kClosed, kTimeout };
  // Appends more of what the client sends to pending(), waiting at most `timeout` for it
  // (whatever pending() already holds). kClosed at end of stream, on an error or when the
  // socket was cancelled (Shutdown).
  asio::awaitable<Read> ReadMore(Duration timeout);

  // Writes all of `out` and clears it. False when the client did not take the bytes within
  // `timeout` or the connection failed.
  asio::awaitable<bool> Write(std::string& out, Duration timeout);

  // Server-side TLS handshake, at most `timeout`. Everything received before it is
  // dropped: no plaintext sent ahead of the handshake may be taken as protected (RFC 3207
  // 4.2, RFC 2595 4, RFC 3501 6.2.1; the STARTTLS command-injection defence).
  asio::awaitable<bool> StartTls(asio::ssl::context& context, Duration timeout);

  // Cancels pending operations (a shutdown wakes the session's reads and waits).
  void Cancel();
  // TLS close_notify (at most 2 s) unless `abrupt`, then closes the socket.
  asio::awaitable<void> Close(bool abrupt);

 private:
  void Compact();
  bool TlsPending() const;
  // Waits until the socket is readable (or closed), reading nothing: an idle connection
  // holds no read buffer.
  asio::awaitable<Read> WaitSocket(Duration timeout);

  asio::strand<asio::any_io_executor> strand_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  std::vector<char> tls_buffer_;
  std::string in_;
  size_t in_pos_ = 0;
};

}  // namespace tern::common
