#include "services/ctl/mbox.h"

#include "services/common/strings.h"

namespace tern::ctl {
namespace {

std::optional<absl::Time> SeparatorTime(const std::string& line) {
  // "From sender@example.org Mon Jan  1 00:00:00 2024"
  const size_t sender_end = line.find(' ', 5);
  if (sender_end == std::string::npos) return std::nullopt;
  std::string date = line.substr(sender_end + 1);
  while (!date.empty() && (date.back() == ' ' || date.back() == '\r')) date.pop_back();
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%a %b %e %H:%M:%S %Y", ToAbsl(date), absl::UTCTimeZone(), &t, &err)) {
    return t;
  }
  return std::nullopt;
}

bool IsQuotedFrom(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && line[i] == '>') ++i;
  return i > 0 && line.compare(i, 5, "From ") == 0;
}

}  // namespace

absl::StatusOr<std::optional<MboxMessage>> MboxReader::Next() {
  std::string line;
  if (!started_) {
    started_ = true;
    if (!std::getline(in_, line)) return std::optional<MboxMessage>();
    if (!line.starts_with("From ")) {
      return absl::InvalidArgumentError("not an mbox file: it does not start with \"From \"");
    }
    pending_from_ = line;
  }
  if (!pending_from_) return std::optional<MboxMessage>();
  MboxMessage msg;
  msg.delivered_at = SeparatorTime(*pending_from_);
  pending_from_.reset();
  bool previous_blank = false;
  size_t blank_run = 0;  // trailing blank lines held back: the last one separates messages
  while (std::getline(in_, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (previous_blank && line.starts_with("From ")) {
      pending_from_ = line;
      break;
    }
    if (line.empty()) {
      ++blank_run;
      previous_blank = true;
      continue;
    }
    for (; blank_run > 0; --blank_run) msg.bytes += "\r\n";
    previous_blank = false;
    if (IsQuotedFrom(line)) line.erase(0, 1);
    msg.bytes += line;
    msg.bytes += "\r\n";
    if (msg.bytes.size() > max_message_) {
      return absl::ResourceExhaustedError(Cat("a message is larger than ", max_message_, " bytes"));
    }
  }
  // Every message in an mbox is followed by one blank line; the rest belong to it.
  if (blank_run > 0) --blank_run;
  for (; blank_run > 0; --blank_run) msg.bytes += "\r\n";
  return std::optional<MboxMessage>(std::move(msg));
}

}  // namespace tern::ctl
