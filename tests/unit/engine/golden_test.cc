// Golden runs: whole runs on tests/golden/XAGUSD_H1.csv whose stats, trades, reason counts, result
// digest and trace digest are pinned in tests/golden/*.golden.txt. A change in any of them fails
// the test with a diff-friendly text; re-record on purpose with BACKTEST_UPDATE_GOLDEN=1.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "tests/unit/engine/result_fixtures.h"

namespace backtest::engine {
namespace {

using testing::GoldenDir;

class TraceDigest : public testing::RecordingObserver {
 public:
  void OnTraceBatch(std::span<const TraceRow> rows, bool truncated) override {
    for (const TraceRow& r : rows) HashTraceRow(r, &hash);
    count += static_cast<int64_t>(rows.size());
  }
  Sha256 hash;
  int64_t count = 0;
};

std::string G(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Render(const RunResult& r, const std::string& trace_digest, int64_t trace_rows) {
  std::ostringstream o;
  const Stats& s = r.stats;
  o << "strategy " << r.strategy << "\n"
    << "digest " << r.digest << "\n"
    << "trace_digest " << trace_digest << "\n"
    << "trace_rows " << trace_rows << "\n"
    << "stats bars=" << s.bars << " start=" << s.start << " end=" << s.end
    << " exposure_pct=" << G(s.exposure_pct) << "\n"
    << "stats equity_final=" << G(s.equity_final) << " equity_peak=" << G(s.equity_peak)
    << " return_pct=" << G(s.return_pct) << " buy_hold_return_pct=" << G(s.buy_hold_return_pct)
    << "\n"
    << "stats return_ann_pct=" << G(s.return_ann_pct)
    << " volatility_ann_pct=" << G(s.volatility_ann_pct) << " sharpe=" << G(s.sharpe)
    << " sortino=" << G(s.sortino) << " calmar=" << G(s.calmar) << "\n"
    << "stats max_drawdown_pct=" << G(s.max_drawdown_pct)
    << " avg_drawdown_pct=" << G(s.avg_drawdown_pct)
    << " max_drawdown_duration_seconds=" << s.max_drawdown_duration_seconds
    << " avg_drawdown_duration_seconds=" << s.avg_drawdown_duration_seconds << "\n"
    << "stats trades=" << s.trades << " win_rate_pct=" << G(s.win_rate_pct)
    << " best_trade_pct=" << G(s.best_trade_pct) << " worst_trade_pct=" << G(s.worst_trade_pct)
    << " avg_trade_pct=" << G(s.avg_trade_pct) << "\n"
    << "stats max_trade_duration_seconds=" << s.max_trade_duration_seconds
    << " avg_trade_duration_seconds=" << s.avg_trade_duration_seconds
    << " profit_factor=" << G(s.profit_factor) << " expectancy=" << G(s.expectancy)
    << " sqn=" << G(s.sqn) << " commission=" << G(s.commission) << " pnl=" << G(s.pnl) << "\n"
    << "stats long trades=" << s.long_stats.trades << " win_rate_pct=" << G(s.long_stats.win_rate_pct)
    << " pnl=" << G(s.long_stats.pnl) << " avg_trade_pct=" << G(s.long_stats.avg_trade_pct)
    << " profit_factor=" << G(s.long_stats.profit_factor) << "\n"
    << "stats short trades=" << s.short_stats.trades
    << " win_rate_pct=" << G(s.short_stats.win_rate_pct) << " pnl=" << G(s.short_stats.pnl)
    << " avg_trade_pct=" << G(s.short_stats.avg_trade_pct)
    << " profit_factor=" << G(s.short_stats.profit_factor) << "\n";
  for (const Trade& t : r.trades) {
    o << "trade " << t.id << " " << SideName(t.side) << " entry=" << t.entry_time << "@"
      << G(t.entry_price) << " exit=" << t.exit_time << "@" << G(t.exit_price)
      << " size=" << G(t.size) << " stop=" << G(t.stop) << " target=" << G(t.target)
      << " pnl=" << G(t.pnl) << " commission=" << G(t.commission) << " reason="
      << ExitReasonName(t.exit_reason) << " bars=" << t.entry_bar << ".." << t.exit_bar << "\n";
  }
  for (const ReasonCount& rc : r.reasons) {
    o << "reason " << rc.reason << " " << rc.count << " first_bars";
    for (const ReasonSample& s : rc.samples) o << " " << s.bar_index;
    o << "\n";
  }
  o << "zones " << r.symbols[0].zones.size() << " markers " << r.markers.size() << " equity_points "
    << r.equity.size() << "\n";
  return o.str();
}

void CheckGolden(const std::string& name, const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> p = {
      {"symbols", "XAGUSD"},
      {"timeframe", "H1"},
      {"data_source", "file://" + std::filesystem::absolute(GoldenDir()).lexically_normal().string()},
      {"start_date", "2023-01-16"},
      {"end_date", "2023-03-01"},
      {"trace_enabled", "true"}};
  for (const auto& [k, v] : extra) p[k] = v;
  auto values = ValidateParams(p, 1'700'000'000);
  ASSERT_TRUE(values.ok()) << values.status();
  TraceDigest obs;
  auto result = RunBacktest(*values, RunOptions{}, obs);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string text = Render(*result, obs.hash.HexDigest(), obs.count);
  const auto path = GoldenDir() / (name + ".golden.txt");
  if (const char* update = std::getenv("BACKTEST_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path) << text;
    GTEST_SKIP() << "re-recorded " << path;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing " << path << " (record it with BACKTEST_UPDATE_GOLDEN=1)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(text, want.str()) << "golden run " << name << " changed; if on purpose, re-record with "
                              << "BACKTEST_UPDATE_GOLDEN=1";
}

TEST(GoldenTest, SrBreakout) {
  CheckGolden("sr_breakout", {{"strategy", "sr_breakout"},
                              {"breakout_lookback_period", "24"},
                              {"breakout_min_strength_atr", "0.1"},
                              {"zone_inversion_margin_atr", "0.3"},
                              {"spread_pips", "2"},
                              {"commission", "0.0001"}});
}

TEST(GoldenTest, SmaCross) {
  CheckGolden("sma_cross", {{"strategy", "sma_cross"}, {"initial_equity", "10000"}});
}

}  // namespace
}  // namespace backtest::engine
