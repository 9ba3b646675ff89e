// CompareRuns' answer from the compared jobs' parameters, stats and equity curves: the request
// checked, the stats side by side with differences from the first job, the parameters that
// differ, and the equity curves on one (bounded) time axis. What reads the jobs and their results
// is BacktestServiceImpl's; this is the part without storage (docs/compare.md).
//
// Plain functions; thread-safe.
#ifndef BACKTEST_SERVER_API_COMPARE_RUNS_H_
#define BACKTEST_SERVER_API_COMPARE_RUNS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backtest/v1/backtest_service.pb.h"

namespace backtest::api {

// Jobs a comparison takes, at least and at most.
inline constexpr int kMinComparedJobs = 2;
inline constexpr int kMaxComparedJobs = 8;
// Points on the equity curves' common time axis: when the request says 0, and at most.
inline constexpr int kDefaultComparePoints = 2000;
inline constexpr int kMaxComparePoints = 20000;

// A CompareRunsRequest, checked.
struct CompareQuery {
  // The job ids in the order given, each once.
  std::vector<std::string> job_ids;
  int max_points = kDefaultComparePoints;
};

// The request's job ids (each element split at commas, blanks around an id dropped) and points.
// InvalidArgument naming the field: an empty id (jobs[i]), an id given twice (jobs[i], naming
// the first), fewer than 2 or more than 8 ids (jobs), max_points neither 0 nor 2 to 20,000.
absl::StatusOr<CompareQuery> ParseCompareQuery(const backtest::v1::CompareRunsRequest& request);

// One compared job: what the answer is made from.
struct ComparedRun {
  std::string job_id;
  std::map<std::string, std::string> params;  // canonical name -> value as text
  backtest::v1::Stats stats;
  // The account's equity: point i is (equity_time[i], equity_value[i]), times ascending.
  std::vector<int64_t> equity_time;
  std::vector<double> equity_value;
};

// Fills stats, differing_params and equity of `response` from `runs` (the first is the reference
// of the differences); jobs and digests are the caller's.
void FillComparison(const std::vector<ComparedRun>& runs, int max_points,
                    backtest::v1::CompareRunsResponse* response);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_COMPARE_RUNS_H_
