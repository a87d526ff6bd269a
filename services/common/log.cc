#include "services/common/log.h"

#include <atomic>
#include <mutex>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

struct LogState {
  std::mutex mu;
  std::string service = "tern";
  std::string instance;
  std::FILE* out = stderr;
};

LogState& State() {
  static LogState* state = new LogState();
  return *state;
}

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

thread_local std::vector<std::pair<std::string, std::string>> t_context;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::string Render(LogLevel level, std::string_view msg, const LogField* fields, size_t n) {
  LogState& st = State();
  std::string service, instance;
  {
    std::lock_guard lock(st.mu);
    service = st.service;
    instance = st.instance;
  }
  std::string line;
  line.reserve(160 + msg.size());
  line += "{\"time\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"service\":\"";
  AppendJsonEscaped(line, service);
  line += "\"";
  if (!instance.empty()) {
    line += ",\"instance\":\"";
    AppendJsonEscaped(line, instance);
    line += "\"";
  }
  line += ",\"msg\":\"";
  AppendJsonEscaped(line, msg);
  line += "\"";
  for (const auto& [key, value] : t_context) {
    line += ",\"";
    AppendJsonEscaped(line, key);
    line += "\":\"";
    AppendJsonEscaped(line, value);
    line += "\"";
  }
  for (size_t i = 0; i < n; ++i) {
    line += ",\"";
    AppendJsonEscaped(line, fields[i].key);
    line += "\":";
    if (fields[i].quoted) {
      line += "\"";
      AppendJsonEscaped(line, fields[i].value);
      line += "\"";
    } else {
      line += fields[i].value;
    }
  }
  line += "}\n";
  return line;
}

}  // namespace

LogField::LogField(std::string_view k, double v)
    : key(k), value(absl::StrFormat("%.6g", v)), quoted(false) {}

absl::Status ParseLogLevel(std::string_view text, LogLevel& out) {
  if (text == "debug") {
    out = LogLevel::kDebug;
  } else if (text == "info") {
    out = LogLevel::kInfo;
  } else if (text == "warn" || text == "warning") {
    out = LogLevel::kWarn;
  } else if (text == "error") {
    out = LogLevel::kError;
  } else {
    return absl::InvalidArgumentError(
        Cat("log level must be debug, info, warn or error, not '", text, "'"));
  }
  return absl::OkStatus();
}

void InitLogging(std::string_view service, std::string_view instance, LogLevel level,
                 std::FILE* out) {
  LogState& st = State();
  std::lock_guard lock(st.mu);
  st.service = std::string(service);
  st.instance = std::string(instance);
  st.out = out;
  g_level.store(static_cast<int>(level));
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  const std::string line = Render(level, msg, fields.begin(), fields.size());
  LogState& st = State();
  std::lock_guard lock(st.mu);
  std::fwrite(line.data(), 1, line.size(), st.out);
  std::fflush(st.out);
}

void Log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields) {
  if (!LogEnabled(level)) return;
  const std::string line = Render(level, msg, fields.data(), fields.size());
  LogState& st = State();
  std::lock_guard lock(st.mu);
  std::fwrite(line.data(), 1, line.size(), st.out);
  std::fflush(st.out);
}

ScopedLogContext::ScopedLogContext(std::string_view key, std::string_view value)
    : previous_size_(t_context.size()) {
  t_context.emplace_back(std::string(key), std::string(value));
}

ScopedLogContext::~ScopedLogContext() { t_context.resize(previous_size_); }

void AppendJsonEscaped(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            absl::StrAppendFormat(&out, "\\u%04x", c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    if (const size_t len = Utf8SequenceLength(text, i); len > 0) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
}

std::string FormatLogLineForTest(LogLevel level, std::string_view msg,
                                 std::initializer_list<LogField> fields) {
  return Render(level, msg, fields.begin(), fields.size());
}

}  // namespace tern::common
