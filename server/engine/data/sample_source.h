// sample://: a deterministic generator of plausible OHLC bars for any symbol and timeframe.
//
// Each bar is a pure function of (symbol, timeframe, bar time), so any window gives the same bars
// wherever it starts. Log price = log(base) + a sum of smooth value-noise components at scales from
// a year down to minutes (trends, swings, intraday noise), the shorter ones scaled by a slowly
// varying volatility regime; occasional opening gaps; weekend gaps appear naturally because the
// weekend's time still moves the price. Base levels: XAG… ~25, XAU… ~1900, …JPY pairs ~130,
// EURUSD ~1.1, other currency pairs 0.7–1.5, anything else ~100.
#ifndef BACKTEST_SERVER_ENGINE_DATA_SAMPLE_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_SAMPLE_SOURCE_H_

#include "server/engine/data/data_source.h"

namespace backtest::engine {

class SampleSource : public DataSource {
 public:
  // At most this many bars per fetch (ResourceExhausted past it).
  static constexpr int64_t kMaxBars = 20'000'000;

  absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) override;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_SAMPLE_SOURCE_H_
