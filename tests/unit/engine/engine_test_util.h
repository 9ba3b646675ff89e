// Helpers shared by the engine unit tests: bar builders, a recording observer, config defaults.
#ifndef BACKTEST_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
#define BACKTEST_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/data/bar_series.h"
#include "server/engine/data/market_data.h"
#include "server/engine/engine.h"
#include "server/engine/observer.h"
#include "server/engine/param_registry.h"
#include "server/engine/run_config.h"

namespace backtest::engine::testing {

inline constexpr int64_t kT0 = 1'600'000'000 / 3600 * 3600;  // an hour boundary (2020-09-13)

// A config from parameters (validated through the registry, as the server does).
inline RunConfig Config(std::map<std::string, std::string> params) {
  params.try_emplace("start_date", "2000-01-01");
  params.try_emplace("end_date", "2100-01-01");
  auto values = ValidateParams(params, 1'700'000'000);
  if (!values.ok()) {
    ADD_FAILURE() << values.status();
    return RunConfig{};
  }
  auto config = RunConfigFromParams(*values);
  if (!config.ok()) ADD_FAILURE() << config.status();
  return config.ok() ? *config : RunConfig{};
}

// Hourly bars from (o, h, l, c) tuples starting at kT0.
struct Ohlc {
  double o, h, l, c;
};
inline BarSeries Hourly(const std::vector<Ohlc>& bars, int64_t start = kT0) {
  BarSeries s;
  for (size_t i = 0; i < bars.size(); ++i) {
    s.Append(start + static_cast<int64_t>(i) * 3600, bars[i].o, bars[i].h, bars[i].l, bars[i].c,
             0);
  }
  return s;
}

// Hourly bars from closes (open = previous close, high/low = max/min ± 0.1).
inline BarSeries FromCloses(const std::vector<double>& closes, int64_t start = kT0) {
  BarSeries s;
  double prev = closes.empty() ? 0 : closes[0];
  for (size_t i = 0; i < closes.size(); ++i) {
    double o = prev, c = closes[i];
    s.Append(start + static_cast<int64_t>(i) * 3600, o, std::max(o, c) + 0.1,
             std::min(o, c) - 0.1, c, 0);
    prev = c;
  }
  return s;
}

// Market data of one symbol, every bar kept (no warm-up).
inline MarketData OneSymbol(const RunConfig& config, BarSeries bars) {
  MarketData d;
  auto prepared = PrepareSymbol(config, config.symbols.at(0), std::move(bars));
  if (!prepared.ok()) ADD_FAILURE() << prepared.status();
  d.symbols.push_back(*std::move(prepared));
  return d;
}

class RecordingObserver : public RunObserver {
 public:
  void OnLog(LogLevel level, absl::string_view text) override {
    logs.emplace_back(LogLevelName(level), std::string(text));
  }
  void OnProgress(const ProgressInfo& p) override { progress.push_back(p); }
  void OnTraceBatch(std::span<const TraceRow> batch, bool truncated) override {
    batch_sizes.push_back(batch.size());
    rows.insert(rows.end(), batch.begin(), batch.end());
    if (truncated) ++truncated_batches;
  }
  bool IsCancelled() override { return cancel.load(std::memory_order_relaxed); }

  std::vector<std::pair<std::string, std::string>> logs;
  std::vector<ProgressInfo> progress;
  std::vector<TraceRow> rows;
  std::vector<size_t> batch_sizes;
  int truncated_batches = 0;
  std::atomic<bool> cancel{false};
};

inline int64_t ReasonCountOf(const RunResult& r, absl::string_view code) {
  for (const ReasonCount& rc : r.reasons) {
    if (rc.reason == code) return rc.count;
  }
  return 0;
}

}  // namespace backtest::engine::testing

#endif  // BACKTEST_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
