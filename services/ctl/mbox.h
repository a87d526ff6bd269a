#pragma once

#include <istream>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::ctl {

struct MboxMessage {
  std::string bytes;                       // RFC 5322 message, CRLF line endings
  std::optional<absl::Time> delivered_at;  // from the "From " separator line, if readable
};

// Reads an mbox file one message at a time (bounded memory: at most max_message bytes).
// Messages start at a "From " line at the start of the file or after a blank line; quoted
// ">From " lines are unquoted (mboxrd: one '>' removed from ">+From "); the blank line
// that separates messages is not part of them; bare LF becomes CRLF.
class MboxReader {
 public:
  MboxReader(std::istream& in, size_t max_message) : in_(in), max_message_(max_message) {}
  // The next message, nullopt at the end; InvalidArgument for a file that is not mbox or
  // ResourceExhausted for a message over max_message.
  absl::StatusOr<std::optional<MboxMessage>> Next();

 private:
  std::istream& in_;
  size_t max_message_;
  std::optional<std::string> pending_from_;  // the separator line of the next message
  bool started_ = false;
};

}  // namespace tern::ctl
