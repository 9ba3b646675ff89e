// CompareRuns without a server: the request's checks, the stats rows and their differences, the
// differing parameters, and the equity curves on one time axis (union, downsampling, held values).
#include "server/api/compare_runs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/testing/status_matchers.h"

namespace backtest::api {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace v1 = backtest::v1;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

v1::CompareRunsRequest Request(std::vector<std::string> jobs, int max_points = 0) {
  v1::CompareRunsRequest request;
  for (std::string& j : jobs) request.add_jobs(std::move(j));
  request.set_max_points(max_points);
  return request;
}

ComparedRun MakeRun(std::string id, std::vector<int64_t> t, std::vector<double> v) {
  ComparedRun run;
  run.job_id = std::move(id);
  run.equity_time = std::move(t);
  run.equity_value = std::move(v);
  return run;
}

const v1::StatComparison& Row(const v1::CompareRunsResponse& r, const std::string& name) {
  for (const auto& row : r.stats()) {
    if (row.name() == name) return row;
  }
  ADD_FAILURE() << "no row " << name;
  return r.stats(0);
}

std::vector<double> Times(const v1::CompareRunsResponse& r) {
  return {r.equity().times().begin(), r.equity().times().end()};
}
std::vector<double> Values(const v1::AlignedCurve& c) { return {c.values().begin(), c.values().end()}; }

TEST(ParseCompareQueryTest, CommaSeparatedAndRepeatedElementsKeepTheirOrder) {
  auto q = ParseCompareQuery(Request({"a, b", "c"}, 50));
  ASSERT_THAT(q, IsOk());
  EXPECT_THAT(q->job_ids, ElementsAre("a", "b", "c"));
  EXPECT_EQ(q->max_points, 50);
  EXPECT_EQ(ParseCompareQuery(Request({"a,b"}))->max_points, kDefaultComparePoints);
}

TEST(ParseCompareQueryTest, BadInputNamesTheField) {
  EXPECT_THAT(ParseCompareQuery(Request({"a"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jobs: compare 2 to 8 jobs, got 1")));
  EXPECT_THAT(ParseCompareQuery(Request({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 0")));
  EXPECT_THAT(ParseCompareQuery(Request({"1,2,3,4,5,6,7,8,9"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 9")));
  EXPECT_THAT(ParseCompareQuery(Request({"a,b,a"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("jobs[2]: job \"a\" is given twice (also jobs[0])")));
  EXPECT_THAT(ParseCompareQuery(Request({"a,,b"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jobs[1]: empty job id")));
  for (int bad : {-1, 1, kMaxComparePoints + 1}) {
    EXPECT_THAT(ParseCompareQuery(Request({"a,b"}, bad)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_points:")))
        << bad;
  }
  EXPECT_THAT(ParseCompareQuery(Request({"a,b"}, 2)), IsOk());
  EXPECT_THAT(ParseCompareQuery(Request({"a,b"}, kMaxComparePoints)), IsOk());
}

TEST(FillComparisonTest, StatsRowsHaveDifferencesFromTheFirstJob) {
  std::vector<ComparedRun> runs = {MakeRun("a", {}, {}), MakeRun("b", {}, {}), MakeRun("c", {}, {})};
  runs[0].stats.set_return_pct(10);
  runs[1].stats.set_return_pct(12.5);
  runs[2].stats.set_return_pct(7);
  for (auto& r : runs) r.stats.set_trades(4);
  runs[0].stats.set_profit_factor(kNaN);
  runs[1].stats.set_profit_factor(2);
  runs[2].stats.set_profit_factor(kNaN);
  runs[1].stats.mutable_long_stats()->set_trades(3);
  v1::CompareRunsResponse r;
  FillComparison(runs, 100, &r);
  // Every number of Stats, in its order, the sides' last: no field is left out.
  const int stats_fields = v1::Stats::descriptor()->field_count();
  const int side_fields = v1::SideStats::descriptor()->field_count();
  ASSERT_EQ(r.stats_size(), stats_fields - 2 + 2 * side_fields);
  EXPECT_EQ(r.stats(0).name(), "start");

  const auto& ret = Row(r, "return_pct");
  EXPECT_THAT(std::vector<double>(ret.values().begin(), ret.values().end()), ElementsAre(10, 12.5, 7));
  EXPECT_THAT(std::vector<double>(ret.differences().begin(), ret.differences().end()),
              ElementsAre(0, 2.5, -3));
  EXPECT_FALSE(ret.same());
  EXPECT_TRUE(Row(r, "trades").same());
  const auto& pf = Row(r, "profit_factor");
  EXPECT_TRUE(std::isnan(pf.differences(1)));
  EXPECT_TRUE(std::isnan(pf.differences(2)));
  EXPECT_FALSE(pf.same());
  const auto& long_trades = Row(r, "long_stats.trades");
  EXPECT_EQ(long_trades.differences(1), 3);
  EXPECT_FALSE(long_trades.same());
  EXPECT_TRUE(Row(r, "short_stats.trades").same());
}

TEST(FillComparisonTest, OnlyParametersThatDifferAreListed) {
  std::vector<ComparedRun> runs = {MakeRun("a", {}, {}), MakeRun("b", {}, {})};
  runs[0].params = {{"strategy", "sma_cross"}, {"fast_period", "10"}, {"symbols", "EURUSD"}};
  runs[1].params = {{"strategy", "sma_cross"}, {"fast_period", "12"}, {"symbols", "EURUSD"},
                    {"extra", "x"}};
  v1::CompareRunsResponse r;
  FillComparison(runs, 100, &r);
  ASSERT_EQ(r.differing_params_size(), 2);
  EXPECT_EQ(r.differing_params(0).name(), "extra");
  EXPECT_THAT(r.differing_params(0).values(), ElementsAre("", "x"));
  EXPECT_EQ(r.differing_params(1).name(), "fast_period");
  EXPECT_THAT(r.differing_params(1).values(), ElementsAre("10", "12"));
}

TEST(FillComparisonTest, CurvesLieOnTheUnionOfTimesHoldingTheirLastValue) {
  // b starts later and ends earlier, and has a time a lacks (25).
  std::vector<ComparedRun> runs = {MakeRun("a", {10, 20, 30, 40}, {1, 2, 3, 4}),
                                   MakeRun("b", {20, 25, 30}, {5, 6, 7})};
  v1::CompareRunsResponse r;
  FillComparison(runs, 100, &r);
  EXPECT_THAT(Times(r), ElementsAre(10, 20, 25, 30, 40));
  EXPECT_EQ(r.equity().total_times(), 5);
  ASSERT_EQ(r.equity().curves_size(), 2);
  EXPECT_EQ(r.equity().curves(0).job_id(), "a");
  EXPECT_EQ(r.equity().curves(0).first(), 0);
  EXPECT_THAT(Values(r.equity().curves(0)), ElementsAre(1, 2, 2, 3, 4));  // 25: a's 20 held
  EXPECT_EQ(r.equity().curves(1).first(), 1);
  EXPECT_THAT(Values(r.equity().curves(1)), ElementsAre(5, 6, 7));  // none past its last time
}

TEST(FillComparisonTest, ALongAxisIsDownsampledEvenlyKeepingTheEnds) {
  std::vector<int64_t> t;
  std::vector<double> v;
  for (int i = 0; i < 1001; ++i) {
    t.push_back(1000 + 60 * i);
    v.push_back(i);
  }
  std::vector<ComparedRun> runs = {MakeRun("a", t, v), MakeRun("b", {t[500], t[1000]}, {-1, -2})};
  v1::CompareRunsResponse r;
  FillComparison(runs, 11, &r);
  EXPECT_EQ(r.equity().total_times(), 1001);
  ASSERT_EQ(r.equity().times_size(), 11);
  for (int i = 0; i < 11; ++i) EXPECT_EQ(r.equity().times(i), 1000 + 60 * 100 * i) << i;
  EXPECT_THAT(Values(r.equity().curves(0)), ElementsAre(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000));
  EXPECT_EQ(r.equity().curves(1).first(), 5);
  EXPECT_THAT(Values(r.equity().curves(1)), ElementsAre(-1, -1, -1, -1, -1, -2));
}

TEST(FillComparisonTest, ARunWithoutEquityHasAnEmptyCurve) {
  std::vector<ComparedRun> runs = {MakeRun("a", {10, 20}, {1, 2}), MakeRun("b", {}, {})};
  v1::CompareRunsResponse r;
  FillComparison(runs, 100, &r);
  EXPECT_EQ(r.equity().curves(1).job_id(), "b");
  EXPECT_EQ(r.equity().curves(1).values_size(), 0);
}

}  // namespace
}  // namespace backtest::api
