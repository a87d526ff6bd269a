// libFuzzer target for the IMAP protocol library: feeds the input to the command parser
// whole and in chunks (with the default limits and with tiny ones) and checks that both
// produce the same events, runs the sequence-set parser on every atom, and checks the
// modified UTF-7 codec round trips. Invariants are checked with a trap, so a divergence is
// a crash, not just a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/imap/protocol/mutf7.h"
#include "services/imap/protocol/parser.h"

namespace {

namespace protocol = tern::imap::protocol;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void VisitValue(const protocol::Value& v, int depth) {
  Check(depth <= 64);
  if (v.IsAtom()) {
    if (const auto set = protocol::ParseSequenceSet(v.text)) {
      Check(set->saved_result || !set->ranges.empty());
    }
  }
  if (v.IsAstring()) {
    if (const auto decoded = protocol::DecodeMailboxName(v.text)) {
      // A valid name decodes again after re-encoding (adjacent shifts may merge).
      Check(protocol::DecodeMailboxName(protocol::EncodeMailboxName(*decoded)) == decoded);
    }
    Check(protocol::DecodeMailboxName(protocol::EncodeMailboxName(v.text)).has_value());
  }
  for (const protocol::Value& item : v.list) {
    VisitValue(item, depth + 1);
  }
}

std::vector<protocol::Event> Run(std::string_view input, const protocol::Limits& limits,
                                 size_t chunk) {
  protocol::Parser parser{limits};
  std::vector<protocol::Event> events;
  for (size_t i = 0; i < input.size(); i += chunk) {
    parser.Feed(input.substr(i, chunk), events);
  }
  return events;
}

void CheckEvents(const std::vector<protocol::Event>& events, const protocol::Limits& limits) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (const auto* error = std::get_if<protocol::ParseError>(&events[i])) {
      Check(!error->message.empty());
      // Nothing follows a fatal error.
      Check(!error->fatal || i + 1 == events.size());
    } else if (const auto* command = std::get_if<protocol::Command>(&events[i])) {
      Check(!command->tag.empty() && !command->name.empty());
      for (const protocol::Value& arg : command->args) {
        VisitValue(arg, 0);
      }
    } else {
      Check(std::get<protocol::NeedContinuation>(events[i]).size <= limits.max_literal);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks the chunk size of the second feed, so splits are explored too.
  const size_t chunk = 1 + data[0] % 17;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};

  const protocol::Limits defaults;
  const protocol::Limits tiny{.max_line = 64, .max_literal = 32, .max_depth = 3, .max_items = 12};
  for (const protocol::Limits& limits : {defaults, tiny}) {
    const std::vector<protocol::Event> whole = Run(input, limits, input.size() + 1);
    Check(whole == Run(input, limits, chunk));
    CheckEvents(whole, limits);
  }
  return 0;
}
