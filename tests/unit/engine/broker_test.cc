#include "server/engine/broker/broker.h"

#include "engine_test_util.h"
#include "gtest/gtest.h"

namespace backtest::engine {
namespace {

struct Fixture {
  explicit Fixture(std::map<std::string, std::string> extra) {
    extra["symbols"] = "EURUSD";
    config = testing::Config(extra);
    data = testing::OneSymbol(config, testing::FromCloses({1.1, 1.1}));
    broker = std::make_unique<Broker>(config, data, &trades, &markers);
  }
  RunConfig config;
  MarketData data;
  Column<Trade> trades;
  Column<Marker> markers;
  std::unique_ptr<Broker> broker;
};

TEST(BrokerTest, SpreadSlippageAndCommission) {
  Fixture f({{"spread_pips", "2"}, {"slippage_pips", "1"}, {"commission", "0.001"},
             {"initial_equity", "10000"}});
  Broker& b = *f.broker;
  EXPECT_NEAR(b.BuyPrice(0, 1.1), 1.1003, 1e-12);
  EXPECT_NEAR(b.SellPrice(0, 1.1), 1.0999, 1e-12);
  b.Open(0, Side::kLong, 1.1003, 1000, 1.09, 1.12, 0, 100, "test");
  EXPECT_NEAR(b.Equity(), 10000 - 1.1003, 1e-9);  // entry commission 0.001 × 1100.3
  b.Mark(0, 1.1100);
  EXPECT_NEAR(b.Equity(), 10000 - 1.1003 + (1.11 - 1.1003) * 1000, 1e-9);
  const Trade& t = b.Close(0, 1.1099, ExitReason::kTarget, 3, 400);
  EXPECT_NEAR(t.commission, 0.001 * (1100.3 + 1109.9), 1e-9);
  EXPECT_NEAR(t.pnl, (1.1099 - 1.1003) * 1000 - t.commission, 1e-9);
  EXPECT_EQ(t.bars_held, 3);
  EXPECT_NEAR(b.EquityForSizing(), 10000 + t.pnl, 1e-9);
  EXPECT_EQ(f.markers.size(), 2u);
}

TEST(BrokerTest, StopGapStopTargetOrder) {
  Fixture f({});
  Broker& b = *f.broker;
  b.Open(0, Side::kLong, 1.10, 1, 1.09, 1.12, 0, 0, "x");
  EXPECT_EQ(b.ExitFor(0, 1.085, 1.10, 1.08)->reason, ExitReason::kStopGap);
  EXPECT_EQ(b.ExitFor(0, 1.085, 1.10, 1.08)->price, 1.085);
  EXPECT_EQ(b.ExitFor(0, 1.10, 1.13, 1.08)->reason, ExitReason::kStop);  // both: stop first
  EXPECT_EQ(b.ExitFor(0, 1.10, 1.13, 1.095)->reason, ExitReason::kTarget);
  EXPECT_EQ(b.ExitFor(0, 1.13, 1.14, 1.125)->price, 1.12);  // no price improvement
  EXPECT_FALSE(b.ExitFor(0, 1.10, 1.11, 1.095).has_value());
  b.Close(0, 1.1, ExitReason::kEndOfData, 0, 0);
  b.Open(0, Side::kShort, 1.10, 1, 1.11, 1.08, 0, 0, "x");
  EXPECT_EQ(b.ExitFor(0, 1.115, 1.12, 1.10)->reason, ExitReason::kStopGap);
  EXPECT_EQ(b.ExitFor(0, 1.10, 1.111, 1.07)->reason, ExitReason::kStop);
  EXPECT_EQ(b.ExitFor(0, 1.10, 1.105, 1.079)->reason, ExitReason::kTarget);
}

TEST(BrokerTest, ExposureCountsBarsWithAPosition) {
  Fixture f({});
  Broker& b = *f.broker;
  b.Mark(0, 1.1);
  EXPECT_EQ(b.exposed_bars(), 0);
  b.Open(0, Side::kLong, 1.1, 1, std::nullopt, std::nullopt, 1, 0, "x");
  b.Close(0, 1.1, ExitReason::kReversal, 1, 0);  // opened and closed within one bar
  b.Mark(0, 1.1);
  EXPECT_EQ(b.exposed_bars(), 1);
}

}  // namespace
}  // namespace backtest::engine
