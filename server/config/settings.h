// The table of backtestd's settings behind config.h: one entry per setting with its TOML key, flag,
// environment variables, help, type and bounds. Constant; read from any thread.
#ifndef BACKTEST_SERVER_CONFIG_SETTINGS_H_
#define BACKTEST_SERVER_CONFIG_SETTINGS_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "server/config/config.h"

namespace backtest::config {

// Where a setting's value lives in a DaemonConfig.
using Target = std::variant<std::string*, int*, int64_t*, bool*, std::vector<std::string>*>;

struct Setting {
  // "listen", "jobs.workers": a section and a name, or a name at the top level.
  std::string key;
  // "--workers".
  std::string flag;
  // Environment variables, first set wins: BACKTEST_<FLAG> unless the table names others.
  std::vector<std::string> environment;
  std::string help;
  Target (*target)(DaemonConfig&);
  // Integers: the inclusive range.
  int64_t min = 0;
  int64_t max = 0;
  // Strings with a fixed set of values; empty: any.
  std::vector<std::string> choices;
};

const std::vector<Setting>& Settings();
// nullptr when no setting has this key.
const Setting* FindSetting(const std::string& key);

}  // namespace backtest::config

#endif  // BACKTEST_SERVER_CONFIG_SETTINGS_H_
