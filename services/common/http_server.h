#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace tern::common {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A small HTTP/1.1 server on its own event-loop thread for the operator endpoints
// (/metrics, /healthz, /readyz). Each connection answers one GET or HEAD and closes.
// Handlers run on the loop thread and must not block.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void Handle(std::string path, Handler handler);
  // Binds "host:port" (port 0 picks a free one) and starts serving.
  absl::Status Start(const std::string& listen);
  // The bound port, after Start.
  int port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" / "[v6]:port"; port must be 0..65535.
absl::Status SplitHostPort(const std::string& address, std::string& host, int& port);

}  // namespace tern::common
