// Indicator series shared by a sweep's runs (shared_series.h): runs that read them give the
// results of runs that compute their own, bit for bit (the digest covers trades, markers,
// equity, lines and stats), from several threads at once; past its bound nothing is kept and the
// runs compute their own.
#include "server/engine/shared_series.h"

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/engine/data/sample_source.h"
#include "server/engine/engine.h"
#include "tests/unit/engine/engine_test_util.h"

namespace backtest::engine {
namespace {

// Two months of sample M15 bars (warm-up included), as a sweep's runner loads them once.
MarketData SampleData(const RunConfig& config) {
  SampleSource source;
  auto data = LoadMarketData(config, source);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *std::move(data) : MarketData{};
}

std::map<std::string, std::string> Base(const std::string& strategy) {
  return {{"strategy", strategy},
          {"symbols", "EURUSD,GBPUSD"},
          {"timeframe", "M15"},
          {"start_date", "2022-01-03"},
          {"end_date", "2022-03-01"}};
}

// Each combination's digest, run with `shared` (may be null) on `threads` threads.
std::vector<std::string> Digests(const std::vector<std::map<std::string, std::string>>& combos,
                                 const MarketData& data, SharedSeries* shared, int threads) {
  std::vector<std::string> out(combos.size());
  RunOptions options;
  options.compute_digest = true;
  options.shared_series = shared;
  std::atomic<size_t> next{0};
  auto work = [&] {
    NullObserver quiet;
    for (size_t k; (k = next.fetch_add(1)) < combos.size();) {
      auto result = RunBacktest(testing::Config(combos[k]), data, options, quiet);
      out[k] = result.ok() ? result->digest : std::string(result.status().message());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

TEST(SharedSeriesTest, SrBreakoutRunsReadingThemAreTheRunsComputingThem) {
  const RunConfig config = testing::Config(Base("sr_breakout"));
  const MarketData data = SampleData(config);
  ASSERT_EQ(data.symbols.size(), 2u);
  std::vector<std::map<std::string, std::string>> combos;
  for (const char* lookback : {"10", "25", "40"}) {
    for (const char* ema : {"50", "200"}) {
      for (const char* strength : {"0.2", "0.6"}) {
        auto p = Base("sr_breakout");
        p["breakout_lookback_period"] = lookback;
        p["ema_length"] = ema;
        p["breakout_min_strength_atr"] = strength;
        combos.push_back(p);
      }
    }
  }
  const std::vector<std::string> own = Digests(combos, data, nullptr, 1);
  SharedSeries shared(data);
  const std::vector<std::string> read = Digests(combos, data, &shared, 2);
  EXPECT_EQ(read, own);
  for (const std::string& d : own) EXPECT_EQ(d.size(), 64u) << d;  // each run ran
  // Per symbol: the fixed series, two EMAs and three lookbacks' extremes.
  const size_t bars = data.symbols[0].bars->size() + data.symbols[1].bars->size();
  EXPECT_EQ(shared.bytes(), bars * (20 + 2 * 8 + 3 * 24));
  // Some trades: the comparison is not of empty runs.
  NullObserver quiet;
  auto one = RunBacktest(testing::Config(combos[0]), data, RunOptions{}, quiet);
  ASSERT_TRUE(one.ok());
  EXPECT_GT(one->trades.size(), 0u);
}

TEST(SharedSeriesTest, PastItsBoundNothingIsKeptAndRunsComputeTheirOwn) {
  const RunConfig config = testing::Config(Base("sr_breakout"));
  const MarketData data = SampleData(config);
  auto p = Base("sr_breakout");
  SharedSeries none(data, 1000);
  EXPECT_EQ(none.SrFixed(0), nullptr);
  EXPECT_EQ(none.Ema(0, 50), nullptr);
  EXPECT_EQ(none.bytes(), 0u);
  EXPECT_EQ(Digests({p}, data, &none, 1), Digests({p}, data, nullptr, 1));
  // Series of other bars are not used.
  const MarketData other = SampleData(config);
  SharedSeries of_other(other);
  EXPECT_EQ(Digests({p}, data, &of_other, 1), Digests({p}, data, nullptr, 1));
  EXPECT_EQ(of_other.bytes(), 0u);
}

}  // namespace
}  // namespace backtest::engine
