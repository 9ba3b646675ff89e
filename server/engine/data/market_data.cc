#include "server/engine/data/market_data.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/resampler.h"

namespace backtest::engine {

absl::StatusOr<SymbolData> PrepareSymbol(const RunConfig& config, const std::string& symbol,
                                         BarSeries bars) {
  const int64_t step = TimeframeSeconds(config.timeframe);
  if (auto smallest = SmallestStep(bars); smallest.has_value()) {
    if (*smallest > step) {
      return absl::InvalidArgumentError(absl::StrCat(
          symbol, ": the data's bars are ", *smallest, " s apart, coarser than the timeframe ",
          TimeframeName(config.timeframe), " (", step, " s); choose a coarser timeframe"));
    }
    // Finer data, or data not aligned to the timeframe's buckets, is resampled. Buckets repeat
    // every `step` seconds: the bars are aligned when the first is and every gap is a multiple
    // of the step (almost always the step itself, which needs no division).
    bool aligned = *smallest == step && BucketStart(config.timeframe, bars.time[0]) == bars.time[0];
    for (size_t i = 1; aligned && i < bars.size(); ++i) {
      const int64_t gap = bars.time[i] - bars.time[i - 1];
      aligned = gap == step || gap % step == 0;
    }
    if (!aligned) bars = Resample(bars, config.timeframe);
  } else if (!bars.empty() && BucketStart(config.timeframe, bars.time[0]) != bars.time[0]) {
    bars = Resample(bars, config.timeframe);
  }
  const auto& t = bars.time;
  size_t begin = std::lower_bound(t.begin(), t.end(), config.start) - t.begin();
  size_t end = std::lower_bound(t.begin(), t.end(), config.end) - t.begin();
  if (end <= begin) {
    std::string covered = t.empty() ? std::string("no bars at all")
                                    : absl::StrCat("the data covers ", IsoTime(t.front()), " to ",
                                                   IsoTime(t.back()));
    return absl::InvalidArgumentError(absl::StrCat(
        symbol, ": no ", TimeframeName(config.timeframe), " bars in [", IsoTime(config.start),
        ", ", IsoTime(config.end), ") (", covered, ")"));
  }
  if (config.max_candles && static_cast<int64_t>(end - begin) > *config.max_candles) {
    begin = end - static_cast<size_t>(*config.max_candles);
  }
  // Warm-up: back max(1000 bars, 60 days) from the first kept bar, or as far as the data goes.
  size_t by_count = begin > static_cast<size_t>(kWarmupBars) ? begin - kWarmupBars : 0;
  size_t by_time =
      std::lower_bound(t.begin(), t.begin() + begin, t[begin] - kWarmupSeconds) - t.begin();
  size_t warm = std::min(by_count, by_time);
  SymbolData out;
  out.symbol = symbol;
  out.first_kept = begin - warm;
  out.pip = PipSizeFor(config, symbol);
  if (warm == 0 && end == bars.size()) {
    out.bars = std::make_shared<const BarSeries>(std::move(bars));
  } else {
    out.bars = std::make_shared<const BarSeries>(bars.Slice(warm, end));
  }
  return out;
}

namespace {

// What LoadMarketData fetches of the symbol at `i`.
FetchRequest RequestFor(const RunConfig& config, size_t i) {
  const int64_t step = TimeframeSeconds(config.timeframe);
  // Ask for enough history for the warm-up: 1000 bars stretched by weekends and holidays (x1.5,
  // plus four days), or 60 days, whichever is longer.
  const int64_t back = std::max(kWarmupSeconds, kWarmupBars * step * 3 / 2 + 4 * 86400);
  FetchRequest req;
  req.symbol = config.symbols[i];
  req.timeframe = config.timeframe;
  req.start = config.start - back;
  if (config.max_candles) {
    // Only the last max_candles bars are kept: no need to fetch (or generate) the whole window.
    const int64_t kept_span = *config.max_candles * step * 3 / 2 + 4 * 86400;
    if (config.end - kept_span > config.start) req.start = config.end - kept_span - back;
  }
  req.end = config.end;
  req.skip_weekends = SkipsWeekends(config);
  return req;
}

}  // namespace

int64_t PrefetchMarketData(const RunConfig& config, DataSource& source) {
  int64_t bars = 0;
  for (size_t i = 0; i < config.symbols.size(); ++i) bars += source.Prefetch(RequestFor(config, i));
  return bars;
}

absl::StatusOr<MarketData> LoadMarketData(
    const RunConfig& config, DataSource& source,
    const std::function<void(size_t done, size_t total)>& on_symbol) {
  MarketData data;
  for (size_t i = 0; i < config.symbols.size(); ++i) {
    const FetchRequest req = RequestFor(config, i);
    auto bars = source.Fetch(req);
    if (!bars.ok()) return bars.status();
    auto prepared = PrepareSymbol(config, req.symbol, *std::move(bars));
    if (!prepared.ok()) return prepared.status();
    data.symbols.push_back(*std::move(prepared));
    if (on_symbol) on_symbol(i + 1, config.symbols.size());
  }
  return data;
}

}  // namespace backtest::engine
