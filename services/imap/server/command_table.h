#pragma once

// Command name -> handler. Which command is allowed in which state is decided once, by
// protocol::CheckCommand, before a handler runs; handlers never check the state again.

#include <asio.hpp>
#include <string_view>

#include "services/imap/protocol/parser.h"

namespace tern::imap::server {

class Session;
using Handler = asio::awaitable<void> (*)(Session&, const protocol::Command&);

// The handler for a command name that protocol::FindCommand knows.
Handler FindHandler(std::string_view name);

// Handlers, one file per command or per family of commands in commands/.
asio::awaitable<void> CmdCapability(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdNoop(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdLogout(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdId(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdEnable(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdNamespace(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdStartTls(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdLogin(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdAuthenticate(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdSelect(Session& s, const protocol::Command& c);  // and EXAMINE
asio::awaitable<void> CmdCreate(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdDelete(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdRename(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdSubscribe(Session& s, const protocol::Command& c);  // and UNSUBSCRIBE
asio::awaitable<void> CmdList(Session& s, const protocol::Command& c);       // and LSUB
asio::awaitable<void> CmdStatus(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdAppend(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdIdle(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdCheck(Session& s, const protocol::Command& c);
asio::awaitable<void> CmdClose(Session& s, const protocol::Command& c);    // and UNSELECT
asio::awaitable<void> CmdExpunge(Session& s, const protocol::Command& c);  // and UID EXPUNGE
asio::awaitable<void> CmdSearch(Session& s, const protocol::Command& c);   // and UID SEARCH
asio::awaitable<void> CmdFetch(Session& s, const protocol::Command& c);    // and UID FETCH
asio::awaitable<void> CmdStore(Session& s, const protocol::Command& c);    // and UID STORE
asio::awaitable<void> CmdCopy(Session& s, const protocol::Command& c);     // COPY, MOVE, UID forms

}  // namespace tern::imap::server
