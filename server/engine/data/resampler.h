// Aggregates bars into a coarser timeframe: open of the first bar, highest high, lowest low, close
// of the last bar, summed volume; each output bar is stamped with its bucket's open time (UTC
// aligned; D1 = UTC day; W1 = Monday 00:00 UTC).
#ifndef BACKTEST_SERVER_ENGINE_DATA_RESAMPLER_H_
#define BACKTEST_SERVER_ENGINE_DATA_RESAMPLER_H_

#include <cstdint>
#include <optional>

#include "server/engine/data/bar_series.h"
#include "server/engine/data/timeframe.h"

namespace backtest::engine {

BarSeries Resample(const BarSeries& in, Timeframe tf);

// The smallest gap between consecutive bars, in seconds (nullopt with fewer than two bars).
std::optional<int64_t> SmallestStep(const BarSeries& in);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_RESAMPLER_H_
