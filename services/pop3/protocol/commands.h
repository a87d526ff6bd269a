#pragma once

// The POP3 state machine (RFC 1939 3-6, RFC 2449 5, RFC 2595 4, RFC 5034 4): which command
// is valid in which state and how many arguments it takes. The server's dispatch table maps
// the same verbs to handlers; this table alone decides the state and arity questions, so
// handlers never re-check them.
//
// Left to the session, because they depend on more than the state: PASS is valid only right
// after a successful USER (RFC 1939 7), and a failed PASS (or any other command) ends that;
// STLS is refused once TLS is active (RFC 2595 4); USER/PASS/APOP/AUTH are refused while a
// security policy requires TLS; message numbers must name a message that exists and is not
// marked as deleted (RFC 1939 5).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tern::pop3::protocol {

// RFC 1939 3. UPDATE is entered by QUIT in TRANSACTION; no command is read in it.
enum class State : uint8_t {
  kAuthorization = 1,
  kTransaction = 2,
  kUpdate = 4,
};

inline constexpr uint8_t kAuthorizationOnly = 1;
inline constexpr uint8_t kTransactionOnly = 2;
inline constexpr uint8_t kAuthorizationOrTransaction = 1 | 2;

enum CommandFlags : uint32_t {
  kNoFlags = 0,
  // Needs the input stream to itself until it ends (STLS: the TLS handshake follows the +OK,
  // and pipelined plaintext after it must be discarded, RFC 2595 4; AUTH: SASL response lines
  // follow, RFC 5034 4). The session feeds the parser one line at a time around it.
  kExclusive = 1 << 0,
  // Arguments are credentials (PASS, APOP, AUTH): they are never logged.
  kSecret = 1 << 1,
};

struct CommandSpec {
  std::string_view verb;  // upper case, as Parser produces it
  uint8_t states;         // bitmask of State
  uint8_t min_args;
  uint8_t max_args;
  uint32_t flags;  // CommandFlags
};

// The command with keyword `upper_verb` (as Parser produces it), or nullptr if unknown.
const CommandSpec* FindCommand(std::string_view upper_verb);

enum class Gate {
  kAllowed,
  kUnknown,     // -ERR: unrecognized or unimplemented command (RFC 1939 3)
  kWrongState,  // -ERR: "a command issued when the session is in an incorrect state" (RFC 1939 3)
  kBadArgs,     // -ERR: syntactically invalid (too few or too many arguments)
};

// Checked in this order: unknown, wrong state, argument count.
Gate Check(const CommandSpec* spec, State state, size_t arg_count);

// RFC 1939 5: a message-number, 1*DIGIT in base 10, at least 1. nullopt for anything else,
// including numbers beyond 32 bits (no maildrop holds that many messages).
std::optional<uint32_t> ParseMessageNumber(std::string_view s);
// RFC 1939 7 TOP: "a non-negative number of lines", 1*DIGIT. Values beyond 64 bits saturate
// at UINT64_MAX: any huge count means "the entire message".
std::optional<uint64_t> ParseLineCount(std::string_view s);

}  // namespace tern::pop3::protocol
