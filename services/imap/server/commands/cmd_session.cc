// CAPABILITY, NOOP, CHECK, LOGOUT, ID, ENABLE and NAMESPACE: the commands that touch no
// mailbox data (RFC 3501 6.1, 6.4.1; RFC 2971; RFC 5161; RFC 2342).

#include "services/common/log.h"
#include "services/common/strings.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {

asio::awaitable<void> CmdCapability(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("CAPABILITY takes no arguments");
    co_return;
  }
  const std::string caps = co_await s.Capabilities();
  s.Untagged(Cat("CAPABILITY ", caps));
  s.Ok("Capability completed");
}

// RFC 3501 6.1.2: NOOP is how a client polls; it reports every pending change.
asio::awaitable<void> CmdNoop(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("NOOP takes no arguments");
    co_return;
  }
  if (s.state() == protocol::SessionState::kSelected) {
    // (No co_await inside && or ||: GCC 12 miscompiles it.)
    const bool synced = co_await s.Sync(true);
    if (!synced) co_return;
  }
  s.Ok("NOOP completed");
}

// RFC 3501 6.4.1: a checkpoint. Every change is durable when acknowledged (invariant 1), so
// there is nothing to write; like NOOP it reports pending changes.
asio::awaitable<void> CmdCheck(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("CHECK takes no arguments");
    co_return;
  }
  const bool awaited12 = co_await s.Sync(true);
  if (!awaited12) co_return;
  s.Ok("CHECK completed");
}

asio::awaitable<void> CmdLogout(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("LOGOUT takes no arguments");
    co_return;
  }
  // RFC 3501 6.1.3: an untagged BYE, then the tagged OK, then close.
  s.Untagged("BYE Tern IMAP4rev1 server logging out");
  s.set_state(protocol::SessionState::kLogout);
  s.Ok("LOGOUT completed");
  co_return;
}

// RFC 2971: ID ( "name" "value" ... ) or ID NIL. The client's fields are logged.
asio::awaitable<void> CmdId(Session& s, const protocol::Command& c) {
  if (c.args.size() != 1) {
    s.Bad("ID takes one argument");
    co_return;
  }
  const protocol::Value& arg = c.args[0];
  if (!arg.IsNil()) {
    if (!arg.IsList() || arg.list.size() % 2 != 0 || arg.list.size() > 60) {
      s.Bad("ID expects NIL or a list of up to 30 field/value pairs");
      co_return;
    }
    std::string fields;
    for (size_t i = 0; i < arg.list.size(); i += 2) {
      const protocol::Value& k = arg.list[i];
      const protocol::Value& v = arg.list[i + 1];
      // RFC 2971 3.3: field names are strings of at most 30 octets, values at most 1024.
      if (!k.IsString() || k.text.size() > 30 || !(v.IsString() || v.IsNil()) ||
          v.text.size() > 1024) {
        s.Bad("Malformed ID field");
        co_return;
      }
      CatAppend(fields, fields.empty() ? "" : ", ", k.text, "=", v.IsNil() ? "NIL" : v.text);
    }
    if (fields.size() > 512) fields.resize(512);  // client text in logs stays small
    common::LogInfo("imap client id", {{"session", s.id()}, {"id", fields}});
  }
  s.Untagged(R"(ID ("name" "Tern" "vendor" "Tern" "support-url" "https://tern.invalid/"))");
  s.Ok("ID completed");
}

// RFC 5161: Tern enables no extension through ENABLE yet (CONDSTORE, QRESYNC and
// UTF8=ACCEPT are not advertised), so the ENABLED response lists nothing; unknown names are
// ignored as 3.1 requires.
asio::awaitable<void> CmdEnable(Session& s, const protocol::Command& c) {
  if (c.args.empty()) {
    s.Bad("ENABLE needs at least one capability");
    co_return;
  }
  for (const protocol::Value& v : c.args) {
    if (!v.IsAtom()) {
      s.Bad("ENABLE takes capability names");
      co_return;
    }
  }
  s.Untagged("ENABLED");
  s.Ok("ENABLE completed");
}

// RFC 2342: one personal namespace, no prefix, "/" delimiter; no other users' or shared
// namespaces.
asio::awaitable<void> CmdNamespace(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("NAMESPACE takes no arguments");
    co_return;
  }
  s.Untagged(R"(NAMESPACE (("" "/")) NIL NIL)");
  s.Ok("NAMESPACE completed");
  co_return;
}

}  // namespace tern::imap::server
