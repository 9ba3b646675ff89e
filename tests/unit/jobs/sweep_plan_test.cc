// Sweep requests: grid and seeded random enumerate exactly what they say, constraints prune,
// validation names the field, the size limit refuses with the count; rows of stats survive their
// stored form exactly.
#include "server/jobs/sweep_plan.h"

#include <cmath>
#include <limits>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/sweep_stats.h"
#include "tests/testing/status_matchers.h"

namespace backtest::jobs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;

engine::ParamValues SmaBase() {
  auto base = engine::ValidateParams({{"strategy", "sma_cross"}, {"max_candles", "500"}}, 1700000000);
  EXPECT_TRUE(base.ok()) << base.status();
  return *base;
}

SweepRequest Request(std::vector<SweepRange> ranges) {
  SweepRequest r;
  r.base = SmaBase();
  r.ranges = std::move(ranges);
  r.objective = {.stat = "return_pct", .maximize = true};
  return r;
}

absl::StatusOr<SweepPlan> Plan(const SweepRequest& r, int64_t limit = 100000) {
  return PlanSweep(r, engine::ParamRegistry::Builtin(), 1700000000, limit);
}

TEST(SweepPlanTest, GridEnumeratesEveryCombinationInOrderAndConstraintsPrune) {
  SweepRequest r = Request({{.name = "fast_period", .start = 5, .stop = 15, .step = 5},
                            {.name = "slow_period", .values = {"10", "20"}}});
  r.constraints = {"fast_period < slow_period"};
  auto plan = Plan(r);
  ASSERT_THAT(plan, IsOk());
  EXPECT_THAT(plan->names, ElementsAre("fast_period", "slow_period"));
  EXPECT_EQ(plan->grid_size, 6);
  // (5,10) (5,20) (10,20) (15,20); (10,10) and (15,10) pruned.
  using V = std::vector<std::string>;
  EXPECT_THAT(plan->combos, ElementsAre(V{"5", "10"}, V{"5", "20"}, V{"10", "20"}, V{"15", "20"}));
  const engine::ParamValues p = CombinationParams(*plan, 2);
  EXPECT_EQ(p.at("fast_period"), "10");
  EXPECT_EQ(p.at("slow_period"), "20");
  EXPECT_EQ(p.at("max_candles"), "500");
}

TEST(SweepPlanTest, TheFloorsGridHasTenThousandCombinations) {
  SweepRequest r = Request({{.name = "fast_period", .start = 5, .stop = 104},
                            {.name = "slow_period", .start = 110, .stop = 209}});
  r.constraints = {"fast_period < slow_period"};
  auto plan = Plan(r);
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->combos.size(), 10000u);
}

TEST(SweepPlanTest, LogRangesRoundIntegersAndDropRepeats) {
  SweepRequest r = Request({{.name = "fast_period", .start = 1, .stop = 8, .log = true, .count = 4},
                            {.name = "slow_period", .values = {"100"}}});
  auto plan = Plan(r);
  ASSERT_THAT(plan, IsOk());
  using V = std::vector<std::string>;
  EXPECT_THAT(plan->combos, ElementsAre(V{"1", "100"}, V{"2", "100"}, V{"4", "100"}, V{"8", "100"}));
  SweepRequest d = Request({{.name = "size", .start = 0.1, .stop = 0.3, .step = 0.1}});
  auto doubles = Plan(d);
  ASSERT_THAT(doubles, IsOk());
  EXPECT_THAT(doubles->combos, ElementsAre(V{"0.1"}, V{"0.2"}, V{"0.3"}));
}

TEST(SweepPlanTest, RandomIsSeededAndPicksDistinctCombinations) {
  SweepRequest r = Request({{.name = "fast_period", .start = 1, .stop = 50},
                            {.name = "slow_period", .start = 60, .stop = 100}});
  r.method = SweepMethod::kRandom;
  r.count = 25;
  r.seed = 7;
  auto a = Plan(r);
  auto b = Plan(r);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->combos.size(), 25u);
  EXPECT_EQ(a->combos, b->combos);
  std::set<std::vector<std::string>> distinct(a->combos.begin(), a->combos.end());
  EXPECT_EQ(distinct.size(), 25u);
  r.seed = 8;
  auto c = Plan(r);
  ASSERT_THAT(c, IsOk());
  EXPECT_NE(a->combos, c->combos);
  // A count above what the grid holds takes the whole grid.
  r.count = 5000;
  auto all = Plan(r);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->combos.size(), 50u * 41u);
}

TEST(SweepPlanTest, ValidationNamesTheField) {
  auto code = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(Plan(Request({{.name = "nope", .values = {"1"}}})),
              StatusIs(code, HasSubstr("ranges[0].name")));
  EXPECT_THAT(Plan(Request({{.name = "symbols", .values = {"EURUSD"}}})),
              StatusIs(code, HasSubstr("ranges[0].name: symbols cannot vary")));
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .values = {"0"}}})),
              StatusIs(code, HasSubstr("ranges[0].values: fast_period")));
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .start = 5, .stop = 1}})),
              StatusIs(code, HasSubstr("ranges[0].stop")));
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .start = 1.5, .stop = 3}})),
              StatusIs(code, HasSubstr("ranges[0].start")));
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .start = 1, .stop = 3, .step = 0}})),
              StatusIs(code, HasSubstr("ranges[0].step")));
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .start = 1, .stop = 3, .log = true}})),
              StatusIs(code, HasSubstr("ranges[0].count")));
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .values = {"3"}},
                            {.name = "fast_period", .values = {"4"}}})),
              StatusIs(code, HasSubstr("ranges[1].name")));
  SweepRequest c = Request({{.name = "fast_period", .values = {"3"}}});
  c.constraints = {"fast_period < slow"};
  EXPECT_THAT(Plan(c), StatusIs(code, HasSubstr("constraints[0]: unknown parameter \"slow\"")));
  c.constraints = {"fast_period slow_period"};
  EXPECT_THAT(Plan(c), StatusIs(code, HasSubstr("constraints[0]")));
  SweepRequest o = Request({{.name = "fast_period", .values = {"3"}}});
  o.objective.stat = "happiness";
  EXPECT_THAT(Plan(o), StatusIs(code, HasSubstr("objective.stat")));
  SweepRequest n = Request({{.name = "fast_period", .values = {"3"}}});
  n.count = 4;
  EXPECT_THAT(Plan(n), StatusIs(code, HasSubstr("count")));
  // A combination the registry refuses as a whole asks for a constraint.
  EXPECT_THAT(Plan(Request({{.name = "fast_period", .values = {"3", "40"}}})),
              StatusIs(code, HasSubstr("fast_period=40")));
}

TEST(SweepPlanTest, TheSizeLimitRefusesWithTheCount) {
  SweepRequest r = Request({{.name = "fast_period", .start = 1, .stop = 20},
                            {.name = "slow_period", .start = 30, .stop = 39}});
  EXPECT_THAT(Plan(r, 150), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("would run 200 combinations, more than the limit of 150")));
  r.constraints = {"fast_period <= 10"};
  EXPECT_THAT(Plan(r, 150), IsOk());
}

TEST(SweepStatsTest, RowsReadBackExactly) {
  EXPECT_GE(SweepStatIndex("sharpe"), 0);
  EXPECT_GE(SweepStatIndex("long_stats.trades"), 0);
  EXPECT_EQ(SweepStatIndex("long_stats"), -1);
  runner::v1::Stats a;
  a.set_return_pct(12.345678901234567);
  a.set_sharpe(std::numeric_limits<double>::quiet_NaN());
  a.set_trades(42);
  a.set_start(1600000000);
  a.mutable_short_stats()->set_pnl(-0.1);
  runner::v1::Stats b;
  b.set_return_pct(-3);
  b.set_trades(7);
  std::vector<SweepRowValues> rows = {{.row = 9, .stats = FlattenStats(a)},
                                      {.row = 3, .stats = FlattenStats(b)},
                                      {.row = 4, .error = "boom"}};
  std::vector<SweepRowValues> back;
  ASSERT_THAT(DecodeSweepRows(EncodeSweepRows(rows), &back), IsOk());
  ASSERT_EQ(back.size(), 3u);  // in row order
  EXPECT_EQ(back[0].row, 3);
  EXPECT_EQ(back[1].row, 4);
  EXPECT_EQ(back[1].error, "boom");
  EXPECT_EQ(back[2].row, 9);
  runner::v1::Stats a2;
  UnflattenStats(back[2].stats, &a2);
  EXPECT_EQ(a2.return_pct(), a.return_pct());
  EXPECT_TRUE(std::isnan(a2.sharpe()));
  EXPECT_EQ(a2.trades(), 42);
  EXPECT_EQ(a2.start(), 1600000000);
  EXPECT_EQ(a2.short_stats().pnl(), -0.1);
  EXPECT_THAT(DecodeSweepRows("\xff\xff", &back), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(DecodeSweepRows(std::string("\x05\0\0\0garbage", 11), &back),
              StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace backtest::jobs
