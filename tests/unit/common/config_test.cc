#include "services/common/config.h"

#include <gtest/gtest.h>

#include <map>

namespace tern::common {
namespace {

const std::vector<SettingSpec> kSpecs = {
    {"listen", "TERN_LISTEN", "0.0.0.0:7001", SettingType::kString, "where"},
    {"threads", "TERN_THREADS", "4", SettingType::kInt, "how many"},
    {"verbose", "TERN_VERBOSE", "false", SettingType::kBool, "chatty"},
    {"grace", "TERN_GRACE", "10s", SettingType::kDuration, "how long"},
    {"password", "TERN_PASSWORD", "", SettingType::kString, "secret", true},
};

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<Config> Parse(std::vector<const char*> args,
                             std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "prog");
  return Config::Parse(kSpecs, static_cast<int>(args.size()), args.data(), Env(std::move(env)));
}

TEST(ConfigTest, DefaultsApplyWhenNothingIsGiven) {
  auto cfg = Parse({});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->GetString("listen"), "0.0.0.0:7001");
  EXPECT_EQ(cfg->GetInt("threads"), 4);
  EXPECT_FALSE(cfg->GetBool("verbose"));
  EXPECT_EQ(cfg->GetDuration("grace"), absl::Seconds(10));
  EXPECT_EQ(cfg->SourceOf("threads"), "default");
}

TEST(ConfigTest, EnvironmentOverridesDefault) {
  auto cfg = Parse({}, {{"TERN_THREADS", "9"}, {"TERN_GRACE", "250ms"}, {"TERN_VERBOSE", "yes"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->GetInt("threads"), 9);
  EXPECT_EQ(cfg->GetDuration("grace"), absl::Milliseconds(250));
  EXPECT_TRUE(cfg->GetBool("verbose"));
  EXPECT_EQ(cfg->SourceOf("threads"), "env");
}

TEST(ConfigTest, FlagWinsOverEnvironment) {
  auto cfg = Parse({"--threads=2", "--listen", "127.0.0.1:1"}, {{"TERN_THREADS", "9"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->GetInt("threads"), 2);
  EXPECT_EQ(cfg->GetString("listen"), "127.0.0.1:1");
  EXPECT_EQ(cfg->SourceOf("threads"), "flag");
}

TEST(ConfigTest, BareBoolFlagMeansTrue) {
  auto cfg = Parse({"--verbose"});
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->GetBool("verbose"));
  cfg = Parse({"--verbose=false"});
  ASSERT_TRUE(cfg.ok());
  EXPECT_FALSE(cfg->GetBool("verbose"));
}

TEST(ConfigTest, RejectsUnknownFlagsAndPositionalArguments) {
  EXPECT_EQ(Parse({"--nope=1"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"stray"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"--listen"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, RejectsMalformedValuesNamingTheSource) {
  auto bad_int = Parse({"--threads=four"});
  EXPECT_EQ(bad_int.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_env = Parse({}, {{"TERN_GRACE", "soon"}});
  ASSERT_FALSE(bad_env.ok());
  EXPECT_NE(std::string(bad_env.status().message()).find("TERN_GRACE"), std::string::npos);
  EXPECT_FALSE(Parse({"--verbose=maybe"}).ok());
  EXPECT_FALSE(Parse({"--grace=-1s"}).ok());
}

TEST(ConfigTest, HelpIsReportedAndUsageListsEveryFlagAndVariable) {
  auto cfg = Parse({"--help"});
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->help_requested());
  const std::string usage = Config::Usage("prog", kSpecs);
  for (const SettingSpec& s : kSpecs) {
    EXPECT_NE(usage.find(std::string("--") + std::string(s.flag)), std::string::npos);
    EXPECT_NE(usage.find(std::string(s.env)), std::string::npos);
  }
}

TEST(ConfigTest, SecretsAreMaskedInTheLogDescription) {
  auto cfg = Parse({"--password=hunter2"});
  ASSERT_TRUE(cfg.ok());
  const auto described = cfg->DescribeForLog();
  EXPECT_EQ(described.at("password"), "<redacted>");
  EXPECT_EQ(described.at("listen"), "0.0.0.0:7001");
}

TEST(ConfigTest, CommonSettingsHaveUniqueFlagsAndVariables) {
  const auto specs = CommonSettings("0.0.0.0:1", "0.0.0.0:2");
  std::set<std::string_view> flags, envs;
  for (const SettingSpec& s : specs) {
    EXPECT_TRUE(flags.insert(s.flag).second) << s.flag;
    EXPECT_TRUE(envs.insert(s.env).second) << s.env;
    EXPECT_EQ(s.env.substr(0, 5), "TERN_");
  }
  const char* argv[] = {"prog"};
  EXPECT_TRUE(Config::Parse(specs, 1, argv, Env({})).ok());
}

}  // namespace
}  // namespace tern::common
