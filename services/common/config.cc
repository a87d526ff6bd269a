#include "services/common/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "services/common/strings.h"

namespace tern::common {
namespace {

absl::Status Validate(const SettingSpec& spec, std::string_view raw, int64_t& int_value,
                      bool& bool_value, absl::Duration& duration_value) {
  switch (spec.type) {
    case SettingType::kString:
      return absl::OkStatus();
    case SettingType::kInt:
      if (!absl::SimpleAtoi(ToAbsl(raw), &int_value)) {
        return absl::InvalidArgumentError(Cat("--", spec.flag, ": not an integer: '", raw, "'"));
      }
      return absl::OkStatus();
    case SettingType::kBool: {
      const std::string lower = absl::AsciiStrToLower(std::string(raw));
      if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
        bool_value = true;
      } else if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
        bool_value = false;
      } else {
        return absl::InvalidArgumentError(Cat("--", spec.flag, ": not a boolean: '", raw, "'"));
      }
      return absl::OkStatus();
    }
    case SettingType::kDuration:
      if (!absl::ParseDuration(ToAbsl(raw), &duration_value) ||
          duration_value < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            Cat("--", spec.flag, ": not a duration (like 500ms, 10s, 2m): '", raw, "'"));
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown setting type");
}

std::string_view TypeName(SettingType type) {
  switch (type) {
    case SettingType::kString:
      return "string";
    case SettingType::kInt:
      return "int";
    case SettingType::kBool:
      return "bool";
    case SettingType::kDuration:
      return "duration";
  }
  return "?";
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::vector<SettingSpec> CommonSettings(std::string_view grpc_listen,
                                        std::string_view http_listen) {
  return {
      {"grpc-listen", "TERN_GRPC_LISTEN", grpc_listen, SettingType::kString,
       "address:port the gRPC server listens on"},
      {"http-listen", "TERN_HTTP_LISTEN", http_listen, SettingType::kString,
       "address:port of the HTTP endpoint serving /metrics, /healthz and /readyz"},
      {"log-level", "TERN_LOG_LEVEL", "info", SettingType::kString, "debug, info, warn or error"},
      {"instance", "TERN_INSTANCE", "", SettingType::kString,
       "name of this replica in logs and metrics (default: the host name)"},
      {"shutdown-grace", "TERN_SHUTDOWN_GRACE", "10s", SettingType::kDuration,
       "on SIGTERM, how long in-flight work may run before it is cancelled"},
      {"grpc-tls-cert", "TERN_GRPC_TLS_CERT", "", SettingType::kString,
       "PEM certificate chain for the gRPC server (empty: plaintext gRPC)"},
      {"grpc-tls-key", "TERN_GRPC_TLS_KEY", "", SettingType::kString,
       "PEM private key for --grpc-tls-cert"},
      {"grpc-tls-ca", "TERN_GRPC_TLS_CA", "", SettingType::kString,
       "PEM CA bundle; when set, gRPC clients must present a certificate it signed (mTLS)"},
      {"grpc-max-threads", "TERN_GRPC_MAX_THREADS", "16", SettingType::kInt,
       "upper bound on gRPC worker threads; calls beyond it get RESOURCE_EXHAUSTED"},
      {"readiness-interval", "TERN_READINESS_INTERVAL", "1s", SettingType::kDuration,
       "how often the dependencies behind /readyz are checked"},
      {"readiness-timeout", "TERN_READINESS_TIMEOUT", "2s", SettingType::kDuration,
       "deadline of each dependency check"},
  };
}

absl::StatusOr<Config> Config::Parse(std::span<const SettingSpec> specs, int argc,
                                     const char* const* argv, const EnvLookup& env) {
  Config config;
  config.specs_.assign(specs.begin(), specs.end());
  std::map<std::string, std::string, std::less<>> from_flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      config.help_requested_ = true;
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(Cat("unexpected argument '", arg, "'"));
    }
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::optional<std::string> value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    const SettingSpec* spec = nullptr;
    for (const SettingSpec& s : config.specs_) {
      if (s.flag == name) spec = &s;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(Cat("unknown flag --", name));
    }
    if (!value.has_value()) {
      if (spec->type == SettingType::kBool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(Cat("--", name, " needs a value"));
      }
    }
    from_flags[std::string(name)] = *value;
  }

  for (const SettingSpec& spec : config.specs_) {
    Value v{.spec = spec};
    if (auto it = from_flags.find(spec.flag); it != from_flags.end()) {
      v.raw = it->second;
      v.source = "flag";
    } else if (std::optional<std::string> e = env(spec.env); e.has_value()) {
      v.raw = *e;
      v.source = "env";
    } else {
      v.raw = std::string(spec.default_value);
      v.source = "default";
    }
    if (absl::Status s = Validate(spec, v.raw, v.int_value, v.bool_value, v.duration_value);
        !s.ok()) {
      if (v.source == "env") {
        return absl::InvalidArgumentError(Cat(spec.env, ": ", s.message()));
      }
      return s;
    }
    config.values_.emplace(std::string(spec.flag), std::move(v));
  }
  return config;
}

const Config::Value& Config::Find(std::string_view flag, SettingType type) const {
  auto it = values_.find(flag);
  if (it == values_.end() || it->second.spec.type != type) {
    // A programming error: the caller asked for a setting it never declared.
    std::fprintf(stderr, "tern: undeclared setting --%.*s\n", static_cast<int>(flag.size()),
                 flag.data());
    std::abort();
  }
  return it->second;
}

const std::string& Config::GetString(std::string_view flag) const {
  return Find(flag, SettingType::kString).raw;
}
int64_t Config::GetInt(std::string_view flag) const {
  return Find(flag, SettingType::kInt).int_value;
}
bool Config::GetBool(std::string_view flag) const {
  return Find(flag, SettingType::kBool).bool_value;
}
absl::Duration Config::GetDuration(std::string_view flag) const {
  return Find(flag, SettingType::kDuration).duration_value;
}

std::string_view Config::SourceOf(std::string_view flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::string_view{} : it->second.source;
}

std::string Config::Usage(std::string_view program, std::span<const SettingSpec> specs) {
  std::string out = Cat("usage: ", program, " [--flag=value ...]\n\n",
                        "Each flag can also be set by its environment variable; a flag "
                        "on the command line wins.\n\n");
  for (const SettingSpec& s : specs) {
    absl::StrAppendFormat(&out, "  --%-22s %-26s %-8s default: %s\n      %s\n", s.flag, s.env,
                          TypeName(s.type), s.default_value.empty() ? "(empty)" : s.default_value,
                          s.help);
  }
  return out;
}

std::map<std::string, std::string> Config::DescribeForLog() const {
  std::map<std::string, std::string> out;
  for (const auto& [flag, value] : values_) {
    out[flag] = value.spec.secret && !value.raw.empty() ? "<redacted>" : value.raw;
  }
  return out;
}

}  // namespace tern::common
