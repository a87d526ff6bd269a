#pragma once

// The IMAP state machine (RFC 3501 3, 6): which command is valid in which state, and the
// flags that decide what the server may send around it. The server's dispatch table maps
// the same names to handlers; this table alone decides the state question.

#include <cstdint>
#include <string_view>

namespace tern::imap::protocol {

enum class SessionState : uint8_t {
  kNotAuthenticated = 1,
  kAuthenticated = 2,
  kSelected = 4,
  kLogout = 8,
};

inline constexpr uint8_t kAnyState = 1 | 2 | 4;
inline constexpr uint8_t kNotAuthenticatedOnly = 1;
inline constexpr uint8_t kAuthenticatedOnly = 2;
inline constexpr uint8_t kAuthenticatedOrSelected = 2 | 4;
inline constexpr uint8_t kSelectedOnly = 4;

enum CommandFlags : uint32_t {
  kNoFlags = 0,
  // FETCH, STORE and SEARCH: the server must not send EXPUNGE while they run (RFC 3501
  // 5.5 and 7.4.1) and defers expunges it learns about until a later command. Their UID
  // forms and COPY/MOVE may carry EXPUNGE (RFC 3501 5.5 note).
  kUsesSeqs = 1 << 0,
  // A UID command (UID FETCH, UID STORE, ...): arguments are UIDs.
  kUid = 1 << 1,
  // Changes which mailbox is selected or ends the selection (SELECT, EXAMINE, CLOSE,
  // UNSELECT, LOGOUT): pending updates of the old mailbox are dropped.
  kBreaksMailbox = 1 << 2,
  // Needs the rest of the input stream to itself (AUTHENTICATE, IDLE, STARTTLS): pipelined
  // commands after it wait until it ends.
  kExclusive = 1 << 3,
};

struct CommandSpec {
  std::string_view name;  // upper case, "UID FETCH" for UID forms
  uint8_t states;         // bitmask of SessionState
  uint32_t flags;         // CommandFlags
};

// The command named `upper_name` (as Parser produces it), or nullptr if unknown.
const CommandSpec* FindCommand(std::string_view upper_name);

enum class Gate {
  kAllowed,
  kUnknown,     // BAD: unknown command
  kWrongState,  // BAD: not valid in this state (RFC 3501 6: "command unknown or arguments
                // invalid" covers a command given in the wrong state)
};
Gate CheckCommand(const CommandSpec* spec, SessionState state);

}  // namespace tern::imap::protocol
