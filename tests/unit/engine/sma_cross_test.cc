#include <cmath>
#include <random>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "server/engine/indicators/sma.h"

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

// One symbol without a trace runs block-wise (SmaCross::RunBlocks); with a trace it runs bar by
// bar. Both must give the same result bit for bit (the digest covers trades, markers, equity,
// stats and reasons), the same log and the same cancellation.
void ExpectBlocksMatchPerBar(std::map<std::string, std::string> params, const BarSeries& bars) {
  params.try_emplace("strategy", "sma_cross");
  params.try_emplace("symbols", "SPX");
  RunConfig off = testing::Config(params);
  params["trace_enabled"] = "true";
  params["trace_sampling"] = "1000000";
  RunConfig on = testing::Config(params);
  const MarketData data = testing::OneSymbol(off, bars);
  testing::RecordingObserver obs_off, obs_on;
  auto a = RunBacktest(off, data, RunOptions{}, obs_off);
  auto b = RunBacktest(on, data, RunOptions{}, obs_on);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->trades.size(), b->trades.size());
  ASSERT_EQ(a->equity.size(), b->equity.size());
  for (size_t k = 0; k < a->equity.size(); ++k) {
    ASSERT_EQ(a->equity[k].time, b->equity[k].time) << k;
    ASSERT_EQ(a->equity[k].value, b->equity[k].value) << k;
  }
  // The block-wise run keeps its equity as pieces, one for each stretch of one position (so at
  // most the trades and the flat stretches before the first and after the last); read in order
  // or by index they are the same points.
  EXPECT_GT(a->equity.pieces(), 0u);
  EXPECT_LE(a->equity.pieces(), a->trades.size() + 2);
  EXPECT_EQ(b->equity.pieces(), 0u);
  size_t k = 0;
  a->equity.ForEach([&](LinePoint p) {
    EXPECT_EQ(p.time, b->equity[k].time);
    EXPECT_EQ(p.value, b->equity[k].value);
    ++k;
  });
  EXPECT_EQ(k, a->equity.size());
  EXPECT_EQ(a->stats.exposure_pct, b->stats.exposure_pct);
  EXPECT_EQ(ResultDigest(*a), ResultDigest(*b));
  // The first line names the trace setting; every other line is the same.
  ASSERT_EQ(obs_off.logs.size(), obs_on.logs.size());
  for (size_t k = 1; k < obs_off.logs.size(); ++k) EXPECT_EQ(obs_off.logs[k], obs_on.logs[k]);
  EXPECT_GT(b->trace_rows, 0);
}

std::vector<double> Walk(int bars, uint64_t seed, double tick) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0, 1);
  std::vector<double> closes;
  double x = 100;
  for (int i = 0; i < bars; ++i) {
    x = std::max(1.0, x + step(rng));
    closes.push_back(std::round(x / tick) * tick);
  }
  return closes;
}

TEST(SmaCrossTest, BlocksMatchPerBarOnARandomWalk) {
  const std::vector<double> closes = Walk(20'000, 7, 0.01);
  ExpectBlocksMatchPerBar({{"fast_period", "10"}, {"slow_period", "30"}},
                          testing::FromCloses(closes));
  // Other periods, a spread and a commission.
  ExpectBlocksMatchPerBar({{"fast_period", "3"}, {"slow_period", "7"}, {"spread_pips", "2"},
                           {"commission", "0.001"}},
                          testing::FromCloses(closes));
}

TEST(SmaCrossTest, BlocksMatchPerBarOnExactTies) {
  // Coarse prices make fast − slow exactly 0 often (plateaus, and equal window sums).
  ExpectBlocksMatchPerBar({{"fast_period", "2"}, {"slow_period", "4"}},
                          testing::FromCloses(Walk(5'000, 11, 1.0)));
  std::vector<double> closes;
  for (int i = 0; i < 3000; ++i) closes.push_back((i / 40) % 3 == 0 ? 5.0 : (i / 40) % 3 == 1 ? 6.0 : 5.5);
  ExpectBlocksMatchPerBar({{"fast_period", "5"}, {"slow_period", "20"}},
                          testing::FromCloses(closes));
  // Values off the fixed-point grid (the compensated sum in ring order).
  std::vector<double> tiny;
  for (double c : Walk(3000, 5, 0.01)) tiny.push_back(c * 1e-9 / 3);
  ExpectBlocksMatchPerBar({{"fast_period", "3"}, {"slow_period", "9"}},
                          testing::FromCloses(tiny));
}

TEST(SmaCrossTest, BlocksMatchPerBarWithWarmUpAndShortRuns) {
  const std::vector<double> closes = Walk(12'000, 3, 0.01);
  // Hourly bars from 2020-09-13: a start date in the middle leaves a warm-up.
  ExpectBlocksMatchPerBar({{"fast_period", "10"}, {"slow_period", "30"},
                           {"start_date", "2021-06-01"}},
                          testing::FromCloses(closes));
  for (int bars : {1, 2, 5, 29, 30, 31, 100}) {
    ExpectBlocksMatchPerBar({{"fast_period", "10"}, {"slow_period", "30"}},
                            testing::FromCloses(std::vector<double>(closes.begin(),
                                                                    closes.begin() + bars)));
  }
}

TEST(SmaCrossTest, BlocksAreCancelled) {
  RunConfig cfg = Cfg(10, 30);
  testing::RecordingObserver obs;
  obs.cancel = true;
  auto r = RunBacktest(cfg, testing::OneSymbol(cfg, testing::FromCloses(Walk(10'000, 1, 0.01))),
                       RunOptions{}, obs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST(SmaWindowMeanTest, EqualsTheFedSma) {
  std::vector<double> xs = Walk(500, 9, 0.0001);
  for (size_t k = 0; k < xs.size(); k += 7) xs[k] *= 1e-12;  // some off the fixed-point grid
  for (int64_t period : {1, 2, 3, 10, 30}) {
    Sma sma(period);
    for (size_t j = 0; j < xs.size(); ++j) {
      sma.Update(xs[j]);
      if (!sma.ready()) continue;
      ASSERT_EQ(Sma::WindowMean(xs.data(), j + 1, period), sma.Value()) << period << " " << j;
    }
  }
}

}  // namespace
}  // namespace backtest::engine
