// Indicator series that the runs of a sweep share (docs/sweeps.md, "Inside"): what a strategy
// computes per run from the bars and from parameters that several runs have in common, computed
// once per distinct input over one MarketData and read by every run on it that asks
// (RunOptions::shared_series). sr_breakout reads them; sma_cross computes its own SMAs, as
// reading them was slower (docs/benchmarks.md, "Sweeps: indicator work shared"). Each series is computed by the indicator's own class over the
// symbol's bars in order, as a run computes it, so a run that reads it sees the values it would
// have computed itself, bit for bit.
//
// Thread-safe: runs on several threads ask at once; the first computes a series, the others
// wait for it. Bounded: a series that would take the kept ones past max_bytes is not kept (the
// run asking computes its own, as without sharing).
#ifndef BACKTEST_SERVER_ENGINE_SHARED_SERIES_H_
#define BACKTEST_SERVER_ENGINE_SHARED_SERIES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "server/engine/data/market_data.h"

namespace backtest::engine {

// sr_breakout's per-bar inputs that depend on none of its parameters, as of each bar (after the
// bar's own update): ATR(14) and the daily RSI(14), NaN until ready, and the days completed.
struct SrFixedSeries {
  std::vector<double> atr;
  std::vector<double> rsi;
  std::vector<int32_t> daily_closes;
};

// The extremes of the previous `lookback` bars (the bar itself excluded) as of each bar i ≥
// lookback: the highest high and the lowest low, each with the earliest bar holding it
// (BlockHighest, BlockLowest). Elements below lookback are unused.
struct ExtremeSeries {
  std::vector<double> highest;
  std::vector<double> lowest;
  std::vector<int32_t> highest_bar;
  std::vector<int32_t> lowest_bar;
};

class SharedSeries {
 public:
  // Series of `data`, which must outlive this and must not change.
  explicit SharedSeries(const MarketData& data, size_t max_bytes = size_t{256} << 20)
      : data_(data), max_bytes_(max_bytes) {}

  // Whether these are series of `data` (a run on other bars must not use them).
  bool Of(const MarketData& data) const { return &data == &data_; }

  // Null when over the bound (the caller computes its own).
  const SrFixedSeries* SrFixed(size_t sym);
  // EMA(period) of the closes as of each bar (Ema), NaN until ready.
  const std::vector<double>* Ema(size_t sym, int64_t period);
  const ExtremeSeries* Extremes(size_t sym, int64_t lookback);

  // Bytes of the series kept (for tests and the sweep's log).
  size_t bytes() const;

 private:
  template <typename T>
  struct Slot {
    bool kept = false;  // within the bound: computed once, then read
    std::once_flag once;
    T value;
  };
  using Key = std::pair<size_t, int64_t>;  // symbol, parameter

  // The slot of `key` in `slots`, made on first use, kept (its bytes counted) when within the
  // bound.
  template <typename T>
  Slot<T>* Find(std::map<Key, std::unique_ptr<Slot<T>>>& slots, Key key, size_t bytes);

  const MarketData& data_;
  const size_t max_bytes_;
  mutable std::mutex mu_;
  size_t bytes_ = 0;
  std::map<Key, std::unique_ptr<Slot<SrFixedSeries>>> fixed_;
  std::map<Key, std::unique_ptr<Slot<std::vector<double>>>> ema_;
  std::map<Key, std::unique_ptr<Slot<ExtremeSeries>>> extremes_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_SHARED_SERIES_H_
