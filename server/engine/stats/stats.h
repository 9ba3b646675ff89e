// Run statistics from the equity curve and the closed trades. Formulas: docs/engine.md, "Stats".
#ifndef BACKTEST_SERVER_ENGINE_STATS_STATS_H_
#define BACKTEST_SERVER_ENGINE_STATS_STATS_H_

#include <cstdint>
#include <vector>

#include "server/engine/run_result.h"

namespace backtest::engine {

struct StatsInput {
  double initial_equity = 0;
  const std::vector<LinePoint>* equity = nullptr;  // one point per timestamp
  const std::vector<Trade>* trades = nullptr;
  int64_t bars = 0;          // kept bars of all symbols
  int64_t exposed_bars = 0;  // symbol-bars with a position
  double first_close = 0;    // first symbol, first kept bar
  double last_close = 0;     // first symbol, last bar
};

Stats ComputeStats(const StatsInput& in);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STATS_STATS_H_
