// The Slurm runner backend (docs/runner-backends.md): each job's backtest-runner runs as a job
// step through `srun -u`, its spec on stdin and its event frames on stdout (srun carries those
// two and stderr), its CPU and memory asked of Slurm from the job's limits; a cancel is srun's
// SIGTERM (srun cancels the step); steps a previous server left behind are found by their job
// name and cancelled with `scancel`.
#ifndef BACKTEST_SERVER_JOBS_SLURM_H_
#define BACKTEST_SERVER_JOBS_SLURM_H_

#include <string>
#include <vector>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "server/jobs/local_backend.h"
#include "server/jobs/runner_backend.h"
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

// The Slurm backend: each run of backtest-runner is a job step of its own (no warm runners);
// strategies of the strategy folder run in the local sandbox (its sandbox is this machine's),
// through a local backend kept inside. Owned by one worker; not thread-safe.
class SlurmRunnerBackend : public RunnerBackend {
 public:
  SlurmRunnerBackend(SlurmOptions slurm, LocalBackendOptions local,
                     const std::atomic<bool>& stopping);

  absl::StatusOr<std::unique_ptr<RunnerRun>> Start(const RunRequest& request) override;
  void Prepare(const RunRequest* like = nullptr) override { local_.Prepare(like); }

 private:
  SlurmOptions slurm_;
  LocalBackendOptions options_;
  LocalRunnerBackend local_;  // strategy-folder runs
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SLURM_H_
