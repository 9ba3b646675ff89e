#include "server/engine/engine.h"

#include <filesystem>
#include <fstream>

#include "engine_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/digest.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;

ParamValues Params(std::map<std::string, std::string> p) {
  p.try_emplace("start_date", "2022-01-03");
  p.try_emplace("end_date", "2022-04-01");
  auto v = ValidateParams(p, 1'700'000'000);
  EXPECT_TRUE(v.ok()) << v.status();
  return *v;
}

TEST(EngineTest, SampleRunIsDeterministicAndTraceDoesNotChangeIt) {
  testing::RecordingObserver a, b, c;
  auto r1 = RunBacktest(Params({}), RunOptions{}, a);
  auto r2 = RunBacktest(Params({}), RunOptions{}, b);
  auto r3 = RunBacktest(Params({{"trace_enabled", "true"}}), RunOptions{}, c);
  ASSERT_TRUE(r1.ok()) << r1.status();
  ASSERT_TRUE(r2.ok());
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r1->digest.size(), 64u);
  EXPECT_EQ(r1->digest, r2->digest);
  EXPECT_EQ(r1->digest, r3->digest);
  EXPECT_EQ(a.logs, b.logs);
  EXPECT_GT(r1->stats.bars, 1000);
  EXPECT_EQ(r1->symbols[0].candles().size(), static_cast<size_t>(r1->stats.bars));
  EXPECT_GT(r1->symbols[0].first_kept, 0u);  // warm-up bars came before start_date
  EXPECT_FALSE(r1->reasons.empty());
  EXPECT_TRUE(a.rows.empty());
  EXPECT_FALSE(c.rows.empty());
  // Same trace twice.
  testing::RecordingObserver d;
  ASSERT_TRUE(RunBacktest(Params({{"trace_enabled", "true"}}), RunOptions{}, d).ok());
  Sha256 h1, h2;
  for (const auto& row : c.rows) HashTraceRow(row, &h1);
  for (const auto& row : d.rows) HashTraceRow(row, &h2);
  EXPECT_EQ(h1.HexDigest(), h2.HexDigest());
}

// Both strategies: a run without markers makes the same trades, equity and stats, and only the
// markers (and so the digest) differ.
TEST(EngineTest, RunsWithoutMarkersDifferOnlyByThem) {
  for (const char* strategy : {"sma_cross", "sr_breakout"}) {
    testing::RecordingObserver a, b;
    RunOptions without;
    without.markers = false;
    auto full = RunBacktest(Params({{"strategy", strategy}}), RunOptions{}, a);
    auto bare = RunBacktest(Params({{"strategy", strategy}}), without, b);
    ASSERT_TRUE(full.ok()) << full.status();
    ASSERT_TRUE(bare.ok()) << bare.status();
    ASSERT_FALSE(full->trades.empty()) << strategy;
    EXPECT_EQ(full->markers.size(), 2 * full->trades.size()) << strategy;
    EXPECT_TRUE(bare->markers.empty()) << strategy;
    ASSERT_EQ(bare->trades.size(), full->trades.size()) << strategy;
    for (size_t i = 0; i < full->trades.size(); ++i) {
      EXPECT_EQ(bare->trades[i].exit_time, full->trades[i].exit_time) << strategy << " " << i;
      EXPECT_EQ(bare->trades[i].pnl, full->trades[i].pnl) << strategy << " " << i;
    }
    EXPECT_EQ(bare->stats.equity_final, full->stats.equity_final) << strategy;
    EXPECT_EQ(bare->stats.sharpe, full->stats.sharpe) << strategy;
    EXPECT_EQ(bare->equity.size(), full->equity.size()) << strategy;
    EXPECT_EQ(a.logs, b.logs) << strategy;
    EXPECT_NE(bare->digest, full->digest) << strategy;
  }
}

TEST(EngineTest, ProgressGoesThroughTheStages) {
  testing::RecordingObserver obs;
  ASSERT_TRUE(RunBacktest(Params({{"strategy", "sma_cross"}}), RunOptions{}, obs).ok());
  ASSERT_GE(obs.progress.size(), 50u);
  EXPECT_EQ(obs.progress.front().stage, RunStage::kLoading);
  EXPECT_EQ(obs.progress.back().stage, RunStage::kDone);
  EXPECT_EQ(obs.progress.back().fraction, 1.0);
  EXPECT_LE(obs.progress.size(), 110u);  // rate-limited to ~1%
  for (size_t k = 1; k < obs.progress.size(); ++k) {
    EXPECT_GE(obs.progress[k].bars_done, obs.progress[k - 1].bars_done);
  }
}

TEST(EngineTest, SamplingLimitAndBatches) {
  testing::RecordingObserver obs;
  RunOptions opts;
  opts.trace_batch_size = 64;
  auto r = RunBacktest(Params({{"trace_enabled", "true"}, {"trace_sampling", "10"}}), opts, obs);
  ASSERT_TRUE(r.ok());
  for (const TraceRow& row : obs.rows) {
    if (row.kind != TraceKind::kEvent && row.bar_index % 10 != 0) {
      // Off-sample value rows are only the verdicts of bars that had an event.
      EXPECT_EQ(row.section, TraceSection::kPosition) << row.payload;
      EXPECT_THAT(row.payload, HasSubstr("\"verdict\""));
    }
  }
  for (size_t k = 0; k + 1 < obs.batch_sizes.size(); ++k) EXPECT_EQ(obs.batch_sizes[k], 64u);
  EXPECT_EQ(obs.truncated_batches, 0);
  EXPECT_FALSE(r->trace_truncated);

  testing::RecordingObserver cut;
  opts.trace_max_rows = 100;
  r = RunBacktest(Params({{"trace_enabled", "true"}}), opts, cut);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(cut.rows.size(), 100u);
  EXPECT_EQ(cut.truncated_batches, 1);
  EXPECT_TRUE(r->trace_truncated);
  EXPECT_GT(r->stats.bars, 1000);  // the run went on
}

TEST(EngineTest, CancelledRunStops) {
  testing::RecordingObserver obs;
  obs.cancel = true;
  auto r = RunBacktest(Params({}), RunOptions{}, obs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST(EngineTest, SeveralSymbolsShareOneAccountMergedByTime) {
  testing::RecordingObserver obs;
  auto r = RunBacktest(Params({{"symbols", "XAGUSD,EURUSD"}, {"strategy", "sma_cross"}}),
                       RunOptions{}, obs);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->symbols.size(), 2u);
  EXPECT_EQ(r->stats.bars, static_cast<int64_t>(r->symbols[0].candles().size() +
                                                r->symbols[1].candles().size()));
  for (size_t k = 1; k < r->equity.size(); ++k) {
    ASSERT_GT(r->equity[k].time, r->equity[k - 1].time);
  }
  bool xag = false, eur = false;
  for (const Trade& t : r->trades) {
    xag |= t.symbol == "XAGUSD";
    eur |= t.symbol == "EURUSD";
  }
  EXPECT_TRUE(xag && eur);
  double pnl = 0;
  for (const Trade& t : r->trades) pnl += t.pnl;
  EXPECT_NEAR(r->stats.equity_final, 1e8 + pnl, 1e-6);
}

// Cancels once the run has reported some progress.
class CancelAfterProgress : public testing::RecordingObserver {
 public:
  void OnProgress(const ProgressInfo& p) override {
    RecordingObserver::OnProgress(p);
    if (p.stage == RunStage::kRunning && p.bars_done > 100) cancel = true;
  }
};

TEST(EngineTest, CancellingMidRunStopsWithinABarAndFlushesTheTrace) {
  CancelAfterProgress obs;
  auto r = RunBacktest(Params({{"trace_enabled", "true"}}), RunOptions{}, obs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  ASSERT_FALSE(obs.rows.empty());  // rows up to the cancel were delivered
  EXPECT_LT(obs.rows.back().bar_index, 200);
}

TEST(EngineTest, SymbolsAtOneTimestampGoInTheGivenOrder) {
  // Two symbols with identical bars trade at identical times; markers follow the given order.
  RunConfig config = testing::Config({{"strategy", "sma_cross"}, {"symbols", "BBB,AAA"},
                                      {"fast_period", "2"}, {"slow_period", "3"}});
  std::vector<double> closes = {5, 5, 5, 6, 7, 4, 3, 8, 9, 9};
  MarketData data;
  for (const std::string& s : config.symbols) {
    data.symbols.push_back(*PrepareSymbol(config, s, testing::FromCloses(closes)));
  }
  testing::RecordingObserver obs;
  auto r = RunBacktest(config, data, RunOptions{}, obs);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->markers.size(), 8u);
  for (size_t k = 0; k < r->markers.size(); k += 2) {
    EXPECT_EQ(r->markers[k].time, r->markers[k + 1].time);
  }
  EXPECT_EQ(r->markers[0].symbol, "BBB");
  EXPECT_EQ(r->markers[1].symbol, "AAA");
  EXPECT_EQ(r->equity.size(), closes.size());
  EXPECT_EQ(r->stats.bars, 20);
}

TEST(EngineTest, BadCsvNamesFileAndLine) {
  auto dir = std::filesystem::temp_directory_path() / "engine_test_bad_csv";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ABC.csv") << "time,open,high,low,close\n"
                                 << "2022-01-03T00:00:00Z,1,2,0.5,1\n"
                                 << "2022-01-03T01:00:00Z,1,0.4,0.5,1\n";
  testing::RecordingObserver obs;
  auto r = RunBacktest(
      Params({{"symbols", "ABC"}, {"data_source", "file://" + dir.string()}}), RunOptions{}, obs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("ABC.csv:3: high 0.4 < low 0.5"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace backtest::engine
