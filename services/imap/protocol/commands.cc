#include "services/imap/protocol/commands.h"

namespace tern::imap::protocol {
namespace {

constexpr uint32_t kSeqs = kUsesSeqs;

// RFC 3501 6.1-6.4 and the extensions the server announces. The state sets follow RFC 3501
// section 3 (figure in 3.4).
constexpr CommandSpec kCommands[] = {
    // RFC 3501 6.1: any state.
    {"CAPABILITY", kAnyState, kNoFlags},
    {"NOOP", kAnyState, kNoFlags},
    {"LOGOUT", kAnyState, kBreaksMailbox},
    {"ID", kAnyState, kNoFlags},  // RFC 2971 3.1
    // RFC 3501 6.2: not authenticated. STARTTLS and AUTHENTICATE own the stream until they
    // end (the TLS handshake, the SASL exchange).
    {"STARTTLS", kNotAuthenticatedOnly, kExclusive},
    {"AUTHENTICATE", kNotAuthenticatedOnly, kExclusive},
    {"LOGIN", kNotAuthenticatedOnly, kNoFlags},
    // RFC 3501 6.3: authenticated (and selected, RFC 3501 6.4 "in addition to ...").
    {"SELECT", kAuthenticatedOrSelected, kBreaksMailbox},
    {"EXAMINE", kAuthenticatedOrSelected, kBreaksMailbox},
    {"CREATE", kAuthenticatedOrSelected, kNoFlags},
    {"DELETE", kAuthenticatedOrSelected, kNoFlags},
    {"RENAME", kAuthenticatedOrSelected, kNoFlags},
    {"SUBSCRIBE", kAuthenticatedOrSelected, kNoFlags},
    {"UNSUBSCRIBE", kAuthenticatedOrSelected, kNoFlags},
    {"LIST", kAuthenticatedOrSelected, kNoFlags},
    {"LSUB", kAuthenticatedOrSelected, kNoFlags},
    {"STATUS", kAuthenticatedOrSelected, kNoFlags},
    {"APPEND", kAuthenticatedOrSelected, kNoFlags},
    {"NAMESPACE", kAuthenticatedOrSelected, kNoFlags},  // RFC 2342 5
    {"ENABLE", kAuthenticatedOnly, kNoFlags},           // RFC 5161 3.1: before SELECT
    {"IDLE", kAuthenticatedOrSelected, kExclusive},     // RFC 2177 3, RFC 9051 6.3.13
    // RFC 3501 6.4: selected.
    {"CHECK", kSelectedOnly, kNoFlags},
    {"CLOSE", kSelectedOnly, kBreaksMailbox},
    {"UNSELECT", kSelectedOnly, kBreaksMailbox},  // RFC 3691 2
    {"EXPUNGE", kSelectedOnly, kNoFlags},
    {"SEARCH", kSelectedOnly, kSeqs},
    {"FETCH", kSelectedOnly, kSeqs},
    {"STORE", kSelectedOnly, kSeqs},
    {"COPY", kSelectedOnly, kNoFlags},
    {"MOVE", kSelectedOnly, kNoFlags},  // RFC 6851 3.1
    // RFC 3501 6.4.8: UID forms; their untagged FETCH responses still carry sequence
    // numbers, hence kUsesSeqs.
    {"UID SEARCH", kSelectedOnly, kUid},
    {"UID FETCH", kSelectedOnly, kUid},
    {"UID STORE", kSelectedOnly, kUid},
    {"UID COPY", kSelectedOnly, kUid},
    {"UID MOVE", kSelectedOnly, kUid},
    {"UID EXPUNGE", kSelectedOnly, kUid},  // RFC 4315 2.1
};

}  // namespace

const CommandSpec* FindCommand(std::string_view upper_name) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == upper_name) {
      return &spec;
    }
  }
  return nullptr;
}

Gate CheckCommand(const CommandSpec* spec, SessionState state) {
  if (spec == nullptr) {
    return Gate::kUnknown;
  }
  // kLogout is in no command's set: after LOGOUT nothing more is read (RFC 3501 3.4).
  return (spec->states & static_cast<uint8_t>(state)) != 0 ? Gate::kAllowed : Gate::kWrongState;
}

}  // namespace tern::imap::protocol
