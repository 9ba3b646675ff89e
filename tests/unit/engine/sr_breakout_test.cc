// sr_breakout on crafted bars: each test builds a short hourly series whose every decision is
// computed by hand in the comments (lookback 5, EMA(2), ATR(14) of flat bars = 1, RSI off).
#include <cmath>

#include "engine_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/engine.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;
using testing::Ohlc;
using testing::ReasonCountOf;

RunConfig Cfg(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> p = {{"strategy", "sr_breakout"},
                                          {"symbols", "XAGUSD"},
                                          {"breakout_lookback_period", "5"},
                                          {"ema_length", "2"},
                                          {"check_for_daily_rsi", "false"}};
  for (auto& [k, v] : extra) p[k] = v;
  return testing::Config(p);
}

// 20 flat bars (TR 1), a long breakout at bar 20 (close 101 > R 100.5), inversion at bar 21,
// a retest at bar 22 (low 100.4 <= 100.5 < close 100.8), entry at bar 23's open.
std::vector<Ohlc> LongSetup() {
  std::vector<Ohlc> bars(20, Ohlc{100, 100.5, 99.5, 100});
  bars.push_back({100, 101.2, 99.9, 101});      // 20 breakout
  bars.push_back({101, 102.1, 100.9, 102});     // 21 inversion; same-side breakout ignored
  bars.push_back({101.5, 101.6, 100.4, 100.8}); // 22 retest → order
  return bars;
}

// ATRs of LongSetup's bars 20..22, Wilder: TRs 1.3, 1.2, 1.6 after a run of 1s.
constexpr double kAtr20 = (13 * 1.0 + 1.3) / 14;
constexpr double kAtr21 = (13 * kAtr20 + 1.2) / 14;
constexpr double kAtr22 = (13 * kAtr21 + 1.6) / 14;
const double kStop = 100.4 - 0.3 * kAtr22;  // min(P, retest low) − 0.3 ATR

absl::StatusOr<RunResult> RunBars(const RunConfig& config, const std::vector<Ohlc>& bars,
                              testing::RecordingObserver* obs = nullptr) {
  testing::RecordingObserver local;
  RunObserver& o = obs ? *obs : local;
  return RunBacktest(config, testing::OneSymbol(config, testing::Hourly(bars)), RunOptions{}, o);
}

std::vector<Ohlc> Mirror(const std::vector<Ohlc>& bars) {
  std::vector<Ohlc> out;
  for (const Ohlc& b : bars) out.push_back({200 - b.o, 200 - b.l, 200 - b.h, 200 - b.c});
  return out;
}

TEST(SrBreakoutTest, RetestEntryThenTarget) {
  auto bars = LongSetup();
  bars.push_back({100.8, 101.0, 100.6, 100.9});  // 23 fill at open 100.8, no exit
  bars.push_back({100.9, 102.5, 100.8, 102.3});  // 24 high reaches the target
  for (int i = 0; i < 5; ++i) bars.push_back({102.3, 102.8, 101.8, 102.3});
  auto r = RunBars(Cfg(), bars);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->trades.size(), 1u);
  const Trade& t = r->trades[0];
  const double risk = 100.8 - kStop;
  EXPECT_EQ(t.side, Side::kLong);
  EXPECT_EQ(t.entry_bar, 23);
  EXPECT_EQ(t.entry_time, testing::kT0 + 23 * 3600);
  EXPECT_DOUBLE_EQ(t.entry_price, 100.8);
  EXPECT_NEAR(t.stop, kStop, 1e-12);
  EXPECT_NEAR(t.target, 100.8 + 2 * risk, 1e-12);
  EXPECT_NEAR(t.size, 1e8 * 1e-4 / risk, 1e-6);
  EXPECT_EQ(t.exit_reason, ExitReason::kTarget);
  EXPECT_DOUBLE_EQ(t.exit_price, t.target);
  EXPECT_EQ(t.exit_bar, 24);
  EXPECT_EQ(t.bars_held, 1);
  EXPECT_NEAR(t.pnl, 2 * 1e8 * 1e-4, 1e-6);  // rr × risked amount
  EXPECT_EQ(ReasonCountOf(*r, "setup_created"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "setup_inverted"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "breakout_ignored"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "setup_triggered"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "exit_target"), 1);
  // Bar 24 also closes 0.2 above R 102.1, but 0.2 < 0.2 × ATR(24) ≈ 0.215.
  EXPECT_EQ(ReasonCountOf(*r, "filter_strength"), 1);
  // Zones: the broken resistance (bar 20's window high at 100.5 from bar 0) and the flipped
  // support that triggered, then the active R/S of the last 5 bars.
  const auto& zones = r->symbols[0].zones;
  ASSERT_EQ(zones.size(), 4u);
  EXPECT_EQ(zones[0].state, ZoneState::kBroken);
  EXPECT_EQ(zones[0].kind, ZoneKind::kResistance);
  EXPECT_EQ(zones[0].start, testing::kT0 + 15 * 3600);  // earliest high of bars 15..19
  EXPECT_EQ(zones[0].end, testing::kT0 + 20 * 3600);
  EXPECT_EQ(zones[1].state, ZoneState::kInverted);
  EXPECT_EQ(zones[1].kind, ZoneKind::kSupport);
  EXPECT_EQ(zones[1].end, testing::kT0 + 22 * 3600);
  EXPECT_EQ(zones[2].state, ZoneState::kActive);
  EXPECT_EQ(zones[2].price, 102.8);
  ASSERT_EQ(r->markers.size(), 2u);
  EXPECT_EQ(r->markers[0].side, OrderSide::kBuy);
  EXPECT_EQ(r->markers[1].reason, "target");
}

TEST(SrBreakoutTest, ShortsMirrorLongs) {
  auto bars = LongSetup();
  bars.push_back({100.8, 101.0, 100.6, 100.9});
  bars.push_back({100.9, 102.5, 100.8, 102.3});
  auto longs = RunBars(Cfg(), bars);
  auto shorts = RunBars(Cfg(), Mirror(bars));
  ASSERT_TRUE(longs.ok());
  ASSERT_TRUE(shorts.ok());
  ASSERT_EQ(shorts->trades.size(), 1u);
  EXPECT_EQ(shorts->trades[0].side, Side::kShort);
  EXPECT_NEAR(shorts->trades[0].entry_price, 200 - 100.8, 1e-9);
  EXPECT_EQ(shorts->trades[0].exit_reason, ExitReason::kTarget);
  EXPECT_NEAR(shorts->trades[0].pnl, longs->trades[0].pnl, 1e-6);
}

struct ExitCase {
  const char* name;
  Ohlc bar24;
  ExitReason reason;
  double price;
};

class SrBreakoutExitTest : public ::testing::TestWithParam<ExitCase> {};

TEST_P(SrBreakoutExitTest, ExitsAsTheContractSays) {
  auto bars = LongSetup();
  bars.push_back({100.8, 101.0, 100.6, 100.9});
  bars.push_back(GetParam().bar24);
  auto r = RunBars(Cfg(), bars);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->trades.size(), 1u);
  EXPECT_EQ(r->trades[0].exit_reason, GetParam().reason);
  EXPECT_NEAR(r->trades[0].exit_price, GetParam().price < 0 ? kStop : GetParam().price, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(
    Exits, SrBreakoutExitTest,
    ::testing::Values(
        ExitCase{"stop", {100.5, 100.7, 99.9, 100.2}, ExitReason::kStop, -1},
        ExitCase{"gap_through_stop", {99.9, 100.2, 99.5, 100.0}, ExitReason::kStopGap, 99.9},
        ExitCase{"stop_first_when_both_in_bar", {100.9, 102.5, 99.9, 102.0}, ExitReason::kStop, -1},
        ExitCase{"end_of_data", {100.9, 101.2, 100.7, 101.1}, ExitReason::kEndOfData, 101.1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SrBreakoutTest, CloseBackThroughTheLevelCancels) {
  auto bars = LongSetup();
  bars[22] = {101.5, 101.6, 100.0, 100.1};  // close < 100.5 − 0.2 ATR
  auto r = RunBars(Cfg(), bars);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReasonCountOf(*r, "setup_cancelled"), 1);
  EXPECT_EQ(ReasonCountOf(*r, "setup_triggered"), 0);
  EXPECT_TRUE(r->trades.empty());
}

TEST(SrBreakoutTest, SetupExpiresAtBreakoutPlusLookback) {
  auto bars = LongSetup();
  bars.resize(22);
  for (int i = 0; i < 5; ++i) bars.push_back({102, 102.05, 101.8, 102});  // 22..26, no retest
  testing::RecordingObserver obs;
  RunConfig cfg = Cfg({{"trace_enabled", "true"}});
  auto r = RunBars(cfg, bars, &obs);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReasonCountOf(*r, "setup_expired"), 1);
  for (const auto& rc : r->reasons) {
    if (rc.reason == "setup_expired") {
      EXPECT_EQ(rc.samples.at(0).bar_index, 25);  // t0 + L
    }
  }
}

TEST(SrBreakoutTest, EntrySkippedWhenFillIsAtOrBelowStop) {
  auto bars = LongSetup();
  bars.push_back({100.0, 100.2, 99.8, 100.1});  // opens below the stop 100.08
  auto r = RunBars(Cfg(), bars);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->trades.empty());
  EXPECT_EQ(ReasonCountOf(*r, "entry_skipped"), 1);
}

TEST(SrBreakoutTest, CloseStopIsWidenedToMinimumRisk) {
  auto bars = LongSetup();
  bars.push_back({100.55, 100.7, 100.5, 100.6});  // fill 100.55: risk 0.15 + 0.3 ATR < 0.5 ATR
  auto r = RunBars(Cfg(), bars);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->trades.size(), 1u);
  EXPECT_EQ(ReasonCountOf(*r, "stop_widened"), 1);
  EXPECT_NEAR(r->trades[0].stop, 100.55 - 0.5 * kAtr22, 1e-12);
  EXPECT_NEAR(r->trades[0].target, 100.55 + 2 * 0.5 * kAtr22, 1e-12);
}

TEST(SrBreakoutTest, SpreadIsPaidOnBuys) {
  auto bars = LongSetup();
  bars.push_back({100.8, 101.0, 100.6, 100.9});
  auto r = RunBars(Cfg({{"spread_pips", "10"}}), bars);  // XAG pip 0.001 → 0.01
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->trades.size(), 1u);
  EXPECT_DOUBLE_EQ(r->trades[0].entry_price, 100.81);
  EXPECT_EQ(r->trades[0].exit_reason, ExitReason::kEndOfData);
  EXPECT_DOUBLE_EQ(r->trades[0].exit_price, 100.9);  // long exits sell at bid
}

TEST(SrBreakoutTest, MissingDailyRsiFiltersBreakouts) {
  auto r = RunBars(Cfg({{"check_for_daily_rsi", "true"}}), LongSetup());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReasonCountOf(*r, "rsi_unavailable"), 2);  // bars 20 and 21
  EXPECT_EQ(ReasonCountOf(*r, "setup_created"), 0);
}

TEST(SrBreakoutTest, TraceExplainsEveryDecision) {
  auto bars = LongSetup();
  bars.push_back({100.8, 101.0, 100.6, 100.9});
  bars.push_back({100.9, 102.5, 100.8, 102.3});
  testing::RecordingObserver obs;
  auto r = RunBars(Cfg({{"trace_enabled", "true"}}), bars, &obs);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(obs.rows.empty());
  EXPECT_EQ(r->trace_rows, static_cast<int64_t>(obs.rows.size()));
  for (size_t k = 0; k < obs.rows.size(); ++k) {
    ASSERT_EQ(obs.rows[k].seq, static_cast<int64_t>(k + 1));
    ASSERT_EQ(obs.rows[k].payload.front(), '{');
    if (obs.rows[k].kind == TraceKind::kCheck) {
      EXPECT_THAT(obs.rows[k].payload, HasSubstr("\"passed\":"));
      EXPECT_THAT(obs.rows[k].payload, HasSubstr("\"reason\":"));
    }
  }
  auto verdict = [&](int64_t bar) {
    for (const TraceRow& row : obs.rows) {
      if (row.bar_index == bar && row.section == TraceSection::kPosition &&
          row.kind == TraceKind::kValue) {
        return row.payload;
      }
    }
    return std::string("none");
  };
  EXPECT_THAT(verdict(5), HasSubstr("not evaluated before bar 14"));
  EXPECT_THAT(verdict(17), HasSubstr("no entry: no breakout: close 100 within support 99.5 and resistance 100.5"));
  EXPECT_THAT(verdict(20), HasSubstr("long setup at 100.5000"));
  EXPECT_THAT(verdict(22), HasSubstr("retest of 100.5000"));
  EXPECT_THAT(verdict(23), HasSubstr("\"code\":\"entry_filled\""));
  EXPECT_THAT(verdict(24), HasSubstr("exit long by target"));
  EXPECT_THAT(verdict(24), HasSubstr("breakout strength 0.19 ATR < 0.20 ATR required"));
}

}  // namespace
}  // namespace backtest::engine
