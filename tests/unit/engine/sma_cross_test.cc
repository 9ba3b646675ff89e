#include <cmath>
#include <random>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "server/engine/engine.h"

namespace backtest::engine {
namespace {

using testing::ReasonCountOf;

RunConfig Cfg(int fast, int slow) {
  return testing::Config({{"strategy", "sma_cross"},
                          {"symbols", "SPX"},
                          {"fast_period", std::to_string(fast)},
                          {"slow_period", std::to_string(slow)},
                          {"initial_equity", "1000"}});
}

absl::StatusOr<RunResult> RunCloses(const RunConfig& cfg, const std::vector<double>& closes) {
  testing::RecordingObserver obs;
  return RunBacktest(cfg, testing::OneSymbol(cfg, testing::FromCloses(closes)), RunOptions{}, obs);
}

TEST(SmaCrossTest, HandComputedCrossesReversalAndEndOfData) {
  // fast SMA(2), slow SMA(3); opens are the previous closes.
  // bar 2: f 5 = s 5 (zero difference seeds nothing); bars 3-4: fast above;
  // bar 5: f 5.5 < s 5.67 → cross down → short at bar 6's open (4);
  // bar 7: f 5.5 > s 5 → cross up → reversal at bar 8's open (8); bar 9 ends the data.
  auto r = RunCloses(Cfg(2, 3), {5, 5, 5, 6, 7, 4, 3, 8, 9, 9});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->trades.size(), 2u);
  const Trade& a = r->trades[0];
  EXPECT_EQ(a.side, Side::kShort);
  EXPECT_EQ(a.entry_bar, 6);
  EXPECT_EQ(a.entry_price, 4);
  EXPECT_EQ(a.exit_bar, 8);
  EXPECT_EQ(a.exit_price, 8);
  EXPECT_EQ(a.exit_reason, ExitReason::kReversal);
  EXPECT_EQ(a.pnl, -4);
  const Trade& b = r->trades[1];
  EXPECT_EQ(b.side, Side::kLong);
  EXPECT_EQ(b.entry_price, 8);
  EXPECT_EQ(b.exit_reason, ExitReason::kEndOfData);
  EXPECT_EQ(b.exit_price, 9);
  EXPECT_EQ(r->stats.equity_final, 997);
  EXPECT_EQ(ReasonCountOf(*r, "cross_down"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "cross_up"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "exit_reversal"), 1);
  // Equity is marked every bar: the short loses 4 → 8 from bar 6's open, then long from 8.
  ASSERT_EQ(r->equity.size(), 10u);
  EXPECT_EQ(r->equity[6].value, 1000 + (4 - 3));  // short from 4, close 3
  EXPECT_EQ(r->equity[7].value, 1000 + (4 - 8));
}

TEST(SmaCrossTest, OrderOnTheLastBarIsDropped) {
  auto r = RunCloses(Cfg(2, 3), {5, 5, 5, 6, 7, 4});  // cross down on the last bar
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->trades.empty());
  EXPECT_EQ(ReasonCountOf(*r, "entry_dropped"), 1);
}

// A plain reimplementation of backtrader's SMA + CrossOver + order_target_size at next open.
std::vector<std::pair<int, double>> ReferenceFills(const std::vector<double>& c, int fast,
                                                   int slow) {
  std::vector<std::pair<int, double>> fills;  // (bar, target position)
  double nzd = 0;
  bool have = false;
  int pending = 0;
  for (int i = 0; i < static_cast<int>(c.size()); ++i) {
    if (pending != 0) fills.push_back({i, pending}), pending = 0;
    if (i < slow - 1) continue;
    long double f = 0, s = 0;
    for (int k = i - fast + 1; k <= i; ++k) f += c[k];
    for (int k = i - slow + 1; k <= i; ++k) s += c[k];
    double fv = static_cast<double>(f) / fast, sv = static_cast<double>(s) / slow;
    double d = fv - sv;
    if (have) {
      if (nzd < 0 && fv > sv) pending = 1;
      if (nzd > 0 && fv < sv) pending = -1;
    }
    nzd = d != 0 ? d : nzd;
    have = true;
  }
  return fills;
}

TEST(SmaCrossTest, MatchesReferenceOnARandomWalk) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> step(0, 1);
  std::vector<double> closes;
  double x = 100;
  for (int i = 0; i < 5000; ++i) closes.push_back(std::round((x += step(rng)) * 100) / 100);
  auto r = RunCloses(Cfg(10, 30), closes);
  ASSERT_TRUE(r.ok());
  auto fills = ReferenceFills(closes, 10, 30);
  // Every fill but the first closes a trade (reversal); the last trade ends with the data.
  ASSERT_EQ(r->trades.size(), fills.size());
  for (size_t k = 0; k < fills.size(); ++k) {
    EXPECT_EQ(r->trades[k].entry_bar, fills[k].first) << k;
    EXPECT_EQ(r->trades[k].side, fills[k].second > 0 ? Side::kLong : Side::kShort);
    EXPECT_EQ(r->trades[k].entry_price, closes[fills[k].first - 1]);  // open = previous close
  }
}

}  // namespace
}  // namespace backtest::engine
