#pragma once

// The listeners of tern-imapd: a plaintext port (STARTTLS) and an implicit-TLS port
// (RFC 8314), an event loop with one thread per core, a per-address connection limit, and
// a clean drain on shutdown.

#include <asio.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/imap/server/server_context.h"

namespace tern::imap::server {

class Session;

class ImapServer {
 public:
  ImapServer(ServerContext& context, int threads);
  ~ImapServer();

  // Binds "host:port" listeners; an empty address is not opened. Port 0 picks a free port.
  absl::Status Listen(const std::string& plain, const std::string& implicit_tls);
  void Start();
  // Stops accepting, says BYE to every session, cancels backend calls and waits (at most
  // `grace`) for the sessions to end.
  void Stop(std::chrono::milliseconds grace);

  int plain_port() const { return plain_port_; }
  int tls_port() const { return tls_port_; }
  size_t sessions() const;

 private:
  asio::awaitable<void> Accept(asio::ip::tcp::acceptor& acceptor, bool implicit_tls);
  bool Admit(const std::string& address);
  void Release(const std::string& address);

  ServerContext& context_;
  const int threads_;
  asio::io_context io_;
  std::unique_ptr<asio::ip::tcp::acceptor> plain_;
  std::unique_ptr<asio::ip::tcp::acceptor> tls_;
  int plain_port_ = 0;
  int tls_port_ = 0;
  std::vector<std::thread> workers_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;

  mutable std::mutex mu_;
  std::map<std::string, int> per_address_;
  std::vector<std::weak_ptr<Session>> sessions_;
  bool stopping_ = false;
};

}  // namespace tern::imap::server
