// Fixed results for tests that pin what is derived from a whole result byte for byte (its digest,
// its wire form): runs on tests/golden/XAGUSD_H1.csv (deterministic: no sample data, whose values
// depend on libm) and results made by hand that reach the corners (NaN, −0, values that are no
// short decimals, strings longer than a hash's gathering buffer, several symbols, warm-up bars,
// overlapping trades).
#ifndef BACKTEST_TESTS_UNIT_ENGINE_RESULT_FIXTURES_H_
#define BACKTEST_TESTS_UNIT_ENGINE_RESULT_FIXTURES_H_

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/engine.h"
#include "server/engine/param_registry.h"
#include "server/engine/run_result.h"

namespace backtest::engine::testing {

inline std::filesystem::path GoldenDir() {
  if (const char* src = std::getenv("BACKTEST_SOURCE_DIR")) {
    return std::filesystem::path(src) / "tests" / "golden";
  }
  // Not __FILE__: a compiler cache with a base directory makes it relative to the build's.
  return std::filesystem::path(BACKTEST_SOURCE_DIR_DEFAULT) / "tests" / "golden";
}

// A run on the golden XAGUSD H1 bars with `extra` parameters.
inline RunResult GoldenRun(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> p = {
      {"symbols", "XAGUSD"},
      {"timeframe", "H1"},
      {"data_source",
       "file://" + std::filesystem::absolute(GoldenDir()).lexically_normal().string()},
      {"start_date", "2023-01-16"},
      {"end_date", "2023-03-01"}};
  for (const auto& [k, v] : extra) p[k] = v;
  auto values = ValidateParams(p, 1'700'000'000);
  if (!values.ok()) {
    ADD_FAILURE() << values.status();
    return RunResult{};
  }
  class Quiet : public RunObserver {
    void OnLog(LogLevel, absl::string_view) override {}
    void OnProgress(const ProgressInfo&) override {}
    void OnTraceBatch(std::span<const TraceRow>, bool) override {}
    bool IsCancelled() override { return false; }
  } quiet;
  auto result = RunBacktest(*values, RunOptions{}, quiet);
  if (!result.ok()) {
    ADD_FAILURE() << result.status();
    return RunResult{};
  }
  return *std::move(result);
}

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Bars a minute apart from t0; prices i / `divisor` above `base` (short decimals for a divisor
// of a power of ten, none for 3).
inline std::shared_ptr<BarSeries> Bars(int n, int64_t t0, double base, double divisor) {
  auto s = std::make_shared<BarSeries>();
  for (int i = 0; i < n; ++i) {
    const double p = base + i / divisor;
    s->Append(t0 + 60 * i, p, p + 0.5, p - 0.5, p + 0.25, i % 7 == 0 ? 0.0 : 100.0 * i);
  }
  return s;
}

inline Trade MakeTrade(int64_t id, Side side, int64_t entry_time, double entry, int64_t exit_time,
                       double exit, ExitReason reason) {
  Trade t;
  t.id = id;
  t.symbol = "AAA";
  t.side = side;
  t.entry_time = entry_time;
  t.entry_price = entry;
  t.exit_time = exit_time;
  t.exit_price = exit;
  t.size = 2;
  t.commission = 0.5;
  t.pnl = (side == Side::kLong ? exit - entry : entry - exit) * t.size - t.commission;
  t.return_pct = t.pnl / (entry * t.size) * 100.0;
  t.exit_reason = reason;
  t.entry_bar = (entry_time - 1'600'000'000) / 60;
  t.exit_bar = (exit_time - 1'600'000'000) / 60;
  t.bars_held = t.exit_bar - t.entry_bar;
  return t;
}

// The markers of `trades` as the engine writes them: their fills by time, trade id, entry first.
inline void AddFillMarkers(RunResult* r, const std::vector<std::string>& entry_reasons) {
  struct Fill {
    int64_t time, id;
    bool exit;
    size_t trade;
  };
  std::vector<Fill> fills;
  for (size_t i = 0; i < r->trades.size(); ++i) {
    fills.push_back({r->trades[i].entry_time, r->trades[i].id, false, i});
    fills.push_back({r->trades[i].exit_time, r->trades[i].id, true, i});
  }
  std::stable_sort(fills.begin(), fills.end(), [](const Fill& a, const Fill& b) {
    return std::tie(a.time, a.id, a.exit) < std::tie(b.time, b.id, b.exit);
  });
  for (const Fill& f : fills) {
    const Trade& t = r->trades[f.trade];
    Marker m;
    m.symbol = t.symbol;
    m.time = f.time;
    const bool buy = (t.side == Side::kLong) != f.exit;
    m.side = buy ? OrderSide::kBuy : OrderSide::kSell;
    m.kind = f.exit ? MarkerKind::kExit : MarkerKind::kEntry;
    m.price = f.exit ? t.exit_price : t.entry_price;
    m.reason = f.exit ? std::string(ExitReasonName(t.exit_reason)) : entry_reasons[f.trade];
    m.trade_id = t.id;
    r->markers.push_back(m);
  }
}

// Overlapping trades (fills out of the trades' order), ties of time between trades, warm-up bars,
// and the equity as points at the candles.
inline RunResult OverlappingTrades() {
  constexpr int64_t t0 = 1'600'000'000;
  RunResult r;
  r.strategy = "sma_cross";
  SymbolResult s;
  s.symbol = "AAA";
  s.pip = 0.01;
  s.bars = Bars(40, t0, 20, 100);
  s.first_kept = 2;
  r.symbols.push_back(s);
  // In exit order; trade 2 opens before trade 1 exits, trade 3 enters when trade 2 exits.
  r.trades.push_back(MakeTrade(2, Side::kShort, t0 + 60 * 5, 20.05, t0 + 60 * 9, 20.09,
                               ExitReason::kStop));
  r.trades.push_back(MakeTrade(1, Side::kLong, t0 + 60 * 3, 20.03, t0 + 60 * 12, 20.12,
                               ExitReason::kTarget));
  r.trades.push_back(MakeTrade(3, Side::kLong, t0 + 60 * 9, 20.09, t0 + 60 * 20, 20.2,
                               ExitReason::kReversal));
  r.trades.push_back(MakeTrade(4, Side::kShort, t0 + 60 * 20, 20.2, t0 + 60 * 39, 20.39,
                               ExitReason::kEndOfData));
  AddFillMarkers(&r, {"dip", "cross_up", "cross_up", "cross_down"});
  for (int i = 2; i < 40; ++i) r.equity.Append({t0 + 60 * i, 10'000 + 0.125 * i});
  r.stats.bars = 38;
  r.stats.trades = 4;
  r.stats.sharpe = kNaN;
  r.reasons.push_back({"cross_up", 2, {{"AAA", 7, t0 + 60 * 9}}, "the fast SMA crossed up"});
  return r;
}

// Everything the format has, with values that take the plain and the slow paths.
inline RunResult Odd() {
  constexpr int64_t t0 = 1'600'000'000;
  RunResult r;
  r.strategy = "external";
  SymbolResult a;
  a.symbol = "AAA";
  a.pip = 0.01;
  auto bars = Bars(60, t0, 1.5, 4);
  bars->close[7] = kNaN;
  bars->volume[9] = -0.0;
  a.bars = bars;
  a.ema = {{t0, 1.25}, {t0 + 60, kNaN}, {t0 + 120, 1.0 / 3}, {t0 + 180, -0.0}};
  a.zones.push_back({"AAA", t0 + 60, t0 + 600, 1.75, ZoneKind::kResistance, ZoneState::kBroken});
  a.zones.push_back({"AAA", t0 + 120, 0, kNaN, ZoneKind::kSupport, ZoneState::kCancelled});
  a.lines.push_back({"upper band", {{t0, 2.5}, {t0 + 60, 1e300}, {t0 + 120, kNaN}}});
  a.lines.push_back({"", {}});
  r.symbols.push_back(a);
  SymbolResult b;
  b.symbol = "A-SYMBOL-LONGER-THAN-SSO";
  b.pip = 0.0001;
  b.bars = Bars(30, t0 + 30, 0.5, 3);
  b.first_kept = 3;
  r.symbols.push_back(b);
  SymbolResult c;  // no candles kept
  c.symbol = "CCC";
  c.pip = 1;
  c.bars = Bars(4, t0, 10, 1);
  c.first_kept = 4;
  r.symbols.push_back(c);

  r.trades.push_back(MakeTrade(1, Side::kLong, t0, 1.5, t0 + 120, 2.0, ExitReason::kSignal));
  r.trades.push_back(MakeTrade(2, Side::kShort, t0 + 180, 1.0 / 3, t0 + 240, 1e-12,
                               ExitReason::kStopGap));
  Trade& t = r.trades.back();
  t.symbol = b.symbol;
  t.stop = kNaN;
  t.target = -0.0;
  t.size = 1e300;
  t.pnl = 42;  // not what the broker's formula gives: a residual
  t.return_pct = kNaN;
  r.trades.push_back(MakeTrade(3, static_cast<Side>(7), t0 + 300, 2, t0 + 360, 2.5,
                               static_cast<ExitReason>(99)));
  AddFillMarkers(&r, {"signal", std::string(20'000, 'r'), ""});
  Marker note;
  note.symbol = "AAA";
  note.time = t0 + 200;
  note.side = OrderSide::kSell;
  note.kind = MarkerKind::kNote;
  note.price = -0.0;
  note.reason = "a note";
  r.markers.push_back(note);

  r.equity.Append({t0, 100});
  r.equity.Append({t0 + 90, kNaN});
  r.equity.Append({t0 + 91, 1.0 / 7});
  r.stats.start = t0;
  r.stats.end = t0 + 3600;
  r.stats.bars = 60;
  r.stats.return_pct = 1.0 / 3;
  r.stats.sharpe = kNaN;
  r.stats.sortino = -std::numeric_limits<double>::infinity();
  r.stats.long_stats.trades = 2;
  r.stats.short_stats.profit_factor = kNaN;
  r.stats.pnl = -0.0;
  r.reasons.push_back({"filter_strength", 3, {{"AAA", 1, t0 + 60}, {"BBB", 2, t0 + 120}}, "why"});
  r.reasons.push_back({std::string(17'000, 'x'), 0, {}, ""});
  r.trace_rows = 12;
  r.trace_truncated = true;
  r.digest = "not hashed";
  return r;
}

// The fixtures by name.
inline std::map<std::string, RunResult> ResultFixtures() {
  std::map<std::string, RunResult> out;
  // The equity as pieces (one symbol, no trace).
  out["sma_cross"] = GoldenRun({{"strategy", "sma_cross"}, {"initial_equity", "10000"}});
  // As points at the candles.
  out["sma_cross_traced"] = GoldenRun(
      {{"strategy", "sma_cross"}, {"trace_enabled", "true"}, {"fast_period", "5"},
       {"slow_period", "12"}});
  // EMA, zones, stops and targets.
  out["sr_breakout"] = GoldenRun({{"strategy", "sr_breakout"},
                                  {"breakout_lookback_period", "24"},
                                  {"breakout_min_strength_atr", "0.1"},
                                  {"zone_inversion_margin_atr", "0.3"},
                                  {"spread_pips", "2"},
                                  {"commission", "0.0001"}});
  out["overlapping_trades"] = OverlappingTrades();
  out["odd"] = Odd();
  return out;
}

}  // namespace backtest::engine::testing

#endif  // BACKTEST_TESTS_UNIT_ENGINE_RESULT_FIXTURES_H_
