#pragma once

// The listeners of a protocol front-end (tern-imapd, tern-pop3d): a plaintext port and an
// implicit-TLS port (RFC 8314), an event loop with one thread per core, a per-address
// connection limit, and a clean drain on shutdown. Sessions are the protocol's business.

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/common/proxy_protocol.h"

namespace tern::common {

// One client connection of a front-end, run as a coroutine on its own strand.
class FrontendSession {
 public:
  virtual ~FrontendSession() = default;
  virtual asio::awaitable<void> Run() = 0;
  // Ends the session at the next opportunity with the protocol's goodbye; called on the
  // session's strand.
  virtual void Shutdown() = 0;
  virtual const asio::strand<asio::any_io_executor>& strand() const = 0;
  virtual const std::string& id() const = 0;
};

struct Accepted {
  asio::ip::tcp::socket socket;
  bool implicit_tls = false;
  std::string peer;   // "ip:port" ("[v6]:port")
  std::string local;  // "ip:port"
  bool loopback = false;
};

struct FrontendOptions {
  std::string protocol;  // "imap", "pop3": logs
  int threads = 1;
  int max_connections_per_address = 50;
  // Sent, instead of a greeting, to a connection over the per-address limit (plaintext
  // listener only), e.g. "* BYE [UNAVAILABLE] ...\r\n".
  std::string refuse_line;
  std::function<void()> on_refused;  // metrics
  // Connections from these networks (a load balancer) must begin with a PROXY protocol v1
  // or v2 header, which then gives the client's real address; connections from anywhere
  // else are the protocol from their first byte (a PROXY header there is refused as the
  // protocol's bad input). Empty: no PROXY protocol.
  Networks trusted_proxies;
  std::chrono::milliseconds proxy_header_timeout{5000};
  std::function<void()> on_bad_proxy_header;  // metrics
};

using SessionFactory = std::function<std::shared_ptr<FrontendSession>(Accepted)>;

class FrontendServer {
 public:
  FrontendServer(FrontendOptions options, SessionFactory factory);
  ~FrontendServer();

  // Binds "host:port" listeners; an empty address is not opened. Port 0 picks a free port.
  absl::Status Listen(const std::string& plain, const std::string& implicit_tls);
  void Start();
  // Stops accepting, shuts every session down, cancels backend calls and waits (at most
  // `grace`, then 5 s for cancelled calls) for the sessions to end.
  void Stop(std::chrono::milliseconds grace);
  // Stop() in its three steps, for a process with several servers (tern-lmtpd's LMTP and
  // SMTP listeners), which must all wait for their sessions before any backend call is
  // cancelled: the call tracker is per process. BeginStop stops accepting and tells every
  // session; WaitForSessions waits until they ended or `deadline`; FinishStop cancels the
  // calls left and stops the event loop.
  void BeginStop();
  void WaitForSessions(std::chrono::steady_clock::time_point deadline);
  void FinishStop();

  int plain_port() const { return plain_port_; }
  int tls_port() const { return tls_port_; }
  size_t sessions() const;

 private:
  asio::awaitable<void> Accept(asio::ip::tcp::acceptor& acceptor, bool implicit_tls);
  // Reads the PROXY header when the peer is a trusted proxy, applies the per-address limit
  // to the real client and starts the session.
  asio::awaitable<void> Handshake(asio::ip::tcp::socket& socket, bool implicit_tls);
  bool Admit(const std::string& address);
  void Release(const std::string& address);

  const FrontendOptions options_;
  const SessionFactory factory_;
  asio::io_context io_;
  std::unique_ptr<asio::ip::tcp::acceptor> plain_;
  std::unique_ptr<asio::ip::tcp::acceptor> tls_;
  int plain_port_ = 0;
  int tls_port_ = 0;
  std::vector<std::thread> workers_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;

  mutable std::mutex mu_;
  std::map<std::string, int> per_address_;
  std::vector<std::weak_ptr<FrontendSession>> sessions_;
  bool stopping_ = false;
};

}  // namespace tern::common
