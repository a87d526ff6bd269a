#pragma once

// One LMTP or inbound SMTP connection: a C++20 coroutine on its own strand (DESIGN.md
// "Concurrency model"). It feeds the bytes the client sends to protocol::Reader, answers each
// command (replies are buffered and written when the session waits for input, RFC 2920
// PIPELINING), and at the end of a message's content stores it once in blobd and once per
// recipient in metad (delivery.h) before any 250 goes out (invariant 1).

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/common/async_grpc.h"
#include "services/common/client_stream.h"
#include "services/common/frontend_server.h"
#include "services/lmtp/protocol/command.h"
#include "services/lmtp/protocol/input.h"
#include "services/lmtp/server/server_context.h"

namespace tern::lmtp::server {

enum class Mode { kLmtp, kSmtp };

// An accepted RCPT: who it is and the DELIVER token authd issued for them.
struct Recipient {
  std::string address;  // as the client gave it, for replies and "for <...>"
  std::string canonical;
  std::string detail;  // sub-address: the folder to try first
  uint64_t user_id = 0;
  std::string token;
  absl::Time token_expires;
};

class Session : public common::FrontendSession, public std::enable_shared_from_this<Session> {
 public:
  Session(ServerContext& server, Mode mode, common::Accepted connection);
  ~Session() override;

  asio::awaitable<void> Run() override;
  void Shutdown() override;
  const asio::strand<asio::any_io_executor>& strand() const override { return strand_; }
  const std::string& id() const override { return id_; }

 private:
  struct Transaction {
    bool active = false;       // MAIL accepted
    std::string reverse_path;  // empty for "<>"
    bool smtputf8 = false;
    bool bdat = false;  // content is arriving by BDAT (DATA is then refused)
    std::vector<Recipient> recipients;
  };

  bool lmtp() const { return mode_ == Mode::kLmtp; }
  void Reply(const protocol::Reply& reply);
  void Reply(int code, std::string_view enhanced, std::string_view text);
  asio::awaitable<bool> Flush();
  common::FrontendMetrics& Metrics() const;

  asio::awaitable<void> Handle(const protocol::Command& command);
  void Hello(const protocol::Command& command);
  void Mail(const protocol::Command& command);
  asio::awaitable<void> Rcpt(const protocol::Command& command);
  void Data();
  void Bdat();  // the reader is taking the chunk; ChunkDone answers it
  asio::awaitable<void> ChunkDone(bool last);
  asio::awaitable<void> StartTls();
  // The content is complete: check it, deliver it, answer (one reply per recipient in LMTP,
  // RFC 2033 4.2; one in SMTP), and end the transaction.
  asio::awaitable<void> Finish();
  void ResetTransaction();
  // Counts a 5xx reply; true once the connection has drawn too many.
  bool CountError(const protocol::Reply& reply);

  ServerContext& server_;
  const Mode mode_;
  asio::strand<asio::any_io_executor> strand_;
  common::ClientStream stream_;
  std::string peer_;
  std::string peer_ip_;
  std::string id_;

  protocol::Reader reader_;
  std::string out_;
  bool closing_ = false;
  bool shutdown_ = false;
  bool waiting_ = false;
  bool woken_ = false;  // a read was cancelled by Shutdown(), not ended by the client
  int errors_ = 0;
  int last_code_ = 0;  // of the last reply, for the command metrics

  std::string helo_;
  bool esmtp_ = false;  // EHLO/LHLO rather than HELO
  Transaction txn_;
  // A BDAT chunk that will be refused once it has been read (RFC 3030 2: its octets follow
  // in any case).
  std::optional<protocol::Reply> refuse_chunk_;
  int transactions_ = 0;
};

}  // namespace tern::lmtp::server
