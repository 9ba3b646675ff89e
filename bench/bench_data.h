// In-memory bar data and observers shared by the engine benchmarks.
#ifndef BACKTEST_BENCH_BENCH_DATA_H_
#define BACKTEST_BENCH_BENCH_DATA_H_

#include <cstdint>
#include <string>

#include "server/engine/data/market_data.h"
#include "server/engine/observer.h"
#include "server/engine/run_config.h"

namespace backtest::bench {

// `bars` consecutive M1 bars of the sample generator (no weekend gaps), as a one-symbol run.
engine::MarketData SampleMarketData(const engine::RunConfig& config, int64_t bars);

// A config for the strategy with defaults, all bars kept.
engine::RunConfig BenchConfig(const std::string& strategy, bool trace, int64_t sampling);

// Keeps trace rows in memory the way a runner would before writing them out: payload bytes are
// appended to one reused buffer (cleared per batch), rows are counted.
class MemorySinkObserver : public engine::RunObserver {
 public:
  void OnLog(engine::LogLevel, absl::string_view) override { ++logs; }
  void OnProgress(const engine::ProgressInfo&) override {}
  void OnTraceBatch(std::span<const engine::TraceRow> rows, bool) override;
  bool IsCancelled() override { return false; }

  int64_t logs = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  std::string buffer;
};

}  // namespace backtest::bench

#endif  // BACKTEST_BENCH_BENCH_DATA_H_
