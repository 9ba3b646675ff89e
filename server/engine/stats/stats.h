// Run statistics from the equity curve and the closed trades. Formulas: docs/engine.md, "Stats".
#ifndef BACKTEST_SERVER_ENGINE_STATS_STATS_H_
#define BACKTEST_SERVER_ENGINE_STATS_STATS_H_

#include <cstdint>
#include <vector>

#include "server/engine/run_result.h"

namespace backtest::engine {

// The equity-curve half of the stats, computed as the curve is fed (in order, in any pieces).
class EquityCurveStats {
 public:
  explicit EquityCurveStats(double initial_equity);
  void Add(const LinePoint* points, size_t n);
  int64_t points() const { return points_; }
  // Fills the equity fields of *s; needs s->duration_seconds.
  void Finish(Stats* s) const;

 private:
  void ClosePeriod(int64_t until);

  double initial_;
  bool monotone_;  // initial > 0: every peak is positive
  int64_t points_ = 0;
  LinePoint last_;
  double first_value_ = 0;
  double shift_ = 0;
  double peak_;
  int64_t peak_time_ = 0;
  double prev_;
  double s1_ = 0, s2_ = 0, down_sq_ = 0;
  bool positive_;
  bool in_dd_ = false;
  double period_low_ = 0, period_depth_ = 0;
  double max_dd_ = 0, depth_sum_ = 0, dur_sum_ = 0;
  int64_t count_ = 0, max_dur_ = 0;
};

struct StatsInput {
  double initial_equity = 0;
  const EquityCurve* equity = nullptr;  // one point per timestamp
  const Column<Trade>* trades = nullptr;
  int64_t bars = 0;          // kept bars of all symbols
  int64_t exposed_bars = 0;  // symbol-bars with a position
  double first_close = 0;    // first symbol, first kept bar
  double last_close = 0;     // first symbol, last bar
  // The curve already fed to an EquityCurveStats (used when it has every point of `equity`).
  const EquityCurveStats* equity_stats = nullptr;
};

Stats ComputeStats(const StatsInput& in);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STATS_STATS_H_
