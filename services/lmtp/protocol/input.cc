#include "services/lmtp/protocol/input.h"

#include <algorithm>
#include <cctype>

namespace tern::lmtp::protocol {
namespace {

// "BDAT" SP chunk-size [SP ...]: the chunk size of a BDAT line, whatever follows it.
std::optional<uint64_t> RefusedChunkSize(std::string_view line) {
  constexpr std::string_view kBdat = "BDAT";
  if (line.size() <= kBdat.size() + 1 || line[kBdat.size()] != ' ') return std::nullopt;
  for (size_t i = 0; i < kBdat.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(line[i])) != kBdat[i]) return std::nullopt;
  }
  line.remove_prefix(kBdat.size() + 1);
  const std::string_view digits = line.substr(0, line.find(' '));
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

Reply ProblemReply(ContentProblem problem) {
  switch (problem) {
    case ContentProblem::kTooBig:
      // RFC 1870 6.2: 552 once the fixed maximum is exceeded; RFC 3463 5.3.4.
      return MakeReply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    case ContentProblem::kLineTooLong:
      // RFC 5321 4.5.3.1.6 limits a text line to 1000 octets; 4.5.3.1.9: "500 Line too long".
      return MakeReply(500, "5.5.2", "Line too long");
    case ContentProblem::kHeaderTooLarge:
      return MakeReply(552, "5.3.4", "Message header section too large");
    case ContentProblem::kBareLineEnd:
      // RFC 5321 2.3.8: CR and LF must only be sent together as CRLF.
      return MakeReply(550, "5.6.0", "Message contains a bare CR or LF");
    case ContentProblem::kNone:
      break;
  }
  return MakeReply(250, "2.0.0", "OK");
}

// ---- Content ----

void Content::Clear() {
  message_.clear();
  if (message_.capacity() > (1 << 20)) message_.shrink_to_fit();
  received_ = 0;
  problem_ = ContentProblem::kNone;
  pending_cr_ = false;
  line_length_ = 0;
  in_header_ = true;
  header_length_ = 0;
}

void Content::Store(std::string_view bytes) {
  const size_t need = message_.size() + bytes.size();
  if (need > message_.capacity() && 2 * uint64_t{message_.capacity()} > limits_.max_message) {
    // append() would double the capacity past max_message: allocate the limit exactly
    // (a fresh string, since reserve() on this one may double as well).
    std::string grown;
    grown.reserve(static_cast<size_t>(std::max<uint64_t>(need, limits_.max_message)));
    grown.append(message_);
    message_.swap(grown);
  }
  message_.append(bytes);
}

void Content::Emit(char c) {
  if (message_.size() >= limits_.max_message) {
    Fail(ContentProblem::kTooBig);
    return;
  }
  Store(std::string_view(&c, 1));
}

void Content::LineBreak(bool bare) {
  if (bare) {
    if (limits_.bare_line_ends == BareLineEnds::kReject) Fail(ContentProblem::kBareLineEnd);
  }
  Emit('\r');
  Emit('\n');
  if (line_length_ + 2 > limits_.max_text_line) Fail(ContentProblem::kLineTooLong);
  if (in_header_) {
    header_length_ += line_length_ + 2;
    if (header_length_ > limits_.max_header) Fail(ContentProblem::kHeaderTooLarge);
    if (line_length_ == 0) in_header_ = false;  // the empty line ends the header section
  }
  line_length_ = 0;
}

void Content::Append(std::string_view bytes) {
  received_ += bytes.size();
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        LineBreak(false);
        continue;
      }
      LineBreak(true);  // the CR before this byte was bare
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      LineBreak(true);
    } else {
      // The fast path: a run of ordinary bytes.
      size_t end = i + 1;
      while (end < bytes.size() && bytes[end] != '\r' && bytes[end] != '\n') ++end;
      const size_t n = end - i;
      // The problem reported is the limit the earliest byte of the run crosses (ties in the
      // order line, header, size: a run of one byte checks them in that order), so it does
      // not depend on how the input was split into Append calls.
      ContentProblem first = ContentProblem::kNone;
      uint64_t first_at = uint64_t{n} + 1;
      const auto consider = [&](uint64_t used, uint64_t limit, ContentProblem p) {
        // The 1-based position in the run of the first byte with used + k > limit.
        const uint64_t at = used >= limit ? 1 : limit - used + 1;
        if (at < first_at) {
          first_at = at;
          first = p;
        }
      };
      consider(uint64_t{line_length_} + 2, limits_.max_text_line, ContentProblem::kLineTooLong);
      if (in_header_) {
        consider(uint64_t{header_length_} + line_length_, limits_.max_header,
                 ContentProblem::kHeaderTooLarge);
      }
      consider(message_.size(), limits_.max_message, ContentProblem::kTooBig);
      if (first != ContentProblem::kNone) Fail(first);
      line_length_ += n;
      const uint64_t room =
          message_.size() >= limits_.max_message ? 0 : limits_.max_message - message_.size();
      Store(bytes.substr(i, static_cast<size_t>(std::min<uint64_t>(n, room))));
      i = end - 1;
    }
  }
}

void Content::Finish() {
  if (pending_cr_) {
    pending_cr_ = false;
    LineBreak(true);
  }
  // A last line without its line ending still counts against the line limit.
  if (line_length_ + 2 > limits_.max_text_line) Fail(ContentProblem::kLineTooLong);
}

// ---- Reader ----

Reader::Reader(Limits limits) : limits_(limits), content_(limits_) {}

void Reader::StartData() {
  mode_ = Mode::kData;
  data_ = DataState::kLineStart;
  content_.Clear();
}

void Reader::Reset() {
  mode_ = Mode::kCommand;
  skipping_ = false;
  chunk_left_ = 0;
  content_.Clear();
}

std::optional<Event> Reader::Next(std::string_view input, size_t& consumed) {
  consumed = 0;
  switch (mode_) {
    case Mode::kCommand:
      return NextCommand(input, consumed);
    case Mode::kData: {
      const bool done = FeedData(input, consumed);
      if (!done) return std::nullopt;
      content_.Finish();
      mode_ = Mode::kCommand;
      return DataEnd{};
    }
    case Mode::kChunk: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, input.size()));
      content_.Append(input.substr(0, n));
      consumed = n;
      chunk_left_ -= n;
      if (chunk_left_ > 0) return std::nullopt;
      mode_ = Mode::kCommand;
      if (chunk_last_) content_.Finish();
      return ChunkEnd{.last = chunk_last_};
    }
    case Mode::kDiscard: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, input.size()));
      chunk_left_ -= n;
      if (chunk_left_ > 0) {
        consumed = n;
        return std::nullopt;
      }
      // No event of its own: go on to the next command, so input already held (pipelined
      // commands) is not left waiting for more.
      mode_ = Mode::kCommand;
      std::optional<Event> event = NextCommand(input.substr(n), consumed);
      consumed += n;
      return event;
    }
  }
  return std::nullopt;
}

std::optional<Event> Reader::NextCommand(std::string_view input, size_t& consumed) {
  const size_t lf = input.find('\n');
  if (skipping_) {
    if (lf == std::string_view::npos) {
      consumed = input.size();
      return std::nullopt;
    }
    consumed = lf + 1;
    skipping_ = false;
    return ErrorEvent{MakeReply(500, "5.5.2", "Line too long")};  // RFC 5321 4.5.3.1.9
  }
  if (lf == std::string_view::npos) {
    if (input.size() + 1 > limits_.max_command_line) {
      consumed = input.size();
      skipping_ = true;
    }
    return std::nullopt;
  }
  consumed = lf + 1;
  std::string_view line = input.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() + 2 > limits_.max_command_line) {
    return ErrorEvent{MakeReply(500, "5.5.2", "Line too long")};
  }
  // A refused BDAT line that still names its chunk size: the chunk follows anyway (RFC 3030
  // 2) and must not be read as commands.
  const auto refuse = [&](Reply reply) -> Event {
    if (const std::optional<uint64_t> size = RefusedChunkSize(line); size && *size > 0) {
      mode_ = Mode::kDiscard;
      chunk_left_ = *size;
    }
    return ErrorEvent{std::move(reply)};
  };
  if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
    return refuse(MakeReply(500, "5.5.2", "Syntax error"));
  }
  std::variant<Command, Reply> parsed = ParseCommand(line);
  if (Reply* error = std::get_if<Reply>(&parsed)) return refuse(std::move(*error));
  Command& command = std::get<Command>(parsed);
  if (command.verb == Verb::kBdat) {
    // RFC 3030 2: the chunk follows the command whatever the reply will be.
    mode_ = Mode::kChunk;
    chunk_left_ = command.chunk_size;
    chunk_last_ = command.last;
  }
  return CommandEvent{std::move(command)};
}

bool Reader::FeedData(std::string_view input, size_t& used) {
  // RFC 5321 4.5.2: a line that starts with "." has it removed; a line of just "." ends the
  // content (4.1.1.4: CRLF "." CRLF, the first CRLF belonging to the content).
  size_t i = 0;
  size_t run = 0;  // start of bytes not yet handed to content_
  auto flush = [&](size_t end) {
    if (end > run) content_.Append(input.substr(run, end - run));
    run = end;
  };
  while (i < input.size()) {
    const char c = input[i];
    switch (data_) {
      case DataState::kLineStart:
        if (c == '.') {
          flush(i);
          run = i + 1;  // the dot is held back
          data_ = DataState::kDot;
        } else {
          data_ = c == '\r' ? DataState::kCr : DataState::kBody;
        }
        ++i;
        break;
      case DataState::kBody: {
        const size_t cr = input.find('\r', i);
        if (cr == std::string_view::npos) {
          i = input.size();
        } else {
          i = cr + 1;
          data_ = DataState::kCr;
        }
        break;
      }
      case DataState::kCr:
        data_ = c == '\n' ? DataState::kLineStart : c == '\r' ? DataState::kCr : DataState::kBody;
        ++i;
        break;
      case DataState::kDot:
        if (c == '\r') {
          run = i + 1;  // CR held back too: it may be the end
          data_ = DataState::kDotCr;
        } else {
          // Other characters on the line: the dot was stuffing and stays removed.
          data_ = DataState::kBody;
        }
        ++i;
        break;
      case DataState::kDotCr:
        if (c == '\n') {
          used = i + 1;
          return true;
        }
        // "." CR <not LF>: the line goes on; the dot is dropped, the CR is content.
        content_.Append("\r");
        run = i;
        data_ = DataState::kCr;
        break;  // re-examine c in kCr
    }
  }
  // Everything is handed over except what is held back (the dot, or dot and CR).
  if (data_ != DataState::kDot && data_ != DataState::kDotCr) flush(input.size());
  used = input.size();
  return false;
}

}  // namespace tern::lmtp::protocol
