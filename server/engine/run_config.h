// The typed configuration of one run, built from a validated ParamValues (the registry is the one
// place that defines names, defaults and bounds; this only converts its canonical text).
#ifndef BACKTEST_SERVER_ENGINE_RUN_CONFIG_H_
#define BACKTEST_SERVER_ENGINE_RUN_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/data/timeframe.h"
#include "server/engine/param_registry.h"

namespace backtest::engine {

// kExternal: a strategy implemented outside the engine (the Python SDK's), run through
// RunOptions::external_strategy (engine.h).
enum class StrategyKind { kSrBreakout, kSmaCross, kExternal };

struct RunConfig {
  // run
  StrategyKind strategy = StrategyKind::kSrBreakout;
  std::string strategy_name = "sr_breakout";  // the `strategy` parameter as given
  std::vector<std::string> symbols = {"XAGUSD"};
  Timeframe timeframe = Timeframe::kH1;
  int64_t start = 0;  // epoch seconds, inclusive
  int64_t end = 0;    // epoch seconds, exclusive
  std::optional<int64_t> max_candles;
  double spread_pips = 0;
  double commission = 0;  // fraction of notional per fill
  double slippage_pips = 0;
  std::string data_source = "sample://";
  std::string market_type = "forex";
  std::optional<double> pip_size;
  // risk
  double initial_equity = 100'000'000;
  double risk_per_trade = 0.0001;
  double rr = 2;
  double min_risk_distance_atr = 0.5;
  double sl_buffer_atr = 0.3;
  // signal
  int64_t breakout_lookback_period = 48;
  double breakout_min_strength_atr = 0.2;
  double zone_inversion_margin_atr = 1;
  double sr_cancellation_threshold_atr = 0.2;
  int64_t ema_length = 40;
  bool check_for_daily_rsi = true;
  // sma_cross
  int64_t fast_period = 10;
  int64_t slow_period = 30;
  double size = 1;
  // trace
  bool trace_enabled = false;
  int64_t trace_sampling = 1;
};

// Converts a validated parameter set (ValidateParams' output). InvalidArgument when a value does
// not parse (only possible if the set did not come from ValidateParams). A `strategy` that is not
// built in gives kExternal (the registry validates the built-in names; the strategies of a
// strategy folder are validated by the server that knows them).
absl::StatusOr<RunConfig> RunConfigFromParams(const ParamValues& params);

// The pip size of a symbol under `config` (the pip_size parameter, else the contract's rule).
double PipSizeFor(const RunConfig& config, const std::string& symbol);

// Generated data skips weekends except for crypto.
bool SkipsWeekends(const RunConfig& config);

absl::string_view StrategyName(StrategyKind kind);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_RUN_CONFIG_H_
