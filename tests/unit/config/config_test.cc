#include "server/config/config.h"

#include "server/config/settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <set>

namespace backtest::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A private folder with a config file in it.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteFile(const std::string& text) {
    std::string path = (dir_ / "backtestd.toml").string();
    std::ofstream(path) << text;
    return path;
  }

  // Inputs with a fake environment.
  Inputs With(std::string file, std::map<std::string, std::string> env,
              std::map<std::string, std::vector<std::string>> flags = {}) {
    Inputs inputs;
    inputs.config_file = std::move(file);
    inputs.flags = std::move(flags);
    inputs.environment = [env](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    return inputs;
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigTest, DefaultsWithoutAnything) {
  absl::StatusOr<DaemonConfig> config = Resolve(With("", {}));
  ASSERT_TRUE(config.ok()) << config.status();
  ServerOptions defaults;
  EXPECT_EQ(config->server.listen, defaults.listen);
  EXPECT_EQ(config->server.workers, defaults.workers);
  EXPECT_EQ(config->log_level, "info");
  EXPECT_TRUE(config->origins.empty());
  EXPECT_THAT(Describe(*config), HasSubstr("workers = 2  # default"));
}

TEST_F(ConfigTest, FlagsOverEnvironmentOverFileOverDefaults) {
  std::string file = WriteFile(R"(
listen = "127.0.0.1:7000"
db = "/srv/file.db"
[jobs]
workers = 3
queue_size = 10
cpu_seconds = 5
[trace]
max_rows = 1000
)");
  absl::StatusOr<DaemonConfig> config =
      Resolve(With(file,
                   {{"BACKTEST_LISTEN", "127.0.0.1:7001"},
                    {"BACKTEST_WORKERS", "4"},
                    {"BACKTEST_QUEUE_SIZE", "11"},
                    {"BOTS_TRACE_MAX_ROWS", "2000"}},
                   {{"jobs.workers", {"5"}}, {"trace.max_rows", {"3000"}}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.db_path, "/srv/file.db");        // file over default
  EXPECT_EQ(config->server.cpu_seconds, 5);                 // file
  EXPECT_EQ(config->server.listen, "127.0.0.1:7001");       // env over file
  EXPECT_EQ(config->server.queue_size, 11);                 // env over file
  EXPECT_EQ(config->server.workers, 5);                     // flag over env and file
  EXPECT_EQ(config->server.trace_max_rows, 3000);           // flag over the seed's variable
  EXPECT_EQ(config->server.memory_mb, ServerOptions{}.memory_mb);  // default

  std::string described = Describe(*config);
  EXPECT_THAT(described, HasSubstr("db = '/srv/file.db'  # file " + file));
  EXPECT_THAT(described, HasSubstr("listen = '127.0.0.1:7001'  # env BACKTEST_LISTEN"));
  EXPECT_THAT(described, HasSubstr("workers = 5  # flag --workers"));
  EXPECT_THAT(described, HasSubstr("max_rows = 3000  # flag --trace-max-rows"));
  EXPECT_THAT(described, HasSubstr("memory_mb = 2048  # default"));
}

TEST_F(ConfigTest, SeedTraceVariables) {
  absl::StatusOr<DaemonConfig> config = Resolve(With("",
                                                     {{"BOTS_TRACE_ENABLED_DEFAULT", "true"},
                                                      {"BOTS_TRACE_MAX_ROWS", "1234"},
                                                      {"BOTS_TRACE_BATCH_SIZE", "77"},
                                                      {"BOTS_TRACE_SAMPLING", "3"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->server.trace_enabled_default);
  EXPECT_EQ(config->server.trace_max_rows, 1234);
  EXPECT_EQ(config->server.trace_batch_size, 77);
  EXPECT_EQ(config->server.trace_sampling, 3);
}

TEST_F(ConfigTest, ListsFromEachLayer) {
  std::string file = WriteFile("[data]\nroots = [\"/a\", \"/b\"]\nstaff_roots = [\"/s\"]\n");
  absl::StatusOr<DaemonConfig> config =
      Resolve(With(file, {{"BACKTEST_STAFF_DATA_ROOT", "/x, /y"}},
                   {{"data.url_allow", {"https://one/", "two.example"}}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.data_access.roots, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(config->server.data_access.staff_roots, (std::vector<std::string>{"/x", "/y"}));
  EXPECT_EQ(config->server.data_access.url_allow,
            (std::vector<std::string>{"https://one/", "two.example"}));
}

TEST_F(ConfigTest, DescribeParsesBackToTheSameValues) {
  std::string file = WriteFile(
      "token_file = \"/tmp/a \\\"quoted\\\" name\"\n[data]\nroots = [\"/a\"]\n"
      "[log]\nlevel = \"debug\"\n[retention]\ndb_size_budget_mb = 3\n");
  absl::StatusOr<DaemonConfig> first = Resolve(With(file, {{"BOTS_TRACE_SAMPLING", "9"}}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->server.retention.policy.max_db_bytes, 3 << 20);
  std::string again = WriteFile(Describe(*first));
  absl::StatusOr<DaemonConfig> second = Resolve(With(again, {}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->server.token_file, "/tmp/a \"quoted\" name");
  EXPECT_EQ(second->server.data_access.roots, std::vector<std::string>{"/a"});
  EXPECT_EQ(second->log_level, "debug");
  EXPECT_EQ(second->server.trace_sampling, 9);
  EXPECT_EQ(second->server.retention.policy.max_db_bytes, 3 << 20);
}

// Each error is one line naming the key and where the value came from.
void ExpectError(const absl::StatusOr<DaemonConfig>& config, const std::string& part) {
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(part));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr("\n")));
}

TEST_F(ConfigTest, UnknownKeyIsNamedWithItsLine) {
  std::string file = WriteFile("listen = \"x:1\"\n[jobs]\nwrokers = 3\n");
  ExpectError(Resolve(With(file, {})), "line 3: unknown key jobs.wrokers");
  ExpectError(Resolve(With(WriteFile("[nosuch]\nx = 1\n"), {})), "unknown key nosuch.x");
  ExpectError(Resolve(With(WriteFile("colour = 1\n"), {})), "unknown key colour");
}

TEST_F(ConfigTest, BadValuesAreNamedWithTheirOrigin) {
  std::string file = WriteFile("[jobs]\nworkers = 0\n");
  ExpectError(Resolve(With(file, {})), "jobs.workers from file " + file +
                                           ": expected an integer from 1 to 256");
  ExpectError(Resolve(With(WriteFile("[jobs]\nworkers = \"4\"\n"), {})),
              "jobs.workers from file");
  ExpectError(Resolve(With(WriteFile("listen = 5\n"), {})), "listen from file");
  ExpectError(Resolve(With(WriteFile("[data]\nroots = \"/a\"\n"), {})),
              "data.roots from file");
  ExpectError(Resolve(With("", {{"BACKTEST_WORKERS", "many"}})),
              "jobs.workers from env BACKTEST_WORKERS: expected an integer");
  ExpectError(Resolve(With("", {{"BOTS_TRACE_ENABLED_DEFAULT", "maybe"}})),
              "trace.enabled_default from env BOTS_TRACE_ENABLED_DEFAULT: expected true or false");
  ExpectError(Resolve(With("", {}, {{"log.level", {"loud"}}})),
              "log.level from flag --log-level: expected one of trace, debug, info, warn, error");
  ExpectError(Resolve(With("", {}, {{"jobs.queue_size", {"-1"}}})),
              "jobs.queue_size from flag --queue-size");
}

TEST_F(ConfigTest, TomlSyntaxAndMissingFile) {
  ExpectError(Resolve(With(WriteFile("listen = \n"), {})), "line 1");
  ExpectError(Resolve(With((dir_ / "missing.toml").string(), {})), "missing.toml");
}

TEST_F(ConfigTest, ConfigFileFromTheEnvironment) {
  std::string file = WriteFile("[jobs]\nworkers = 7\n");
  absl::StatusOr<DaemonConfig> config = Resolve(With("", {{"BACKTEST_CONFIG", file}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.workers, 7);
}

TEST_F(ConfigTest, TlsKeyAndCertGoTogether) {
  ExpectError(Resolve(With("", {}, {{"tls.cert", {"/c.pem"}}})), "tls.cert and tls.key");
  ExpectError(Resolve(With("", {}, {{"tls.client_ca", {"/ca.pem"}}})), "tls.client_ca");
  absl::StatusOr<DaemonConfig> both =
      Resolve(With("", {}, {{"tls.cert", {"/c.pem"}}, {"tls.key", {"/k.pem"}}}));
  EXPECT_TRUE(both.ok()) << both.status();
}

// A key that is also a section ("runner" and "runner.backend") makes a file TOML cannot hold.
TEST(SettingsTest, KeysAreUniqueAndNoKeyIsASection) {
  std::set<std::string> keys, flags, sections;
  for (const Setting& s : Settings()) {
    EXPECT_TRUE(keys.insert(s.key).second) << s.key;
    EXPECT_TRUE(flags.insert(s.flag).second) << s.flag;
    if (size_t dot = s.key.find('.'); dot != std::string::npos) {
      sections.insert(s.key.substr(0, dot));
    }
  }
  for (const std::string& key : keys) EXPECT_EQ(sections.count(key), 0u) << key;
}

TEST_F(ConfigTest, CommandLineRecordsOnlyGivenFlags) {
  CLI::App app;
  CommandLine command_line;
  command_line.AddTo(app);
  std::vector<std::string> args = {"--trace-enabled-default", "--data-root", "/r1",
                                   "--data-root", "/r2", "--workers", "9",
                                   "--config", "x.toml"};
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  app.parse(args);
  Inputs inputs = command_line.inputs();
  EXPECT_EQ(inputs.config_file, "x.toml");
  EXPECT_EQ(inputs.flags.size(), 3u);
  EXPECT_EQ(inputs.flags["jobs.workers"], std::vector<std::string>{"9"});
  EXPECT_EQ(inputs.flags["data.roots"], (std::vector<std::string>{"/r1", "/r2"}));
  inputs.config_file.clear();
  absl::StatusOr<DaemonConfig> config = Resolve(inputs);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->server.trace_enabled_default);
  EXPECT_EQ(config->server.workers, 9);
}

}  // namespace
}  // namespace backtest::config
