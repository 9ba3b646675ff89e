// The service's 100k-bar sma_cross job (fast 10, slow 30, size 1, initial equity 10,000, one-minute
// bars of a random walk) as its runner runs it — one symbol and no trace, so the block-wise loop;
// 1,000 bar log lines and then a count; progress — pinned to what the engine gave before its bar
// loop was made faster: the result digest (trades, markers, equity, stats and reason counts), the
// log lines and the progress reports, bit for bit. These results are compared with backtrader's
// and an independent implementation's elsewhere, and digests are stored and verified later: a
// change here is a change of results, never a matter of speed.
#include <bit>
#include <cstdint>
#include <string>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "server/engine/util/sha256.h"
#include "tests/testing/minute_walk.h"

namespace backtest::engine {
namespace {

struct Pinned {
  std::string digest;
  std::string logs;      // SHA-256 of "level\ttext\n" per line
  std::string progress;  // SHA-256 of "stage done total fraction-bits\n" per report
};

Pinned RunJob(RunOptions options, testing::RecordingObserver* obs, RunResult* out) {
  const RunConfig config = testing::Config({{"strategy", "sma_cross"},
                                            {"symbols", "BARS100000"},
                                            {"timeframe", "M1"},
                                            {"fast_period", "10"},
                                            {"slow_period", "30"},
                                            {"size", "1"},
                                            {"initial_equity", "10000"}});
  const MarketData data = testing::OneSymbol(config, backtest::testing::MinuteWalk(100'000, 20261121 + 100'000));
  auto result = RunBacktest(config, data, options, *obs);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  Pinned p;
  p.digest = result->digest;
  Sha256 logs, progress;
  for (const auto& [level, text] : obs->logs) logs.Update(level + "\t" + text + "\n");
  for (const ProgressInfo& r : obs->progress) {
    progress.Update(std::to_string(static_cast<int>(r.stage)) + " " + std::to_string(r.bars_done) +
                    " " + std::to_string(r.bars_total) + " " +
                    std::to_string(std::bit_cast<uint64_t>(r.fraction)) + "\n");
  }
  p.logs = logs.HexDigest();
  p.progress = progress.HexDigest();
  *out = *std::move(result);
  return p;
}

TEST(SmaCrossJobTest, AHundredThousandMinuteBarsGiveThePinnedResultLogAndProgress) {
  testing::RecordingObserver obs;
  RunResult r;
  const Pinned p = RunJob(RunOptions{}, &obs, &r);
  EXPECT_EQ(p.digest, "e2b7b62c987000443c22ec37ca2049f086b7aaeb18a5b23273d88c0a29a4f97e");
  EXPECT_EQ(p.logs, "99ae106c85c7fb4561fe50f99b8fc177ea62d1eb25cebde7b78b7ed09b6f6424");
  EXPECT_EQ(p.progress, "7ea106d8360fafefe559b94b75c7dafa2956cbdcfb7911c420ce08cb43affe5e");
  // What the hashes cover, in words, for a failure to be read.
  EXPECT_EQ(r.trades.size(), 3934u);
  EXPECT_EQ(r.markers.size(), 7868u);
  EXPECT_EQ(r.equity.size(), 100'000u);
  ASSERT_EQ(obs.logs.size(), 1003u);
  EXPECT_EQ(obs.logs[0].second,
            "sma_cross on BARS100000 M1: 100000 bars from 2020-01-01T00:00:00Z, 0 warm-up bars");
  EXPECT_EQ(obs.logs[1].second,
            "2020-01-01T00:31:00Z BARS100000 ENTRY short #1 1 at 99.817 (cross_down)");
  EXPECT_EQ(obs.logs[2].second,
            "2020-01-01T00:38:00Z BARS100000 EXIT short #1 at 99.994 (reversal), pnl -0.18");
  EXPECT_EQ(obs.logs[1000].second,
            "2020-01-09T14:34:00Z BARS100000 EXIT long #500 at 96.821 (reversal), pnl -0.15");
  EXPECT_EQ(obs.logs[1001].second,
            "6868 more bar log lines were left out (the limit is 1000); every trade is in the "
            "result and every decision in the reason counts");
  EXPECT_EQ(obs.logs[1002].second, "done: 3934 trades, return -0.04%, final equity 9996.45");
  EXPECT_EQ(obs.progress.size(), 103u);
}

}  // namespace
}  // namespace backtest::engine
