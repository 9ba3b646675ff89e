// ExternalStrategy: a strategy whose decisions come from outside the engine runs through the same
// path as the built-ins. The fake logic here is sma_cross written against the external interface
// (indicators declared, orders with reasons), so the whole result — digest included — must be the
// built-in's, in the callback and the signals (vectorized) modes alike.
#include "server/engine/strategies/external_strategy.h"

#include <map>
#include <vector>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"

namespace backtest::engine {
namespace {

using testing::ReasonCountOf;

// sma_cross through the external interface: SMA(fast), SMA(slow), their crossover; target +size
// on a cross up, −size on a cross down. Records the bars of its orders (for the signals mode).
class SmaCrossLogic : public ExternalLogic {
 public:
  SmaCrossLogic(int64_t fast, int64_t slow, double size,
                std::map<std::pair<size_t, size_t>, int>* orders = nullptr)
      : fast_(fast), slow_(slow), size_(size), orders_(orders) {}

  absl::Status Start(ExternalStrategy& s) override {
    auto f = s.AddIndicator(IndicatorKind::kSma, fast_, PriceField::kClose);
    auto sl = s.AddIndicator(IndicatorKind::kSma, slow_, PriceField::kClose);
    if (!f.ok() || !sl.ok()) return absl::InternalError("indicators");
    auto c = s.AddIndicator(IndicatorKind::kCrossover, 1, PriceField::kClose, *f, *sl);
    if (!c.ok()) return c.status();
    cross_ = *c;
    return absl::OkStatus();
  }
  absl::Status Bar(ExternalStrategy& s) override {
    const double c = s.IndicatorValue(cross_);
    if (c == 0) return absl::OkStatus();
    if (orders_ != nullptr) (*orders_)[{s.sym(), s.bar()}] = c > 0 ? 1 : -1;
    OrderRequest o;
    o.target = c > 0 ? OrderRequest::Target::kLong : OrderRequest::Target::kShort;
    o.size = size_;
    o.reason = c > 0 ? "cross_up" : "cross_down";
    return s.Order(s.sym(), o);
  }
  absl::Status Fill(ExternalStrategy&, const FillInfo&) override {
    ++fills;
    return absl::OkStatus();
  }
  absl::Status Stop(ExternalStrategy&) override { return absl::OkStatus(); }

  int fills = 0;

 private:
  int64_t fast_, slow_;
  double size_;
  int cross_ = -1;
  std::map<std::pair<size_t, size_t>, int>* orders_;
};

// The same decisions as signal arrays, one pair per symbol.
class SignalsLogic : public ExternalLogic {
 public:
  explicit SignalsLogic(std::vector<std::vector<uint8_t>>* longs,
                        std::vector<std::vector<uint8_t>>* shorts)
      : longs_(longs), shorts_(shorts) {}
  absl::Status Start(ExternalStrategy& s) override {
    for (size_t sym = 0; sym < s.symbols(); ++sym) {
      SignalArrays a;
      a.entries = (*longs_)[sym].data();
      a.short_entries = (*shorts_)[sym].data();
      a.entry_reason = "cross_up";
      a.short_entry_reason = "cross_down";
      absl::Status st = s.SetSignals(sym, a);
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  }
  absl::Status Bar(ExternalStrategy&) override { return absl::InternalError("no bar calls"); }
  absl::Status Fill(ExternalStrategy&, const FillInfo&) override { return absl::OkStatus(); }
  absl::Status Stop(ExternalStrategy&) override { return absl::OkStatus(); }

 private:
  std::vector<std::vector<uint8_t>>* longs_;
  std::vector<std::vector<uint8_t>>* shorts_;
};

RunConfig SampleConfig(const std::string& symbols, bool trace) {
  return testing::Config({{"strategy", "sma_cross"},
                          {"symbols", symbols},
                          {"timeframe", "M15"},
                          {"start_date", "2022-01-03"},
                          {"end_date", "2022-03-01"},
                          {"trace_enabled", trace ? "true" : "false"}});
}

absl::StatusOr<RunResult> RunWith(RunConfig config, const RunOptions& options,
                                  testing::RecordingObserver& obs) {
  auto source = MakeDataSource(config.data_source);
  if (!source.ok()) return source.status();
  return RunBacktest(config, **source, options, obs);
}

RunConfig AsExternal(RunConfig config) {
  config.strategy = StrategyKind::kExternal;
  config.strategy_name = "sma_cross";
  return config;
}

void ExpectSameRun(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.trades.size(), b.trades.size());
  for (size_t k = 0; k < a.trades.size(); ++k) {
    EXPECT_EQ(a.trades[k].entry_time, b.trades[k].entry_time) << k;
    EXPECT_EQ(a.trades[k].exit_price, b.trades[k].exit_price) << k;
  }
  EXPECT_EQ(a.stats.equity_final, b.stats.equity_final);
  EXPECT_EQ(ResultDigest(a), ResultDigest(b));
}

class ExternalSmaCrossTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(ExternalSmaCrossTest, CallbackAndSignalsEqualTheBuiltIn) {
  const auto& [symbols, trace] = GetParam();
  const RunConfig config = SampleConfig(symbols, trace);
  testing::RecordingObserver builtin_obs;
  auto builtin = RunWith(config, RunOptions{}, builtin_obs);
  ASSERT_TRUE(builtin.ok()) << builtin.status();
  ASSERT_GT(builtin->trades.size(), 20u);

  std::map<std::pair<size_t, size_t>, int> orders;
  RunOptions options;
  options.external_strategy = ExternalStrategyFactory(
      [&]() -> absl::StatusOr<std::unique_ptr<ExternalLogic>> {
        return std::make_unique<SmaCrossLogic>(config.fast_period, config.slow_period,
                                               config.size, &orders);
      });
  testing::RecordingObserver obs;
  auto external = RunWith(AsExternal(config), options, obs);
  ASSERT_TRUE(external.ok()) << external.status();
  EXPECT_EQ(external->strategy, "sma_cross");
  ExpectSameRun(*builtin, *external);
  EXPECT_EQ(ReasonCountOf(*external, "cross_up"), ReasonCountOf(*builtin, "cross_up"));

  // The recorded orders as signal arrays: the same run again, with no call per bar.
  std::vector<std::vector<uint8_t>> longs, shorts;
  for (const SymbolResult& s : builtin->symbols) {
    longs.emplace_back(s.bars->size(), 0);
    shorts.emplace_back(s.bars->size(), 0);
  }
  for (const auto& [where, sign] : orders) {
    (sign > 0 ? longs : shorts)[where.first][where.second] = 1;
  }
  RunOptions signal_options;
  signal_options.external_strategy = ExternalStrategyFactory(
      [&]() -> absl::StatusOr<std::unique_ptr<ExternalLogic>> {
        return std::make_unique<SignalsLogic>(&longs, &shorts);
      });
  testing::RecordingObserver signal_obs;
  auto signals = RunWith(AsExternal(config), signal_options, signal_obs);
  ASSERT_TRUE(signals.ok()) << signals.status();
  ExpectSameRun(*builtin, *signals);
  if (trace) {
    // A verdict row closes every traced bar.
    int64_t verdicts = 0;
    for (const TraceRow& r : obs.rows) {
      verdicts += r.section == TraceSection::kPosition && r.kind == TraceKind::kValue;
    }
    EXPECT_EQ(verdicts, builtin->stats.bars);
  }
}

INSTANTIATE_TEST_SUITE_P(Runs, ExternalSmaCrossTest,
                         ::testing::Values(std::make_tuple("EURUSD", false),
                                           std::make_tuple("EURUSD", true),
                                           std::make_tuple("EURUSD,XAGUSD", false)));

// Stops and targets: a long with a stop below and a target above exits by the broker's rules.
class BracketLogic : public ExternalLogic {
 public:
  BracketLogic(double stop, double target) : stop_(stop), target_(target) {}
  absl::Status Start(ExternalStrategy&) override { return absl::OkStatus(); }
  absl::Status Bar(ExternalStrategy& s) override {
    if (s.bar_index() != 0) return absl::OkStatus();
    OrderRequest o;
    o.target = OrderRequest::Target::kLong;
    o.stop = stop_;
    o.take_profit = target_;
    o.reason = "my_entry";
    return s.Order(s.sym(), o);
  }
  absl::Status Fill(ExternalStrategy&, const FillInfo&) override { return absl::OkStatus(); }
  absl::Status Stop(ExternalStrategy&) override { return absl::OkStatus(); }

 private:
  double stop_, target_;
};

absl::StatusOr<RunResult> RunLogic(std::vector<testing::Ohlc> bars,
                                   std::function<std::unique_ptr<ExternalLogic>()> make) {
  RunConfig cfg = testing::Config({{"symbols", "SPX"}});
  cfg.strategy = StrategyKind::kExternal;
  cfg.strategy_name = "mine";
  RunOptions options;
  options.external_strategy =
      ExternalStrategyFactory([make]() -> absl::StatusOr<std::unique_ptr<ExternalLogic>> {
        return make();
      });
  testing::RecordingObserver obs;
  return RunBacktest(cfg, testing::OneSymbol(cfg, testing::Hourly(bars)), options, obs);
}

TEST(ExternalStrategyTest, StopAndTargetExitAsTheBrokerSays) {
  const std::vector<testing::Ohlc> bars = {
      {100, 101, 99, 100}, {100, 101, 99.5, 100.5}, {100.5, 103, 100, 102}, {102, 102, 101, 101}};
  auto target = RunLogic(bars, [] { return std::make_unique<BracketLogic>(99, 102.5); });
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_EQ(target->trades.size(), 1u);
  EXPECT_EQ(target->trades[0].entry_price, 100);
  EXPECT_EQ(target->trades[0].exit_reason, ExitReason::kTarget);
  EXPECT_EQ(target->trades[0].exit_price, 102.5);
  EXPECT_EQ(target->strategy, "mine");
  EXPECT_EQ(ReasonCountOf(*target, "my_entry"), 1);
  EXPECT_EQ(ReasonCountOf(*target, "exit_target"), 1);

  // The entry bar's own low reaches the stop.
  auto stop = RunLogic(bars, [] { return std::make_unique<BracketLogic>(99.6, 110); });
  ASSERT_TRUE(stop.ok()) << stop.status();
  ASSERT_EQ(stop->trades.size(), 1u);
  EXPECT_EQ(stop->trades[0].exit_reason, ExitReason::kStop);
  EXPECT_EQ(stop->trades[0].exit_price, 99.6);

  // A fill at or beyond the stop skips the entry.
  auto skipped = RunLogic(bars, [] { return std::make_unique<BracketLogic>(100, 110); });
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->trades.size(), 0u);
  EXPECT_EQ(ReasonCountOf(*skipped, "entry_skipped"), 1);
}

class FailingLogic : public ExternalLogic {
 public:
  absl::Status Start(ExternalStrategy&) override { return absl::OkStatus(); }
  absl::Status Bar(ExternalStrategy& s) override {
    return s.bar_index() == 2 ? absl::AbortedError("strategy.py:3 in on_bar: boom")
                              : absl::OkStatus();
  }
  absl::Status Fill(ExternalStrategy&, const FillInfo&) override { return absl::OkStatus(); }
  absl::Status Stop(ExternalStrategy&) override { return absl::OkStatus(); }
};

TEST(ExternalStrategyTest, TheLogicsErrorEndsTheRun) {
  auto r = RunLogic({{1, 2, 0.5, 1}, {1, 2, 0.5, 1}, {1, 2, 0.5, 1}, {1, 2, 0.5, 1}},
                    [] { return std::make_unique<FailingLogic>(); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(r.status().message(), "strategy.py:3 in on_bar: boom");
}

TEST(ExternalStrategyTest, WithoutAFactoryAnExternalNameIsInvalid) {
  RunConfig cfg = testing::Config({{"symbols", "SPX"}});
  cfg.strategy = StrategyKind::kExternal;
  cfg.strategy_name = "mine";
  testing::RecordingObserver obs;
  auto r = RunBacktest(cfg, testing::OneSymbol(cfg, testing::FromCloses({1, 2, 3})), RunOptions{},
                       obs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace backtest::engine
