#include "services/common/frontend_server.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "services/common/async_grpc.h"
#include "services/common/http_server.h"
#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

absl::StatusOr<std::unique_ptr<asio::ip::tcp::acceptor>> Bind(asio::io_context& io,
                                                              const std::string& address,
                                                              int& port) {
  std::string host;
  int p = 0;
  if (absl::Status s = SplitHostPort(address, host, p); !s.ok()) return s;
  asio::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return absl::InvalidArgumentError(Cat("bad listen address ", address));
  auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(io);
  const asio::ip::tcp::endpoint endpoint(ip, static_cast<uint16_t>(p));
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(Cat("cannot listen on ", address, ": ", ec.message()));
  port = acceptor->local_endpoint().port();
  return acceptor;
}

std::string Format(const asio::ip::tcp::endpoint& e) {
  if (e.address().is_v6()) return Cat("[", e.address().to_string(), "]:", e.port());
  return Cat(e.address().to_string(), ":", e.port());
}

}  // namespace

FrontendServer::FrontendServer(FrontendOptions options, SessionFactory factory)
    : options_(std::move(options)), factory_(std::move(factory)) {}

FrontendServer::~FrontendServer() { Stop(std::chrono::milliseconds(0)); }

absl::Status FrontendServer::Listen(const std::string& plain, const std::string& implicit_tls) {
  if (!plain.empty()) {
    auto a = Bind(io_, plain, plain_port_);
    if (!a.ok()) return a.status();
    plain_ = std::move(*a);
  }
  if (!implicit_tls.empty()) {
    auto a = Bind(io_, implicit_tls, tls_port_);
    if (!a.ok()) return a.status();
    tls_ = std::move(*a);
  }
  return absl::OkStatus();
}

void FrontendServer::Start() {
  work_.emplace(io_.get_executor());
  auto on_error = [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      LogError("accept loop ended", {{"protocol", options_.protocol}, {"error", ex.what()}});
    }
  };
  if (plain_) asio::co_spawn(io_, Accept(*plain_, false), on_error);
  if (tls_) asio::co_spawn(io_, Accept(*tls_, true), on_error);
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    workers_.emplace_back([this] { io_.run(); });
  }
}

size_t FrontendServer::sessions() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& w : sessions_) n += w.expired() ? 0 : 1;
  return n;
}

bool FrontendServer::Admit(const std::string& address) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  int& n = per_address_[address];
  if (n >= options_.max_connections_per_address) {
    if (n == 0) per_address_.erase(address);
    return false;
  }
  ++n;
  return true;
}

void FrontendServer::Release(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
}

asio::awaitable<void> FrontendServer::Accept(asio::ip::tcp::acceptor& acceptor, bool implicit_tls) {
  for (;;) {
    asio::error_code ec;
    asio::ip::tcp::socket socket(asio::make_strand(io_));
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off a little instead of spinning.
      LogWarn("accept failed", {{"protocol", options_.protocol}, {"error", ec.message()}});
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto executor = socket.get_executor();
    auto owned = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    asio::co_spawn(executor,
                   [this, owned, implicit_tls]() -> asio::awaitable<void> {
                     co_await Handshake(*owned, implicit_tls);
                   },
                   [this](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       LogError("connection setup failed",
                                {{"protocol", options_.protocol}, {"error", ex.what()}});
                     }
                   });
  }
}

namespace {

// The PROXY header of a connection from a trusted proxy, read exactly (nothing after it:
// the protocol's bytes, a TLS ClientHello for instance, stay in the socket for the session).
// nullopt when the peer sent no valid header within the timeout.
asio::awaitable<std::optional<ProxyHeader>> ReadProxyHeader(asio::ip::tcp::socket& socket,
                                                            std::chrono::milliseconds timeout,
                                                            std::string& error) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor(), timeout);
  std::string buf;
  for (;;) {
    const ProxyResult r = ParseProxyHeader(buf);
    if (r.status == ProxyParse::kInvalid) {
      error = r.error;
      co_return std::nullopt;
    }
    if (r.status == ProxyParse::kOk) co_return r.header;
    // Both versions take at least 15 bytes; v2 says its length in bytes 15-16; v1 ends at
    // the first CRLF, so it is read a byte at a time once the first 8 are in.
    size_t need = 1;
    if (buf.size() < 8) {
      need = 8 - buf.size();  // no header is shorter than 15 bytes
    } else if (buf.compare(0, 5, "PROXY") == 0) {
      need = 1;
    } else if (buf.size() < 16) {
      need = 16 - buf.size();
    } else {
      const size_t len = (static_cast<unsigned char>(buf[14]) << 8) | static_cast<unsigned char>(buf[15]);
      need = 16 + len > buf.size() ? 16 + len - buf.size() : 1;
    }
    const size_t old = buf.size();
    buf.resize(old + need);
    auto result = co_await (
        asio::async_read(socket, asio::buffer(buf.data() + old, need),
                         asio::experimental::as_tuple(asio::use_awaitable)) ||
        timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    if (result.index() == 1) {
      error = "timeout";
      co_return std::nullopt;
    }
    const auto [ec, n] = std::get<0>(result);
    if (ec) {
      error = ec.message();
      co_return std::nullopt;
    }
  }
}

}  // namespace

asio::awaitable<void> FrontendServer::Handshake(asio::ip::tcp::socket& socket, bool implicit_tls) {
  asio::error_code ec;
  asio::ip::tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) co_return;
  asio::ip::tcp::endpoint local = socket.local_endpoint(ec);
  if (ec) co_return;
  if (!options_.trusted_proxies.empty() && options_.trusted_proxies.Contains(remote.address())) {
    std::string error;
    const std::optional<ProxyHeader> header =
        co_await ReadProxyHeader(socket, options_.proxy_header_timeout, error);
    if (!header) {
      // A trusted proxy that does not speak PROXY is misconfigured: say nothing, close.
      LogWarn("bad PROXY header from a trusted proxy; connection closed",
              {{"protocol", options_.protocol}, {"proxy", Format(remote)}, {"error", error}});
      if (options_.on_bad_proxy_header) options_.on_bad_proxy_header();
      socket.close(ec);
      co_return;
    }
    if (header->has_addresses) {
      const asio::ip::address src = asio::ip::make_address(header->source_ip, ec);
      const asio::ip::address dst = asio::ip::make_address(header->destination_ip, ec);
      if (!ec) {
        remote = asio::ip::tcp::endpoint(src, header->source_port);
        local = asio::ip::tcp::endpoint(dst, header->destination_port);
      }
    }
  }
  const std::string ip = remote.address().to_string();
  if (!Admit(ip)) {
    if (options_.on_refused) options_.on_refused();
    // A goodbye instead of a greeting (IMAP: RFC 3501 7.1.5 BYE); then close.
    if (!implicit_tls) {
      co_await asio::async_write(socket, asio::buffer(options_.refuse_line),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    socket.close(ec);
    co_return;
  }
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  std::shared_ptr<FrontendSession> session =
      factory_(Accepted{std::move(socket), implicit_tls, Format(remote), Format(local),
                        remote.address().is_loopback()});
  {
    std::lock_guard lock(mu_);
    std::erase_if(sessions_, [](const std::weak_ptr<FrontendSession>& w) { return w.expired(); });
    sessions_.push_back(session);
  }
  asio::co_spawn(
      session->strand(), [session]() -> asio::awaitable<void> { co_await session->Run(); },
      [this, session, ip](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            LogError("session failed", {{"protocol", options_.protocol},
                                        {"session", session->id()},
                                        {"error", ex.what()}});
          }
        }
        Release(ip);
      });
}

void FrontendServer::Stop(std::chrono::milliseconds grace) {
  BeginStop();
  WaitForSessions(std::chrono::steady_clock::now() + grace);
  FinishStop();
}

void FrontendServer::BeginStop() {
  std::vector<std::shared_ptr<FrontendSession>> live;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (const auto& w : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  asio::post(io_, [this] {
    asio::error_code ec;
    if (plain_) plain_->close(ec);
    if (tls_) tls_->close(ec);
  });
  for (auto& s : live) {
    asio::post(s->strand(), [s] { s->Shutdown(); });
  }
}

void FrontendServer::WaitForSessions(std::chrono::steady_clock::time_point deadline) {
  while (sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void FrontendServer::FinishStop() {
  {
    std::lock_guard lock(mu_);
    if (workers_.empty()) return;
  }
  // Whatever still waits on a backend is cancelled (every call of the process: the call
  // tracker is shared, which is why a process with several servers waits for all of their
  // sessions before any of them finishes); its coroutine then finishes. The event loop must
  // outlive every call (a completion posts into it), so it is only stopped once none is left.
  Calls().CancelAll();
  const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((sessions() > 0 || Calls().size() > 0) && std::chrono::steady_clock::now() < hard) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (Calls().size() > 0) {
    LogError(
        "backend calls still running after cancellation; exiting without stopping the "
        "event loop",
        {{"protocol", options_.protocol}, {"calls", static_cast<int64_t>(Calls().size())}});
    std::_Exit(1);
  }
  work_.reset();
  io_.stop();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

}  // namespace tern::common
