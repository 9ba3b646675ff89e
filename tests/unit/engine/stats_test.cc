#include "server/engine/stats/stats.h"

#include <cmath>

#include "gtest/gtest.h"

namespace backtest::engine {
namespace {

EquityCurve Curve(const std::vector<LinePoint>& points) {
  EquityCurve curve;
  for (const LinePoint& p : points) curve.Append(p);
  return curve;
}

Trade T(Side side, double pnl, double ret, int64_t entry, int64_t exit) {
  Trade t;
  t.side = side;
  t.pnl = pnl;
  t.return_pct = ret;
  t.entry_time = entry;
  t.exit_time = exit;
  return t;
}

TEST(StatsTest, HandComputedEquityAndTrades) {
  const int64_t day = 86400;
  // 100 → 110 → 99 → 121 → 110 over four days.
  std::vector<LinePoint> eq = {{0, 110}, {day, 99}, {2 * day, 121}, {3 * day, 110}};
  Column<Trade> trades = {T(Side::kLong, 10, 10, 0, 3600), T(Side::kShort, -11, -10, 0, 7200),
                               T(Side::kLong, 22, 20, 0, 3600), T(Side::kShort, -11, -9, 0, 3600)};
  EquityCurve curve = Curve(eq);
  StatsInput in{100, &curve, &trades, 8, 2, 50, 55};
  Stats s = ComputeStats(in);
  EXPECT_EQ(s.start, 0);
  EXPECT_EQ(s.end, 3 * day);
  EXPECT_EQ(s.bars, 8);
  EXPECT_DOUBLE_EQ(s.exposure_pct, 25);
  EXPECT_DOUBLE_EQ(s.equity_final, 110);
  EXPECT_DOUBLE_EQ(s.equity_peak, 121);
  EXPECT_NEAR(s.return_pct, 10, 1e-12);
  EXPECT_NEAR(s.buy_hold_return_pct, 10, 1e-12);
  // Drawdowns: 110 → 99 (−10%, 1 day, recovered at day 2), 121 → 110 (−9.09%, open at the end).
  EXPECT_NEAR(s.max_drawdown_pct, -10, 1e-12);
  EXPECT_NEAR(s.avg_drawdown_pct, (-10 + (110.0 / 121 - 1) * 100) / 2, 1e-12);
  EXPECT_EQ(s.max_drawdown_duration_seconds, 2 * day);  // peak at day 0, recovered day 2
  EXPECT_EQ(s.avg_drawdown_duration_seconds, (2 * day + day) / 2);
  EXPECT_EQ(s.trades, 4);
  EXPECT_DOUBLE_EQ(s.win_rate_pct, 50);
  EXPECT_DOUBLE_EQ(s.best_trade_pct, 20);
  EXPECT_DOUBLE_EQ(s.worst_trade_pct, -10);
  EXPECT_DOUBLE_EQ(s.avg_trade_pct, (10 - 10 + 20 - 9) / 4.0);
  EXPECT_DOUBLE_EQ(s.profit_factor, 32.0 / 22.0);
  EXPECT_DOUBLE_EQ(s.expectancy, 10.0 / 4);
  // SQN: sqrt(4) × mean / sample stdev of P&L.
  double mean = 2.5, var = ((7.5 * 7.5) + (13.5 * 13.5) + (19.5 * 19.5) + (13.5 * 13.5)) / 3;
  EXPECT_NEAR(s.sqn, 2 * mean / std::sqrt(var), 1e-12);
  EXPECT_EQ(s.max_trade_duration_seconds, 7200);
  EXPECT_EQ(s.avg_trade_duration_seconds, (3600 * 3 + 7200) / 4);
  EXPECT_EQ(s.long_stats.trades, 2);
  EXPECT_DOUBLE_EQ(s.long_stats.win_rate_pct, 100);
  EXPECT_TRUE(std::isnan(s.long_stats.profit_factor));  // no losses
  EXPECT_DOUBLE_EQ(s.short_stats.pnl, -22);
  EXPECT_DOUBLE_EQ(s.pnl, 10);
  // Annualized over 3 days; returns per period 10%, −10%, 22.2%, −9.09%.
  const double years = 3.0 * day / (365.25 * 86400);
  EXPECT_NEAR(s.return_ann_pct, (std::pow(1.1, 1 / years) - 1) * 100, 1e-6);
  EXPECT_GT(s.volatility_ann_pct, 0);
  EXPECT_FALSE(std::isnan(s.sharpe));
}

TEST(StatsTest, NoTradesGivesNaNRatios) {
  std::vector<LinePoint> eq = {{0, 100}, {3600, 100}};
  Column<Trade> trades;
  EquityCurve curve = Curve(eq);
  Stats s = ComputeStats({100, &curve, &trades, 2, 0, 1, 1});
  EXPECT_EQ(s.trades, 0);
  EXPECT_TRUE(std::isnan(s.win_rate_pct));
  EXPECT_TRUE(std::isnan(s.profit_factor));
  EXPECT_TRUE(std::isnan(s.sharpe));  // zero volatility
  EXPECT_EQ(s.max_drawdown_pct, 0);
}

// The drawdowns by their definition: every point divided by the running peak.
struct Drawdowns {
  double max = 0, avg = 0;
};
Drawdowns DrawdownsByDefinition(double initial, const std::vector<LinePoint>& eq) {
  double peak = initial, max_dd = 0, depth = 0, sum = 0;
  int64_t count = 0;
  bool in_dd = false;
  for (const LinePoint& p : eq) {
    if (p.value >= peak) {
      if (in_dd) {
        ++count;
        sum += depth;
      }
      in_dd = false;
      peak = p.value;
      continue;
    }
    if (!in_dd) depth = 0;
    in_dd = true;
    const double dd = p.value / peak - 1.0;
    depth = std::min(depth, dd);
    max_dd = std::min(max_dd, dd);
  }
  if (in_dd) {
    ++count;
    sum += depth;
  }
  return {max_dd * 100.0, count > 0 ? sum / static_cast<double>(count) * 100.0 : 0.0};
}

TEST(StatsTest, DrawdownsEqualTheDefinitionBitForBit) {
  // ComputeStats divides once per drawdown period (the lowest point), not once per point.
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int run = 0; run < 50; ++run) {
    std::vector<LinePoint> eq;
    double v = 1000;
    for (int k = 0; k < 2000; ++k) {
      v *= 1 + (next() - 0.5) * 0.01 * (1 + run % 5);
      if (run % 7 == 0 && k % 13 == 0) v = 1000;  // exact returns to the initial equity
      eq.push_back({k * 60, v});
    }
    Column<Trade> trades;
    EquityCurve curve = Curve(eq);
    Stats s = ComputeStats(StatsInput{1000, &curve, &trades, 2000, 0, 1, 1});
    Drawdowns d = DrawdownsByDefinition(1000, eq);
    ASSERT_EQ(s.max_drawdown_pct, d.max) << run;
    ASSERT_EQ(s.avg_drawdown_pct, d.avg) << run;
  }
}

}  // namespace
}  // namespace backtest::engine
