// The Slurm runner backend (docs/runner-backends.md): each job's backtest-runner runs as a job
// step through `srun -u`, its spec on stdin and its event frames on stdout (srun carries those
// two and stderr), its CPU and memory asked of Slurm from the job's limits; a cancel is srun's
// SIGTERM (srun cancels the step); steps a previous server left behind are found by their job
// name and cancelled with `scancel`.
#ifndef BACKTEST_SERVER_JOBS_SLURM_H_
#define BACKTEST_SERVER_JOBS_SLURM_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/jobs/runner_process.h"

namespace backtest::jobs {

struct SlurmOptions {
  std::string partition;                // --partition; empty: the cluster's default
  std::string account;                  // --account; empty: none
  std::vector<std::string> extra_args;  // more srun arguments, as given
  std::string srun = "srun";            // found on PATH unless absolute
  std::string scancel = "scancel";
};

// Every job step of backtestd is named after its job, so a restarted server finds it.
std::string SlurmJobName(const std::string& job_id);

// The command that runs `runner_path` for job `job_id` as a Slurm job step under `limits`, with
// the server's environment (SLURM_CONF, PATH) passed on.
absl::StatusOr<ProcessCommand> SlurmRunnerCommand(const SlurmOptions& options,
                                                  const std::string& runner_path,
                                                  const RunnerLimits& limits,
                                                  const std::string& job_id);

// Cancels the steps of these jobs still on the cluster (scancel --name), for jobs a previous
// server left running. Unavailable when scancel cannot be run or fails.
absl::Status CancelSlurmJobs(const SlurmOptions& options, const std::vector<std::string>& job_ids);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SLURM_H_
