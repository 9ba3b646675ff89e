// ExternalStrategy's indicators: declared in Start, one per symbol, fed every bar in C++.
#include "server/engine/strategies/external_strategy.h"

#include <cmath>
#include <variant>

namespace backtest::engine {
namespace {

double SourceOf(const BarSeries& b, PriceField f, size_t i) {
  switch (f) {
    case PriceField::kOpen: return b.open[i];
    case PriceField::kHigh: return b.high[i];
    case PriceField::kLow: return b.low[i];
    case PriceField::kClose: return b.close[i];
    case PriceField::kVolume: return b.volume[i];
  }
  return b.close[i];
}

}  // namespace

absl::StatusOr<int> ExternalStrategy::AddIndicator(IndicatorKind kind, int64_t period,
                                                   PriceField source, int a, int b) {
  if (started_) return absl::FailedPreconditionError("indicators are declared before the first bar");
  const int id = static_cast<int>(defs_.size());
  if (kind == IndicatorKind::kCrossover) {
    if (a < 0 || b < 0 || a >= id || b >= id || a == b) {
      return absl::InvalidArgumentError("crossover: needs two different indicators of this run");
    }
    period = 1;
  } else if (period < 1 || period > 1'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("indicator period: must be in [1, 1000000], got ", period));
  }
  defs_.push_back(IndicatorDef{kind, period, source, a, b});
  for (SymState& st : states_) {
    Slot slot{CrossState{}, 0};
    switch (kind) {
      case IndicatorKind::kSma: slot.ind.emplace<Sma>(period); break;
      case IndicatorKind::kEma: slot.ind.emplace<Ema>(period); break;
      case IndicatorKind::kAtr: slot.ind.emplace<Atr>(period); break;
      case IndicatorKind::kRsi: slot.ind.emplace<Rsi>(period); break;
      case IndicatorKind::kHighest: slot.ind.emplace<RollingExtreme<true>>(period); break;
      case IndicatorKind::kLowest: slot.ind.emplace<RollingExtreme<false>>(period); break;
      case IndicatorKind::kCrossover: slot.ind.emplace<CrossState>(CrossState{a, b, 0, 0}); break;
    }
    st.slots.push_back(std::move(slot));
  }
  return id;
}

int ExternalStrategy::CrossSign(const SymState& st, const CrossState& c) const {
  const Slot& sa = st.slots[static_cast<size_t>(c.a)];
  const Slot& sb = st.slots[static_cast<size_t>(c.b)];
  const Sma* fa = std::get_if<Sma>(&sa.ind);
  const Sma* fb = std::get_if<Sma>(&sb.ind);
  if (fa != nullptr && fb != nullptr) {
    // Two SMAs: the sign of fast − slow as sma_cross takes it (SmaCross::Signal): the running-sum
    // means outside a 1e-9 relative band, else the exact (math.fsum-equal) means.
    const double x = fa->ApproxValue(), y = fb->ApproxValue();
    const double d = x - y;
    const double band = 1e-9 * (std::fabs(x) + std::fabs(y));
    int sign = static_cast<int>(d > band) - static_cast<int>(d < -band);
    if (sign == 0) {
      const double ex = fa->Value(), ey = fb->Value();
      sign = static_cast<int>(ex > ey) - static_cast<int>(ex < ey);
    }
    return sign;
  }
  const double x = SlotValue(st, c.a), y = SlotValue(st, c.b);
  return static_cast<int>(x > y) - static_cast<int>(x < y);
}

void ExternalStrategy::UpdateIndicators(SymState& st, size_t i) {
  const BarSeries& b = *series_;
  for (size_t k = 0; k < st.slots.size(); ++k) {
    Slot& slot = st.slots[k];
    const IndicatorDef& d = defs_[k];
    const double x = SourceOf(b, d.source, i);
    switch (d.kind) {
      case IndicatorKind::kSma: std::get_if<Sma>(&slot.ind)->Update(x); break;
      case IndicatorKind::kEma: std::get_if<Ema>(&slot.ind)->Update(x); break;
      case IndicatorKind::kAtr: std::get_if<Atr>(&slot.ind)->Update(b.high[i], b.low[i], b.close[i]); break;
      case IndicatorKind::kRsi: std::get_if<Rsi>(&slot.ind)->Update(x); break;
      case IndicatorKind::kHighest:
        std::get_if<RollingExtreme<true>>(&slot.ind)->Push(static_cast<int64_t>(i), x);
        break;
      case IndicatorKind::kLowest:
        std::get_if<RollingExtreme<false>>(&slot.ind)->Push(static_cast<int64_t>(i), x);
        break;
      case IndicatorKind::kCrossover: {
        CrossState& c = *std::get_if<CrossState>(&slot.ind);
        c.value = 0;
        if (SlotReady(st, c.a) && SlotReady(st, c.b)) {
          // backtrader's CrossOver: a cross when the sign differs from the last non-zero one.
          const int sign = CrossSign(st, c);
          c.value = static_cast<int>((sign > 0) & (c.last_sign < 0)) -
                    static_cast<int>((sign < 0) & (c.last_sign > 0));
          c.last_sign = sign != 0 ? sign : c.last_sign;
        }
        break;
      }
    }
    ++slot.count;
  }
}

bool ExternalStrategy::SlotReady(const SymState& st, int id) const {
  const Slot& slot = st.slots[static_cast<size_t>(id)];
  const IndicatorDef& d = defs_[static_cast<size_t>(id)];
  switch (d.kind) {
    case IndicatorKind::kSma: return std::get_if<Sma>(&slot.ind)->ready();
    case IndicatorKind::kEma: return std::get_if<Ema>(&slot.ind)->ready();
    case IndicatorKind::kAtr: return std::get_if<Atr>(&slot.ind)->ready();
    case IndicatorKind::kRsi: return std::get_if<Rsi>(&slot.ind)->ready();
    case IndicatorKind::kHighest:
    case IndicatorKind::kLowest: return slot.count >= d.period;
    case IndicatorKind::kCrossover: {
      const CrossState& c = *std::get_if<CrossState>(&slot.ind);
      return SlotReady(st, c.a) && SlotReady(st, c.b);
    }
  }
  return false;
}

double ExternalStrategy::SlotValue(const SymState& st, int id) const {
  if (!SlotReady(st, id)) return defs_[static_cast<size_t>(id)].kind == IndicatorKind::kCrossover ? 0 : NAN;
  const Slot& slot = st.slots[static_cast<size_t>(id)];
  switch (defs_[static_cast<size_t>(id)].kind) {
    case IndicatorKind::kSma: return std::get_if<Sma>(&slot.ind)->Value();
    case IndicatorKind::kEma: return std::get_if<Ema>(&slot.ind)->value();
    case IndicatorKind::kAtr: return std::get_if<Atr>(&slot.ind)->value();
    case IndicatorKind::kRsi: return std::get_if<Rsi>(&slot.ind)->value();
    case IndicatorKind::kHighest: return std::get_if<RollingExtreme<true>>(&slot.ind)->Value();
    case IndicatorKind::kLowest: return std::get_if<RollingExtreme<false>>(&slot.ind)->Value();
    case IndicatorKind::kCrossover: return std::get_if<CrossState>(&slot.ind)->value;
  }
  return NAN;
}

double ExternalStrategy::IndicatorValue(int id) const {
  if (series_ == nullptr || id < 0 || static_cast<size_t>(id) >= defs_.size()) return NAN;
  return SlotValue(states_[sym_], id);
}

bool ExternalStrategy::IndicatorReady(int id) const {
  if (series_ == nullptr || id < 0 || static_cast<size_t>(id) >= defs_.size()) return false;
  return SlotReady(states_[sym_], id);
}

}  // namespace backtest::engine
