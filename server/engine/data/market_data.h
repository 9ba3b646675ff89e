// The bars of a run, per symbol, cut to the contract's window with their warm-up bars in front.
//
// For each symbol: bars [0, first_kept) are warm-up (they feed indicators only), bars
// [first_kept, size) are the run's bars (bar_index 0 is first_kept). Immutable once built; safe to
// share between threads.
#ifndef BACKTEST_SERVER_ENGINE_DATA_MARKET_DATA_H_
#define BACKTEST_SERVER_ENGINE_DATA_MARKET_DATA_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/data/bar_series.h"
#include "server/engine/data/data_source.h"
#include "server/engine/run_config.h"

namespace backtest::engine {

struct SymbolData {
  std::string symbol;
  std::shared_ptr<const BarSeries> bars;  // warm-up bars, then the run's bars
  size_t first_kept = 0;
  double pip = 0.01;

  size_t kept() const { return bars->size() - first_kept; }
};

struct MarketData {
  std::vector<SymbolData> symbols;  // in the order of RunConfig::symbols

  size_t TotalKept() const {
    size_t n = 0;
    for (const auto& s : symbols) n += s.kept();
    return n;
  }
};

// Warm-up length: the bars right before the first kept bar, back max(1000 bars, 60 UTC days).
inline constexpr int64_t kWarmupBars = 1000;
inline constexpr int64_t kWarmupSeconds = 60 * 86400;

// Cuts one symbol's bars (at the run's timeframe or finer: finer bars are resampled) to the
// window [start, end), keeps the last max_candles, and puts the warm-up bars in front.
// InvalidArgument when no bar falls in the window or the data is coarser than the timeframe.
absl::StatusOr<SymbolData> PrepareSymbol(const RunConfig& config, const std::string& symbol,
                                         BarSeries bars);

// Fetches every symbol from `source` and prepares it. `on_symbol` (optional) is told after each
// symbol is loaded (for progress).
absl::StatusOr<MarketData> LoadMarketData(
    const RunConfig& config, DataSource& source,
    const std::function<void(size_t done, size_t total)>& on_symbol = nullptr);

// Readies in `source` what LoadMarketData would fetch of every symbol (DataSource::Prefetch).
// Returns the number of bars readied, over all symbols.
int64_t PrefetchMarketData(const RunConfig& config, DataSource& source);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_MARKET_DATA_H_
