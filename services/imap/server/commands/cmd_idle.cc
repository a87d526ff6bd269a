// IDLE (RFC 2177): the client waits for changes; Tern reports them as they happen, woken by
// metad's change notices (and, should a notice be lost, by the poll interval).

#include "services/common/strings.h"
#include "services/imap/server/command_table.h"
#include "services/imap/server/session.h"

namespace tern::imap::server {

asio::awaitable<void> CmdIdle(Session& s, const protocol::Command& c) {
  if (!c.args.empty()) {
    s.Bad("IDLE takes no arguments");
    co_return;
  }
  protocol::AppendContinuation(s.out(), "idling");
  const bool awaited8 = co_await s.Sync(true, Session::SyncMode::kShared);
  if (!awaited8) co_return;
  const bool awaited9 = co_await s.Flush();
  if (!awaited9) co_return;
  const auto idle_limit = s.server().settings.idle_timeout;

  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    const auto elapsed = std::chrono::steady_clock::now() - started;
    if (elapsed >= idle_limit) {
      // RFC 2177 3: the server may log out an idle client after its autologout timer.
      s.Untagged("BYE Autologout; idle for too long");
      s.RequestClose();
      s.SkipTagged();
      co_return;
    }
    // Redis may come and go while the client idles: the poll interval is asked each time.
    const auto wait = std::min<std::chrono::steady_clock::duration>(
        {idle_limit - elapsed, s.PollIn(), s.RenewIn()});
    const Session::Wait waited = co_await s.WaitInputOrNotice(wait);
    switch (waited) {
      case Session::Wait::kInput: {
        std::optional<std::string> line = co_await s.ReadRawLine(1024);
        if (!line) {
          s.RequestClose();
          s.SkipTagged();
          co_return;
        }
        std::string word = *line;
        for (char& ch : word) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (word != "DONE") {
          s.Bad("Expected DONE to end IDLE");
          co_return;
        }
        s.Ok("IDLE terminated");
        co_return;
      }
      case Session::Wait::kNotified:
      case Session::Wait::kTimeout: {
        // The session token is renewed here too when due (an idle client sends nothing).
        const std::optional<common::CallMeta> renewed = co_await s.Meta();
        if (!renewed) co_return;
        // A notice, or the poll interval: resync even without a notice. A wake-up only to
        // renew the token asks metad nothing.
        const bool poll = waited == Session::Wait::kTimeout;
        if (poll && !s.PollDue()) break;
        const bool synced =
            co_await s.Sync(true, poll ? Session::SyncMode::kPoll : Session::SyncMode::kShared);
        if (!synced) co_return;
        const bool flushed = co_await s.Flush();
        if (!flushed) co_return;
        break;
      }
      case Session::Wait::kClosed:
        if (s.shutting_down()) s.Untagged(s.ShutdownBye());
        s.RequestClose();
        s.SkipTagged();
        co_return;
    }
  }
}

}  // namespace tern::imap::server
