// The Slurm runner backend (docs/runner-backends.md): each job's backtest-runner runs as a job
// step through `srun -u`, its spec on stdin and its event frames on stdout (srun carries those
// two and stderr), its CPU and memory asked of Slurm from the job's limits; a cancel is srun's
// SIGTERM (srun cancels the step); steps a previous server left behind are found by their job
// name and cancelled with `scancel`.
#ifndef BACKTEST_SERVER_JOBS_SLURM_H_
#define BACKTEST_SERVER_JOBS_SLURM_H_

#include <memory>
#include <string>
#include <vector>

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
  // A sweep fans out over the cluster (docs/sweeps.md): its combinations in chunks of at most
  // sweep_chunk, each chunk a step of sweep_cpus CPUs (its runner's workers), at most
  // sweep_steps steps of one sweep at once.
  int sweep_chunk = 500;
  int sweep_steps = 4;
  int sweep_cpus = 1;
};

// Every job step of backtestd is named after its job, so a restarted server finds it.
std::string SlurmJobName(const std::string& job_id);

// The command that runs `program` (argv, its absolute path first; it writes its events to its
// stdout) for job `job_id` as a Slurm job step of `cpus` CPUs under `limits`, with the server's
// environment (SLURM_CONF, PATH) passed on.
absl::StatusOr<ProcessCommand> SlurmStepCommand(const SlurmOptions& options,
                                                std::vector<std::string> program,
                                                const RunnerLimits& limits,
                                                const std::string& job_id, int cpus = 1);

// The same for backtest-runner at `runner_path` (`--events-fd 1`).
absl::StatusOr<ProcessCommand> SlurmRunnerCommand(const SlurmOptions& options,
                                                  const std::string& runner_path,
                                                  const RunnerLimits& limits,
                                                  const std::string& job_id, int cpus = 1);

// Cancels the steps of these jobs still on the cluster (scancel --name), for jobs a previous
// server left running. Unavailable when scancel cannot be run or fails.
absl::Status CancelSlurmJobs(const SlurmOptions& options, const std::vector<std::string>& job_ids);

// The Slurm backend: each run is a job step of its own (no warm runners, no fork servers):
// backtest-runner, or for a strategy of the strategy folder its sandboxed Python runner (the
// sandbox's command line, bubblewrap and all, run on the node). Owned by one worker; not
// thread-safe.
class SlurmRunnerBackend : public RunnerBackend {
 public:
  SlurmRunnerBackend(SlurmOptions slurm, LocalBackendOptions local);

  absl::StatusOr<std::unique_ptr<RunnerRun>> Start(const RunRequest& request) override;

 private:
  SlurmOptions slurm_;
  LocalBackendOptions options_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SLURM_H_
