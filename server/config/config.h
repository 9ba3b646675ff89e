// backtestd's configuration: every setting of the server in one table, each with a key in the TOML
// file, a command-line flag and an environment variable. Resolve layers them: defaults, then the
// file (--config, else BACKTEST_CONFIG), then the environment, then the flags, and remembers where
// each value came from (docs/operations.md, "Configuration"). Plain functions and values; no state.
#ifndef BACKTEST_SERVER_CONFIG_CONFIG_H_
#define BACKTEST_SERVER_CONFIG_CONFIG_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/server.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace backtest::config {

// Where a setting's effective value came from.
struct Origin {
  enum class Layer { kDefault, kFile, kEnvironment, kFlag };
  Layer layer = Layer::kDefault;
  // The file's path, the variable's or the flag's name; empty for a default.
  std::string name;
};

// The effective configuration of a backtestd process.
struct DaemonConfig {
  ServerOptions server;
  // spdlog's level: trace, debug, info, warn, error.
  std::string log_level = "info";
  // Retention settings in the units operators write, copied into server.retention by Resolve.
  int64_t db_size_budget_mb = 0;
  int64_t retention_interval_s = 600;
  // Setting key -> where its value came from; a key not here kept its default.
  std::map<std::string, Origin> origins;
  // The file read, if any.
  std::string file;
};

// What Resolve reads besides the defaults.
struct Inputs {
  // --config; empty: BACKTEST_CONFIG from the environment, or no file.
  std::string config_file;
  // Setting key -> its values on the command line, in order (a flag: "true" or "false").
  std::map<std::string, std::vector<std::string>> flags;
  // The environment: a variable's value or nullopt.
  std::function<std::optional<std::string>(const std::string&)> environment;
};

// The process's environment, for Inputs::environment.
std::optional<std::string> ProcessEnvironment(const std::string& name);

// The configuration from defaults < file < environment < flags. InvalidArgument in one line
// naming the key and where the value came from: an unknown key in the file, a value of the wrong
// type or out of range, TOML that does not parse, an unreadable file, settings that must go
// together (tls.cert and tls.key).
absl::StatusOr<DaemonConfig> Resolve(const Inputs& inputs);

// The effective configuration as a TOML document, each value followed by its origin as a comment
// ("# default", "# file PATH", "# env NAME", "# flag --NAME"). It parses back to the same values.
std::string Describe(const DaemonConfig& config);

// Registers --config and one flag per setting on app (help shows each default and variable).
// After app parses, inputs() holds what was given.
class CommandLine {
 public:
  void AddTo(CLI::App& app);
  Inputs inputs() const;

 private:
  std::string config_file_;
  std::vector<std::pair<std::string, CLI::Option*>> options_;  // setting key, its flag
};

}  // namespace backtest::config

#endif  // BACKTEST_SERVER_CONFIG_CONFIG_H_
