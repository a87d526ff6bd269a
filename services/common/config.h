#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::common {

enum class SettingType { kString, kInt, kBool, kDuration };

// One configuration setting: a command-line flag and the one environment variable that
// also sets it. A flag given on the command line wins over the environment variable, which
// wins over the default.
struct SettingSpec {
  std::string_view flag;  // without the leading "--", e.g. "grpc-listen"
  std::string_view env;   // e.g. "TERN_GRPC_LISTEN"
  std::string_view default_value;
  SettingType type;
  std::string_view help;
  bool secret = false;  // never printed: DescribeForLog masks it
};

// Reads an environment variable; tests pass a map instead of the real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup ProcessEnv();

// The settings every Tern service binary shares.
std::vector<SettingSpec> CommonSettings(std::string_view grpc_listen, std::string_view http_listen);

// Parsed, type-checked configuration. Every value is validated at parse time, so the
// getters cannot fail for a declared setting.
class Config {
 public:
  // Parses argv (argv[0] is the program) against specs. Accepts "--flag=value" and
  // "--flag value"; a bool flag alone means true. Unknown flags, malformed values and
  // positional arguments are InvalidArgument. "--help" sets help_requested().
  static absl::StatusOr<Config> Parse(std::span<const SettingSpec> specs, int argc,
                                      const char* const* argv, const EnvLookup& env);

  const std::string& GetString(std::string_view flag) const;
  int64_t GetInt(std::string_view flag) const;
  bool GetBool(std::string_view flag) const;
  absl::Duration GetDuration(std::string_view flag) const;

  bool help_requested() const { return help_requested_; }
  // Where a value came from: "flag", "env" or "default".
  std::string_view SourceOf(std::string_view flag) const;

  // The reference printed by --help: flag, env var, default and help of each setting.
  static std::string Usage(std::string_view program, std::span<const SettingSpec> specs);
  // "flag=value" pairs for the start-up log line; secret settings are masked.
  std::map<std::string, std::string> DescribeForLog() const;

 private:
  struct Value {
    SettingSpec spec;
    std::string raw;
    std::string_view source;
    int64_t int_value = 0;
    bool bool_value = false;
    absl::Duration duration_value;
  };
  const Value& Find(std::string_view flag, SettingType type) const;

  std::vector<SettingSpec> specs_;
  std::map<std::string, Value, std::less<>> values_;
  bool help_requested_ = false;
};

}  // namespace tern::common
