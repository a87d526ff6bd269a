#include "services/pop3/protocol/commands.h"

#include <limits>

namespace tern::pop3::protocol {
namespace {

constexpr uint32_t kAuthFlags = kExclusive | kSecret;

constexpr CommandSpec kCommands[] = {
    // RFC 1939 7 (optional USER/PASS, APOP), RFC 5034 4 (AUTH mechanism [initial-response]),
    // RFC 2595 4 (STLS): AUTHORIZATION only.
    {"USER", kAuthorizationOnly, 1, 1, kNoFlags},
    {"PASS", kAuthorizationOnly, 1, 1, kSecret},
    {"APOP", kAuthorizationOnly, 2, 2, kSecret},
    {"AUTH", kAuthorizationOnly, 1, 2, kAuthFlags},
    {"STLS", kAuthorizationOnly, 0, 0, kExclusive},
    // RFC 2449 5: CAPA "is available in both the AUTHORIZATION and TRANSACTION states".
    {"CAPA", kAuthorizationOrTransaction, 0, 0, kNoFlags},
    // RFC 1939 4 and 6: QUIT in AUTHORIZATION closes, in TRANSACTION enters UPDATE.
    {"QUIT", kAuthorizationOrTransaction, 0, 0, kNoFlags},
    // RFC 1939 5 and 7: TRANSACTION only.
    {"STAT", kTransactionOnly, 0, 0, kNoFlags},
    {"LIST", kTransactionOnly, 0, 1, kNoFlags},
    {"RETR", kTransactionOnly, 1, 1, kNoFlags},
    {"DELE", kTransactionOnly, 1, 1, kNoFlags},
    {"NOOP", kTransactionOnly, 0, 0, kNoFlags},
    {"RSET", kTransactionOnly, 0, 0, kNoFlags},
    {"TOP", kTransactionOnly, 2, 2, kNoFlags},
    {"UIDL", kTransactionOnly, 0, 1, kNoFlags},
};

}  // namespace

const CommandSpec* FindCommand(std::string_view upper_verb) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.verb == upper_verb) {
      return &spec;
    }
  }
  return nullptr;
}

Gate Check(const CommandSpec* spec, State state, size_t arg_count) {
  if (spec == nullptr) {
    return Gate::kUnknown;
  }
  // kUpdate is in no command's set: after QUIT nothing more is read (RFC 1939 6).
  if ((spec->states & static_cast<uint8_t>(state)) == 0) {
    return Gate::kWrongState;
  }
  if (arg_count < spec->min_args || arg_count > spec->max_args) {
    return Gate::kBadArgs;
  }
  return Gate::kAllowed;
}

std::optional<uint32_t> ParseMessageNumber(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > std::numeric_limits<uint32_t>::max()) {
      return std::nullopt;
    }
  }
  if (n == 0) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(n);
}

std::optional<uint64_t> ParseLineCount(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t n = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    n = n > (kMax - digit) / 10 ? kMax : n * 10 + digit;
  }
  return n;
}

}  // namespace tern::pop3::protocol
