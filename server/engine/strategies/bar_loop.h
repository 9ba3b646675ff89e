// The main loop over a run's kept bars, shared by the strategies. It is a template instantiated in
// each strategy's own translation unit, so the per-bar call (OnBar → indicators → broker) inlines
// into one loop with no indirect call per bar.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_BAR_LOOP_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_BAR_LOOP_H_

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "server/engine/broker/broker.h"
#include "server/engine/data/market_data.h"
#include "server/engine/observer.h"
#include "server/engine/run_result.h"
#include "server/engine/stats/stats.h"

namespace backtest::engine {

// Reports progress about every 1% of the bars.
class ProgressMeter {
 public:
  ProgressMeter(RunObserver& observer, int64_t total)
      : observer_(observer), total_(total), step_(std::max<int64_t>(1, total / 100)),
        next_(step_) {}

  void Tick(int64_t done) {
    if (done >= next_) [[unlikely]] {
      next_ = done + step_;
      Report(RunStage::kRunning, done);
    }
  }
  // Bars between two reports (block-wise loops make their blocks no longer than this).
  int64_t step() const { return step_; }
  void Report(RunStage stage, int64_t done) {
    ProgressInfo p;
    p.stage = stage;
    p.bars_done = done;
    p.bars_total = total_;
    p.fraction = stage == RunStage::kDone ? 1.0
                 : total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_)
                              : 0.0;
    observer_.OnProgress(p);
  }

 private:
  RunObserver& observer_;
  int64_t total_;
  int64_t step_;
  int64_t next_;
};

struct LoopContext {
  const MarketData& data;
  Broker& broker;
  RunObserver& observer;
  ProgressMeter& progress;
  EquityCurve* equity;  // one point per timestamp
  // Fed the equity points as they are made, while they are still in cache (may be null).
  EquityCurveStats* curve = nullptr;
  size_t curve_fed = 0;  // stored points of *equity fed so far

  // Feeds the stored points made since the last call, once there are `min_points` of them.
  void FeedCurve(size_t min_points) {
    const std::vector<LinePoint>& points = equity->points();
    if (curve == nullptr || points.size() - curve_fed < min_points) return;
    curve->Add(points.data() + curve_fed, points.size() - curve_fed);
    curve_fed = points.size();
  }
};

// A strategy whose bar can fail (an external one: its code may raise): after each bar the loop
// asks bar_status() and stops with it when it is not OK.
template <typename S>
concept FailingBars = requires(const S& s) {
  { s.bar_status() } -> std::convertible_to<const absl::Status&>;
};


// S::ProcessBar(sym, i) is the strategy's non-virtual, inlinable OnBar.
// Every kept bar of every symbol, merged by time (symbols in the given order at one timestamp);
// equity recorded after each timestamp; cancellation asked every bar.
template <typename S>
absl::Status RunBarLoop(S& strategy, LoopContext& c) {
  int64_t done = 0;
  if (c.data.symbols.size() == 1) {
    const SymbolData& sd = c.data.symbols[0];
    const size_t n = sd.bars->size();
    const int64_t* time = sd.bars->time.data();
    c.equity->Reserve(c.equity->size() + (n - sd.first_kept));
    for (size_t i = sd.first_kept; i < n; ++i) {
      strategy.ProcessBar(0, i);
      if constexpr (FailingBars<S>) {
        if (!strategy.bar_status().ok()) [[unlikely]] return strategy.bar_status();
      }
      c.equity->Append({time[i], c.broker.Equity()});
      if (c.observer.IsCancelled()) [[unlikely]] {
        return absl::CancelledError("cancelled");
      }
      c.progress.Tick(++done);
      if ((done & 2047) == 0) c.FeedCurve(0);
    }
    c.FeedCurve(0);
    return absl::OkStatus();
  }
  std::vector<size_t> cursor;
  for (const SymbolData& sd : c.data.symbols) cursor.push_back(sd.first_kept);
  while (true) {
    int64_t t = INT64_MAX;
    for (size_t s = 0; s < cursor.size(); ++s) {
      if (cursor[s] < c.data.symbols[s].bars->size()) {
        t = std::min(t, c.data.symbols[s].bars->time[cursor[s]]);
      }
    }
    if (t == INT64_MAX) break;
    for (size_t s = 0; s < cursor.size(); ++s) {
      const BarSeries& b = *c.data.symbols[s].bars;
      if (cursor[s] < b.size() && b.time[cursor[s]] == t) {
        strategy.ProcessBar(s, cursor[s]++);
        if constexpr (FailingBars<S>) {
        if (!strategy.bar_status().ok()) [[unlikely]] return strategy.bar_status();
      }
        ++done;
      }
    }
    c.equity->Append({t, c.broker.Equity()});
    if (c.observer.IsCancelled()) return absl::CancelledError("cancelled");
    c.progress.Tick(done);
    c.FeedCurve(2048);
  }
  c.FeedCurve(0);
  return absl::OkStatus();
}

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_BAR_LOOP_H_
