#include "server/engine/stats/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace backtest::engine {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSecondsPerYear = 365.25 * 86400;

struct TradeSums {
  int64_t n = 0;
  int64_t wins = 0;
  double pnl = 0;
  double gross_profit = 0;
  double gross_loss = 0;
  double return_pct_sum = 0;

  void Add(const Trade& t) {
    ++n;
    if (t.pnl > 0) {
      ++wins;
      gross_profit += t.pnl;
    } else if (t.pnl < 0) {
      gross_loss -= t.pnl;
    }
    pnl += t.pnl;
    return_pct_sum += t.return_pct;
  }
  double WinRate() const { return n > 0 ? 100.0 * static_cast<double>(wins) / static_cast<double>(n) : kNaN; }
  double AvgPct() const { return n > 0 ? return_pct_sum / static_cast<double>(n) : kNaN; }
  double ProfitFactor() const { return gross_loss > 0 ? gross_profit / gross_loss : kNaN; }
  SideStats Side() const { return SideStats{n, WinRate(), pnl, AvgPct(), ProfitFactor()}; }
};

}  // namespace

// One pass over the equity curve, fed in pieces (the bar loop feeds each block while it is still
// in cache): drawdown periods (from the peak left to the point that regains it, or the end) and
// the moments of the per-timestamp simple returns (the first against the initial equity).
// Variance uses data shifted by the first return, which keeps the one-pass formula stable for
// tiny returns. The loss term is computed without a branch: GCC turned both a ternary and
// std::min into a branch, which mispredicted on every other point (9 ns a point).
//
// The deepest point of a drawdown period is its lowest equity: with the peak fixed and positive,
// value / peak − 1 is monotone in the value (correctly rounded division and subtraction are), so
// the period's depth is min(value) / peak − 1, bit for bit what dividing every point and taking
// the minimum gives, for one division per period instead of one per point.
EquityCurveStats::EquityCurveStats(double initial_equity)
    : initial_(initial_equity), monotone_(initial_equity > 0), peak_(initial_equity),
      prev_(initial_equity), positive_(initial_equity > 0) {}

void EquityCurveStats::ClosePeriod(int64_t until) {
  const int64_t dur = until - peak_time_;
  const double depth = monotone_ ? std::min(0.0, period_low_ / peak_ - 1.0) : period_depth_;
  ++count_;
  depth_sum_ += depth;
  dur_sum_ += static_cast<double>(dur);
  max_dur_ = std::max(max_dur_, dur);
  max_dd_ = std::min(max_dd_, depth);
}

void EquityCurveStats::Add(const LinePoint* points, size_t n) {
  if (n == 0) return;
  if (points_ == 0) {
    first_value_ = points[0].value;
    peak_time_ = points[0].time;
    shift_ = points[0].value / initial_ - 1.0;
  }
  points_ += static_cast<int64_t>(n);
  last_ = points[n - 1];
  // Locals, so the loop keeps them in registers.
  double peak = peak_, period_low = period_low_, period_depth = period_depth_, prev = prev_;
  double s1 = s1_, s2 = s2_, down_sq = down_sq_;
  int64_t peak_time = peak_time_;
  bool in_dd = in_dd_, positive = positive_;
  const double shift = shift_;
  for (size_t k = 0; k < n; ++k) {
    const LinePoint& p = points[k];
    const double r = p.value / prev - 1.0;
    const double x = r - shift;
    s1 += x;
    s2 += x * x;
    const double loss = 0.5 * (r - std::fabs(r));  // = min(r, 0) exactly, with no branch
    down_sq += loss * loss;
    positive &= p.value > 0;
    prev = p.value;
    // Without branches on the data but for the end of a period: whether a point makes a new
    // peak is close to random while the equity hovers near its peak.
    const bool at_peak = p.value >= peak;
    if (at_peak && in_dd) [[unlikely]] {
      peak_ = peak;
      peak_time_ = peak_time;
      period_low_ = period_low;
      period_depth_ = period_depth;
      ClosePeriod(p.time);
    }
    if (!monotone_) [[unlikely]] {
      // A non-positive initial equity: divide every point (the definition).
      if (!at_peak) period_depth = std::min(in_dd ? period_depth : 0.0, p.value / peak - 1.0);
    }
    peak = at_peak ? p.value : peak;
    peak_time = at_peak ? p.time : peak_time;
    // The lowest point of the current period (NaN never becomes it, as std::min(depth, NaN)
    // keeps the depth); reset at a period's first point. Meaningless while at a peak.
    const double low = in_dd ? period_low : kInf;
    period_low = p.value < low ? p.value : low;
    in_dd = !at_peak;
  }
  peak_ = peak;
  period_low_ = period_low;
  period_depth_ = period_depth;
  prev_ = prev;
  s1_ = s1;
  s2_ = s2;
  down_sq_ = down_sq;
  peak_time_ = peak_time;
  in_dd_ = in_dd;
  positive_ = positive;
}

void EquityCurveStats::Finish(Stats* s) const {
  const double initial = initial_;
  s->equity_final = points_ == 0 ? initial : last_.value;
  s->equity_peak = initial;
  s->return_pct = (s->equity_final / initial - 1.0) * 100.0;
  s->return_ann_pct = kNaN;
  s->volatility_ann_pct = kNaN;
  s->sharpe = kNaN;
  s->sortino = kNaN;
  s->calmar = kNaN;
  if (points_ == 0) return;
  EquityCurveStats end = *this;
  if (end.in_dd_) end.ClosePeriod(last_.time);  // still under water at the end
  s->equity_peak = end.peak_;
  s->max_drawdown_pct = end.max_dd_ * 100.0;
  s->avg_drawdown_pct =
      end.count_ > 0 ? end.depth_sum_ / static_cast<double>(end.count_) * 100.0 : 0.0;
  s->max_drawdown_duration_seconds = end.max_dur_;
  s->avg_drawdown_duration_seconds =
      end.count_ > 0
          ? static_cast<int64_t>(std::llround(end.dur_sum_ / static_cast<double>(end.count_)))
          : 0;
  // Annualization: the calendar length of the run and the number of return periods in it give
  // the periods per year (so weekends and holidays need no calendar). Returns are only meaningful
  // while the equity stays positive.
  const auto n = static_cast<double>(points_);
  const double years = static_cast<double>(s->duration_seconds) / kSecondsPerYear;
  if (years <= 0 || n < 2 || !positive_) return;
  const double per_year = n / years;
  const double mean = shift_ + s1_ / n;
  const double stdev = std::sqrt(std::max(0.0, (s2_ - s1_ * s1_ / n) / (n - 1)));
  const double downside = std::sqrt(down_sq_ / n);
  s->return_ann_pct = (std::pow(s->equity_final / initial, 1.0 / years) - 1.0) * 100.0;
  s->volatility_ann_pct = stdev * std::sqrt(per_year) * 100.0;
  if (stdev > 0) s->sharpe = mean / stdev * std::sqrt(per_year);
  if (downside > 0) s->sortino = mean / downside * std::sqrt(per_year);
  if (end.max_dd_ < 0) s->calmar = s->return_ann_pct / std::fabs(s->max_drawdown_pct);
}

namespace {

void TradeStats(const StatsInput& in, Stats* s) {
  const auto& trades = *in.trades;
  TradeSums all, longs, shorts;
  double best = kNaN, worst = kNaN, commission = 0;
  int64_t max_dur = 0;
  double dur_sum = 0;
  for (const Trade& t : trades) {
    all.Add(t);
    (t.side == Side::kLong ? longs : shorts).Add(t);
    best = std::isnan(best) ? t.return_pct : std::max(best, t.return_pct);
    worst = std::isnan(worst) ? t.return_pct : std::min(worst, t.return_pct);
    const int64_t dur = t.exit_time - t.entry_time;
    max_dur = std::max(max_dur, dur);
    dur_sum += static_cast<double>(dur);
    commission += t.commission;
  }
  const auto n = static_cast<double>(all.n);
  s->trades = all.n;
  s->win_rate_pct = all.WinRate();
  s->best_trade_pct = best;
  s->worst_trade_pct = worst;
  s->avg_trade_pct = all.AvgPct();
  s->max_trade_duration_seconds = max_dur;
  s->avg_trade_duration_seconds = all.n > 0 ? static_cast<int64_t>(std::llround(dur_sum / n)) : 0;
  s->profit_factor = all.ProfitFactor();
  s->expectancy = all.n > 0 ? all.pnl / n : kNaN;
  s->sqn = kNaN;
  if (all.n >= 2) {
    const double mean = all.pnl / n;
    double dev_sq = 0;
    for (const Trade& t : trades) dev_sq += (t.pnl - mean) * (t.pnl - mean);
    const double var = dev_sq / (n - 1);
    if (var > 0) s->sqn = std::sqrt(n) * mean / std::sqrt(var);
  }
  s->long_stats = longs.Side();
  s->short_stats = shorts.Side();
  s->commission = commission;
  s->pnl = all.pnl;
}

}  // namespace

Stats ComputeStats(const StatsInput& in) {
  Stats s;
  const auto& eq = *in.equity;
  if (!eq.empty()) {
    s.start = eq.front().time;
    s.end = eq.back().time;
  }
  s.duration_seconds = s.end - s.start;
  s.bars = in.bars;
  s.exposure_pct =
      in.bars > 0 ? 100.0 * static_cast<double>(in.exposed_bars) / static_cast<double>(in.bars) : 0;
  s.buy_hold_return_pct =
      in.first_close != 0 ? (in.last_close / in.first_close - 1.0) * 100.0 : kNaN;
  if (in.equity_stats != nullptr && in.equity_stats->points() == static_cast<int64_t>(eq.size())) {
    in.equity_stats->Finish(&s);
  } else {
    EquityCurveStats curve(in.initial_equity);
    LinePoint block[1024];
    size_t n = 0;
    eq.ForEach([&](LinePoint p) {
      block[n++] = p;
      if (n == std::size(block)) {
        curve.Add(block, n);
        n = 0;
      }
    });
    curve.Add(block, n);
    curve.Finish(&s);
  }
  TradeStats(in, &s);
  return s;
}

}  // namespace backtest::engine
