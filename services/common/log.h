#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace tern::common {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn" or "error".
absl::Status ParseLogLevel(std::string_view text, LogLevel& out);

// One key/value of a structured log line. Numbers stay numbers in the JSON.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, int64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, double v);
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}

  std::string_view key;
  std::string value;
  bool quoted;
};

// Structured JSON logs, one object per line:
//   {"time":"2026-11-23T05:15:11.123Z","level":"info","service":"tern-metad",
//    "instance":"metad-0","msg":"...","request_id":"...", ...fields}
// Fields of the current thread's ScopedLogContext (request or session id) are included.
void InitLogging(std::string_view service, std::string_view instance, LogLevel level,
                 std::FILE* out = stderr);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
void Log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields);

inline void LogDebug(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kDebug, msg, f);
}
inline void LogInfo(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kInfo, msg, f);
}
inline void LogWarn(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kWarn, msg, f);
}
inline void LogError(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kError, msg, f);
}

// Adds fields (request_id, session) to every line this thread logs while it lives.
class ScopedLogContext {
 public:
  ScopedLogContext(std::string_view key, std::string_view value);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  size_t previous_size_;
};

// Appends text as a JSON string body (no surrounding quotes), escaping quotes, backslashes
// and control characters; invalid UTF-8 bytes become U+FFFD so every line stays valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view text);

// Renders one line without writing it (for tests).
std::string FormatLogLineForTest(LogLevel level, std::string_view msg,
                                 std::initializer_list<LogField> fields);

}  // namespace tern::common
