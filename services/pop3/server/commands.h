#pragma once

// Verb -> handler. Which command is allowed in which state, and with how many arguments, is
// decided once by protocol::Check before a handler runs; handlers never check it again.

#include <asio.hpp>
#include <string_view>

#include "services/pop3/protocol/parser.h"

namespace tern::pop3::server {

class Session;
using Handler = asio::awaitable<void> (*)(Session&, const protocol::Command&);

// The handler for a verb that protocol::FindCommand knows.
Handler FindHandler(std::string_view verb);

}  // namespace tern::pop3::server
