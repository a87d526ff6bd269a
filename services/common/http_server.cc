#include "services/common/http_server.h"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <atomic>
#include <chrono>

#include "absl/strings/numbers.h"
#include "services/common/http_request.h"
#include "services/common/log.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

constexpr size_t kMaxHead = 8192;
constexpr auto kConnectionTimeout = std::chrono::seconds(5);
// Operator endpoint: a handful of scrapers and probes. Past this many open connections a new
// one is closed at once, so a flood cannot grow memory without bound.
constexpr int kMaxConnections = 64;

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string Serialize(const HttpResponse& r, bool head_only) {
  std::string out = Cat("HTTP/1.1 ", r.status, " ", ReasonPhrase(r.status),
                        "\r\nContent-Type: ", r.content_type, "\r\nContent-Length: ", r.body.size(),
                        "\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n");
  if (!head_only) out += r.body;
  return out;
}

}  // namespace

absl::Status SplitHostPort(const std::string& address, std::string& host, int& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(Cat("'", address, "' is not host:port"));
  }
  host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (!absl::SimpleAtoi(ToAbsl(std::string_view(address).substr(colon + 1)), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(Cat("'", address, "' has no valid port"));
  }
  return absl::OkStatus();
}

struct HttpServer::Impl {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
  std::map<std::string, Handler> handlers;
  std::thread thread;
  std::atomic<int> port{0};
  int open_connections = 0;  // touched only on the loop thread

  HttpResponse Dispatch(const HttpRequestHead& head) {
    if (head.method != "GET" && head.method != "HEAD") {
      return {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    }
    auto it = handlers.find(head.path);
    if (it == handlers.end()) return {404, "text/plain; charset=utf-8", "not found\n"};
    return it->second();
  }

  asio::awaitable<void> Serve(asio::ip::tcp::socket accepted) {
    // Shared with the deadline handler, which may run after this coroutine ends.
    auto owned = std::make_shared<asio::ip::tcp::socket>(std::move(accepted));
    asio::ip::tcp::socket& socket = *owned;
    asio::steady_timer deadline(socket.get_executor());
    deadline.expires_after(kConnectionTimeout);
    deadline.async_wait([owned](std::error_code ec) {
      if (!ec) {
        std::error_code ignored;
        owned->close(ignored);
      }
    });
    std::string buffer;
    char chunk[1024];
    HttpResponse response;
    bool head_only = false;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(
          asio::buffer(chunk), asio::experimental::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      buffer.append(chunk, n);
      HttpParseResult parsed = ParseHttpRequestHead(buffer, kMaxHead);
      if (std::holds_alternative<HttpNeedMore>(parsed)) continue;
      if (const auto* err = std::get_if<HttpParseError>(&parsed)) {
        response = {err->status, "text/plain; charset=utf-8", err->reason + "\n"};
      } else {
        const auto& head = std::get<HttpRequestHead>(parsed);
        head_only = head.method == "HEAD";
        response = Dispatch(head);
      }
      break;
    }
    const std::string bytes = Serialize(response, head_only);
    co_await asio::async_write(socket, asio::buffer(bytes),
                               asio::experimental::as_tuple(asio::use_awaitable));
    std::error_code ignored;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    deadline.cancel();
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] =
          co_await acceptor.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        LogWarn("http accept failed", {{"error", ec.message()}});
        continue;
      }
      if (open_connections >= kMaxConnections) {
        std::error_code ignored;
        socket.close(ignored);
        continue;
      }
      ++open_connections;
      asio::co_spawn(io, Serve(std::move(socket)),
                     [this](std::exception_ptr) { --open_connections; });
    }
  }
};

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(std::string path, Handler handler) {
  impl_->handlers[std::move(path)] = std::move(handler);
}

absl::Status HttpServer::Start(const std::string& listen) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(listen, host, port); !s.ok()) return s;
  std::error_code ec;
  const asio::ip::address addr = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(Cat("bad listen address '", host, "'"));
  asio::ip::tcp::endpoint endpoint(addr, static_cast<unsigned short>(port));
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(Cat("http listen on ", listen, ": ", ec.message()));
  }
  impl_->port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->Accept(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return absl::OkStatus();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [this] {
    std::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->io.stop();
  });
  impl_->thread.join();
}

}  // namespace tern::common
