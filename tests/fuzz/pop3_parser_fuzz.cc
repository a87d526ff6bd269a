// libFuzzer target for the POP3 protocol library. The input is fed to the command parser the
// way the session feeds it (one line per call, switching to raw mode after AUTH without an
// initial response), whole and in chunks, with the default limits and with tiny ones: both
// feeds must produce the same events. Every command is run through the command table. The
// same bytes are then sent as a message through DotStuffer and TopFilter, whole and in
// chunks, and the output must be the same, CRLF-correct and properly terminated. Invariants
// are checked with a trap, so a divergence is a crash, not just a sanitizer report.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/pop3/protocol/commands.h"
#include "services/pop3/protocol/encoder.h"
#include "services/pop3/protocol/parser.h"

namespace {

namespace protocol = tern::pop3::protocol;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<protocol::Event> Run(std::string_view input, const protocol::Limits& limits,
                                 size_t chunk) {
  protocol::Parser parser{limits};
  std::vector<protocol::Event> events;
  size_t start = 0;
  while (start < input.size()) {
    // One line per step, so a mode switch lands between lines as in the session.
    const size_t lf = input.find('\n', start);
    const size_t end = lf == std::string_view::npos ? input.size() : lf + 1;
    const size_t before = events.size();
    for (size_t i = start; i < end; i += chunk) {
      parser.Feed(input.substr(i, std::min(chunk, end - i)), events);
    }
    start = end;
    for (size_t i = before; i < events.size(); ++i) {
      const auto* command = std::get_if<protocol::Command>(&events[i]);
      if (command != nullptr && command->verb == "AUTH" && command->args.size() == 1) {
        parser.ExpectRawLine();
      }
    }
  }
  return events;
}

void CheckEvents(const std::vector<protocol::Event>& events, const protocol::Limits& limits) {
  for (const protocol::Event& event : events) {
    if (const auto* error = std::get_if<protocol::ParseError>(&event)) {
      Check(!error->message.empty());
    } else if (const auto* raw = std::get_if<protocol::RawLine>(&event)) {
      Check(raw->text.size() + 2 <= limits.max_raw_line);
      Check(raw->text.find('\n') == std::string::npos);
    } else {
      const auto& command = std::get<protocol::Command>(event);
      Check(command.verb.size() >= 3 && command.verb.size() <= 4);
      for (const char c : command.verb) {
        Check(c > 0x20 && c < 0x7f && !(c >= 'a' && c <= 'z'));
      }
      size_t total = command.verb.size();
      for (const std::string& arg : command.args) {
        Check(!arg.empty() || command.verb == "PASS");
        Check(arg.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
        Check(command.verb == "PASS" || arg.find(' ') == std::string::npos);
        total += arg.size() + 1;
      }
      Check(total + 2 <= limits.max_line);
      const protocol::CommandSpec* spec = protocol::FindCommand(command.verb);
      for (const protocol::State state :
           {protocol::State::kAuthorization, protocol::State::kTransaction,
            protocol::State::kUpdate}) {
        const protocol::Gate gate = protocol::Check(spec, state, command.args.size());
        Check((spec == nullptr) == (gate == protocol::Gate::kUnknown));
        Check(state != protocol::State::kUpdate || gate != protocol::Gate::kAllowed);
      }
      for (const std::string& arg : command.args) {
        if (const auto n = protocol::ParseMessageNumber(arg)) {
          Check(*n > 0 && protocol::ParseLineCount(arg) == *n);
        }
      }
    }
  }
}

// A multi-line body as the client reads it: CRLF everywhere, ".\r\n" at the end and nowhere
// else as a line of its own. Returns the number of stuffed dots.
size_t CheckMultiLine(std::string_view wire) {
  size_t stuffed = 0;
  Check(wire.size() >= 3 && wire.substr(wire.size() - 3) == ".\r\n");
  Check(wire.size() == 3 || (wire.size() >= 5 && wire.substr(wire.size() - 5, 2) == "\r\n"));
  for (size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r') Check(i + 1 < wire.size() && wire[i + 1] == '\n');
    if (wire[i] == '\n') Check(i > 0 && wire[i - 1] == '\r');
    const bool line_start = i == 0 || wire[i - 1] == '\n';
    if (line_start && wire[i] == '.' && i + 3 != wire.size()) {
      Check(i + 1 < wire.size() && wire[i + 1] == '.');
      ++i;  // the stuffed dot
      ++stuffed;
    }
  }
  return stuffed;
}

void CheckEncoder(std::string_view message, size_t chunk, uint64_t top_lines) {
  std::string whole;
  protocol::AppendDotStuffed(whole, message);
  const size_t stuffed = CheckMultiLine(whole);
  // RFC 1939 11: the size reported is what the client receives, stuffing not counted.
  Check(protocol::NormalizedSize(message) == whole.size() - 3 - stuffed);
  protocol::DotStuffer stuffer;
  std::string chunked;
  for (size_t i = 0; i < message.size(); i += chunk) {
    stuffer.Append(message.substr(i, chunk), chunked);
  }
  stuffer.Finish(chunked);
  Check(chunked == whole);

  std::string top;
  protocol::AppendTop(top, message, top_lines);
  CheckMultiLine(top);
  Check(top.size() <= whole.size());
  Check(whole.compare(0, top.size() - 3, top, 0, top.size() - 3) == 0);
  protocol::TopFilter filter{top_lines};
  protocol::DotStuffer top_stuffer;
  std::string top_chunked;
  for (size_t i = 0; i < message.size() && !filter.done(); i += chunk) {
    top_stuffer.Append(filter.Take(message.substr(i, chunk)), top_chunked);
  }
  top_stuffer.Finish(top_chunked);
  Check(top_chunked == top);

  std::string line;
  protocol::AppendErr(line, message, message);
  Check(line.size() <= protocol::kMaxResponseLine);
  Check(line.find_first_of("\r\n") == line.size() - 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks the chunk size of the second feed and the TOP line count.
  const size_t chunk = 1 + data[0] % 17;
  const uint64_t top_lines = data[0] % 5;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};

  const protocol::Limits defaults;
  const protocol::Limits tiny{.max_line = 16, .max_raw_line = 40};
  for (const protocol::Limits& limits : {defaults, tiny}) {
    const std::vector<protocol::Event> whole = Run(input, limits, input.size() + 1);
    Check(whole == Run(input, limits, chunk));
    CheckEvents(whole, limits);
  }
  CheckEncoder(input, chunk, top_lines);
  return 0;
}
