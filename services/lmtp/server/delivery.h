#pragma once

// Delivery into the cluster (DESIGN.md "Data flow of one delivery"): a recipient is resolved
// by authd, which issues a DELIVER token for that user; a message is parsed once, stored once
// in blobd (content-addressed, fsynced) and then referenced by one metad.AppendMessages per
// recipient. Each recipient's answer comes from its own append, so a 250 means that
// recipient's copy is durable (invariant 1). A backend that cannot be reached is a 451 4.3.0
// (the MTA retries), never a 5xx and never a silent drop.
//
// Retries are safe: each append carries an idempotency key derived from the content as
// received, the envelope sender and the recipient, so when an MTA sends the same message
// again because an earlier answer was lost (a backend died after committing), metad stores it
// once (RFC 5321 6.1: the server must not lose a message it acknowledged; it need not store
// it twice).

#include <asio.hpp>
#include <string>
#include <variant>
#include <vector>

#include "services/lmtp/protocol/reply.h"
#include "services/lmtp/server/server_context.h"
#include "services/lmtp/server/session.h"

namespace tern::lmtp::server {

// Resolves an RCPT address: a Recipient with its DELIVER token, or the reply that refuses it
// (550 5.1.1 unknown, 550 5.2.1 disabled, 501 5.1.3 unusable, 451 4.3.0 authd unavailable).
asio::awaitable<std::variant<Recipient, protocol::Reply>> LookupRecipient(ServerContext& server,
                                                                          std::string address,
                                                                          std::string request_id);

struct Message {
  std::string data;  // trace fields + content, as stored
  // Identifies the message as the client sent it (see Fingerprint), for the idempotency
  // keys.
  std::string fingerprint;
};

// A digest of the envelope sender and the content as received (before the trace fields,
// which differ on every attempt): the same for an MTA's retry of the same message.
std::string Fingerprint(std::string_view reverse_path, std::string_view content);

// Stores `message` for every recipient; one reply per recipient, in order.
asio::awaitable<std::vector<protocol::Reply>> Deliver(ServerContext& server, const Message& message,
                                                      std::vector<Recipient>& recipients,
                                                      std::string request_id, std::string protocol);

}  // namespace tern::lmtp::server
