// The job spec a runner reads first.
#ifndef BACKTEST_SERVER_JOBS_RUN_SPEC_H_
#define BACKTEST_SERVER_JOBS_RUN_SPEC_H_

#include "absl/status/statusor.h"
#include "backtest/runner/v1/runner.pb.h"
#include "db/job_store.h"
#include "server/engine/data/data_policy.h"
#include "server/jobs/job_manager.h"

namespace backtest::jobs {

// `job`'s stored parameters with the server's trace and data settings and its owner's data access
// policy. DataLoss naming the job when its stored parameters are not a JSON object of strings
// with trace_enabled and trace_sampling (a damaged row: the job fails, the server goes on).
absl::StatusOr<backtest::runner::v1::RunSpec> MakeRunSpec(const db::JobRecord& job,
                                                          const JobManagerOptions& options,
                                                          const engine::DataPolicy& policy);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUN_SPEC_H_
