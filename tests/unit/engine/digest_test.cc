#include "server/engine/digest.h"

#include <memory>

#include "gtest/gtest.h"
#include "server/engine/data/dataset_hash.h"
#include "tests/unit/engine/result_fixtures.h"

namespace backtest::engine {
namespace {

RunResult Result(const std::string& strategy, int bars, double pip) {
  auto series = std::make_shared<BarSeries>();
  for (int i = 0; i < bars; ++i) {
    series->Append(1'600'000'000 + 60 * i, 1 + i * 0.001, 1.1 + i * 0.001, 0.9 + i * 0.001,
                   1.05 + i * 0.001, i);
  }
  RunResult r;
  r.strategy = strategy;
  SymbolResult s;
  s.symbol = "ABC";
  s.pip = pip;
  s.bars = series;
  r.symbols.push_back(s);
  r.equity.Append({1'600'000'000, 100.0});
  r.stats.trades = 3;
  return r;
}

std::shared_ptr<BarSeries> Hashed(const RunResult& r) {
  auto bars = std::make_shared<BarSeries>(*r.symbols[0].bars);
  bars->dataset_hash = DatasetHash(BarView::Of(*bars, 0, bars->size()));
  return bars;
}

TEST(ResultDigesterTest, AHeadStateStandsForTheHeadOfTheSameStrategyAndCandles) {
  RunResult r = Result("sma_cross", 5000, 0.0001);
  EXPECT_EQ(ResultDigester::HeadKey(r), "");  // candles not known by their hash
  r.symbols[0].bars = Hashed(r);
  const std::string key = ResultDigester::HeadKey(r);
  ASSERT_EQ(key.size(), 64u);
  ResultDigester first;
  first.Begin(r);
  const std::string state = first.HeadState();
  EXPECT_EQ(first.Finish(r), ResultDigest(r));
  // A later run with that head, another rest: begun from the state, the digest of the whole.
  RunResult later = r;
  later.stats.trades = 7;
  ResultDigester resumed;
  ASSERT_TRUE(resumed.BeginFrom(state));
  EXPECT_EQ(resumed.Finish(later), ResultDigest(later));
  EXPECT_NE(ResultDigest(later), ResultDigest(r));
  EXPECT_FALSE(ResultDigester().BeginFrom("not a state"));

  // Whatever the head hashes names another key: strategy, symbol, pip, candles, warm-up cut.
  RunResult other = Result("sr_breakout", 5000, 0.0001);
  other.symbols[0].bars = Hashed(other);
  EXPECT_NE(ResultDigester::HeadKey(other), key);
  other = r;
  other.symbols[0].symbol = "ABD";
  EXPECT_NE(ResultDigester::HeadKey(other), key);
  other = r;
  other.symbols[0].pip = 0.01;
  EXPECT_NE(ResultDigester::HeadKey(other), key);
  other = Result("sma_cross", 5001, 0.0001);
  other.symbols[0].bars = Hashed(other);
  EXPECT_NE(ResultDigester::HeadKey(other), key);
  other = r;
  other.symbols.push_back(r.symbols[0]);
  EXPECT_NE(ResultDigester::HeadKey(other), key);
  other = r;
  other.symbols[0].first_kept = 10;  // the candles are not the whole hashed series
  EXPECT_EQ(ResultDigester::HeadKey(other), "");
}

// The digest format is a contract (stored digests are verified by replays): the fixtures keep the
// digests they had when these were pinned, however the digest is computed, in one step or two,
// begun from a saved head state or not.
TEST(ResultDigestTest, FixturesKeepTheirDigests) {
  const std::map<std::string, std::string> want = {
      {"odd", "964d23a4828df4f9b65144c9d8c445404e34be0c3081cf73e0efefb46a9be6f7"},
      {"overlapping_trades", "20c7174094254e45e8bfd12b03ed2c51cb8845252750bdb6a18626523362d02e"},
      {"sma_cross", "10b396c0c856e1fc68a86d1587d82ba3cab367e70060f2621979e41555aa10ff"},
      {"sma_cross_traced", "8c285aa78c038ce50db3bfd3ebf3c17169b18cba430634b3f7c04662c1151d1d"},
      {"sr_breakout", "aeec9cabf506a38c2a68deec998733480e2b53f1aa4911c7b5b2763c2f5000ab"},
  };
  const auto fixtures = testing::ResultFixtures();
  ASSERT_EQ(fixtures.size(), want.size());
  for (const auto& [name, r] : fixtures) {
    EXPECT_EQ(ResultDigest(r), want.at(name)) << name;
    ResultDigester two_steps;
    two_steps.Begin(r);
    const std::string head = two_steps.HeadState();
    EXPECT_EQ(two_steps.Finish(r), want.at(name)) << name;
    ResultDigester resumed;
    ASSERT_TRUE(resumed.BeginFrom(head)) << name;
    EXPECT_EQ(resumed.Finish(r), want.at(name)) << name;
  }
}

}  // namespace
}  // namespace backtest::engine
