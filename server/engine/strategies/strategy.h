// The strategy interface and the run context a strategy works in.
//
// The engine feeds each symbol's warm-up bars to OnWarmupBar (indicators only), then every kept
// bar, all symbols merged by time, to OnBar. OnBar does the whole bar — fills, exits, signals,
// marking equity — and, on a symbol's last bar, the end-of-data work. A strategy is owned by one
// run; not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_STRATEGY_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_STRATEGY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/engine/broker/broker.h"
#include "server/engine/data/market_data.h"
#include "server/engine/observer.h"
#include "server/engine/run_config.h"
#include "server/engine/run_result.h"
#include "server/engine/strategies/append_text.h"
#include "server/engine/strategies/bar_loop.h"
#include "server/engine/strategies/run_log.h"
#include "server/engine/trace/json_writer.h"
#include "server/engine/trace/reasons.h"
#include "server/engine/shared_series.h"
#include "server/engine/trace/tracer.h"

namespace backtest::engine {

// Everything a strategy may touch, owned by the run.
struct RunContext {
  const RunConfig& config;
  const MarketData& data;
  Broker& broker;
  Tracer& tracer;
  ReasonTally& reasons;
  RunObserver& observer;
  RunLog& log;
  RunResult& result;
  bool markers = true;  // RunOptions::markers: chart markers are kept
  SharedSeries* shared = nullptr;  // RunOptions::shared_series, when of this run's data
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // A warm-up bar (absolute index i < first_kept): feed indicators only.
  virtual void OnWarmupBar(size_t sym, size_t i) = 0;
  // A kept bar (absolute index i >= first_kept).
  virtual void OnBar(size_t sym, size_t i) = 0;
  // Runs every kept bar (RunBarLoop with the concrete strategy). Cancelled when the observer asks.
  virtual absl::Status RunBars(LoopContext& loop) = 0;
};

std::unique_ptr<Strategy> MakeStrategy(RunContext& context);

// Decimals for prices in sentences: one more than the pip's (EURUSD 5, USDJPY 3, XAGUSD 4).
int PriceDecimals(double pip);

// Formats a price or ratio with fixed decimals for log lines and trace sentences.
std::string Fixed(double v, int decimals);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_STRATEGY_H_
