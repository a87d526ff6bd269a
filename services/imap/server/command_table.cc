#include "services/imap/server/command_table.h"

#include <map>
#include <string>

namespace tern::imap::server {
namespace {

const std::map<std::string_view, Handler>& Table() {
  static const auto* table = new std::map<std::string_view, Handler>{
      {"CAPABILITY", &CmdCapability},
      {"NOOP", &CmdNoop},
      {"LOGOUT", &CmdLogout},
      {"ID", &CmdId},
      {"ENABLE", &CmdEnable},
      {"NAMESPACE", &CmdNamespace},
      {"STARTTLS", &CmdStartTls},
      {"LOGIN", &CmdLogin},
      {"AUTHENTICATE", &CmdAuthenticate},
      {"SELECT", &CmdSelect},
      {"EXAMINE", &CmdSelect},
      {"CREATE", &CmdCreate},
      {"DELETE", &CmdDelete},
      {"RENAME", &CmdRename},
      {"SUBSCRIBE", &CmdSubscribe},
      {"UNSUBSCRIBE", &CmdSubscribe},
      {"LIST", &CmdList},
      {"LSUB", &CmdList},
      {"STATUS", &CmdStatus},
      {"APPEND", &CmdAppend},
      {"IDLE", &CmdIdle},
      {"CHECK", &CmdCheck},
      {"CLOSE", &CmdClose},
      {"UNSELECT", &CmdClose},
      {"EXPUNGE", &CmdExpunge},
      {"UID EXPUNGE", &CmdExpunge},
      {"SEARCH", &CmdSearch},
      {"UID SEARCH", &CmdSearch},
      {"FETCH", &CmdFetch},
      {"UID FETCH", &CmdFetch},
      {"STORE", &CmdStore},
      {"UID STORE", &CmdStore},
      {"COPY", &CmdCopy},
      {"UID COPY", &CmdCopy},
      {"MOVE", &CmdCopy},
      {"UID MOVE", &CmdCopy},
  };
  return *table;
}

asio::awaitable<void> NotImplemented(Session&, const protocol::Command&) { co_return; }

}  // namespace

Handler FindHandler(std::string_view name) {
  auto it = Table().find(name);
  return it == Table().end() ? &NotImplemented : it->second;
}

}  // namespace tern::imap::server
