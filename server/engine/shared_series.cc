#include "server/engine/shared_series.h"

#include <cmath>

#include "server/engine/indicators/atr.h"
#include "server/engine/indicators/daily_closes.h"
#include "server/engine/indicators/ema.h"
#include "server/engine/indicators/rolling_extreme.h"
#include "server/engine/indicators/rsi.h"

namespace backtest::engine {

template <typename T>
SharedSeries::Slot<T>* SharedSeries::Find(std::map<Key, std::unique_ptr<Slot<T>>>& slots, Key key,
                                          size_t bytes) {
  std::lock_guard lock(mu_);
  std::unique_ptr<Slot<T>>& slot = slots[key];
  if (slot == nullptr) {
    slot = std::make_unique<Slot<T>>();
    slot->kept = bytes_ + bytes <= max_bytes_;
    if (slot->kept) bytes_ += bytes;
  }
  return slot.get();
}

size_t SharedSeries::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

const SrFixedSeries* SharedSeries::SrFixed(size_t sym) {
  const BarSeries& bars = *data_.symbols[sym].bars;
  const size_t n = bars.size();
  Slot<SrFixedSeries>* slot = Find(fixed_, {sym, 0}, n * (2 * sizeof(double) + sizeof(int32_t)));
  if (!slot->kept) return nullptr;
  std::call_once(slot->once, [&] {
    // SrBreakout::UpdateIndicators' own updates, bar by bar.
    SrFixedSeries& out = slot->value;
    out.atr.resize(n);
    out.rsi.resize(n);
    out.daily_closes.resize(n);
    Atr atr(14);
    Rsi rsi(14);
    DailyCloses days;
    double rsi_value = NAN;
    int32_t daily_closes = 0;
    for (size_t i = 0; i < n; ++i) {
      double day_close;
      if (days.Update(bars.time[i], bars.close[i], &day_close)) {
        rsi.Update(day_close);
        ++daily_closes;
        if (rsi.ready()) rsi_value = rsi.value();
      }
      atr.Update(bars.high[i], bars.low[i], bars.close[i]);
      out.atr[i] = atr.ready() ? atr.value() : NAN;
      out.rsi[i] = rsi_value;
      out.daily_closes[i] = daily_closes;
    }
  });
  return &slot->value;
}

const std::vector<double>* SharedSeries::Ema(size_t sym, int64_t period) {
  const BarSeries& bars = *data_.symbols[sym].bars;
  const size_t n = bars.size();
  Slot<std::vector<double>>* slot = Find(ema_, {sym, period}, n * sizeof(double));
  if (!slot->kept) return nullptr;
  std::call_once(slot->once, [&] {
    std::vector<double>& out = slot->value;
    out.resize(n);
    engine::Ema ema(period);
    for (size_t i = 0; i < n; ++i) {
      ema.Update(bars.close[i]);
      out[i] = ema.ready() ? ema.value() : NAN;
    }
  });
  return &slot->value;
}

const ExtremeSeries* SharedSeries::Extremes(size_t sym, int64_t lookback) {
  const BarSeries& bars = *data_.symbols[sym].bars;
  const size_t n = bars.size();
  Slot<ExtremeSeries>* slot =
      Find(extremes_, {sym, lookback}, n * 2 * (sizeof(double) + sizeof(int32_t)));
  if (!slot->kept) return nullptr;
  std::call_once(slot->once, [&] {
    ExtremeSeries& out = slot->value;
    out.highest.resize(n);
    out.lowest.resize(n);
    out.highest_bar.resize(n);
    out.lowest_bar.resize(n);
    BlockHighest highs(lookback);
    BlockLowest lows(lookback);
    const size_t from = static_cast<size_t>(lookback);
    for (size_t i = 0; i < n; ++i) {
      if (i >= from) {
        int64_t high_bar, low_bar;
        highs.Get(&out.highest[i], &high_bar);
        lows.Get(&out.lowest[i], &low_bar);
        out.highest_bar[i] = static_cast<int32_t>(high_bar);
        out.lowest_bar[i] = static_cast<int32_t>(low_bar);
      }
      highs.Push(bars.high[i]);
      lows.Push(bars.low[i]);
    }
  });
  return &slot->value;
}

}  // namespace backtest::engine
