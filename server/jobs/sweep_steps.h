// A sweep fanned out over a cluster (docs/sweeps.md, "Over a Slurm cluster"): its combinations
// cut into chunks (PlanSweepChunks), each chunk one run of the runner backend (a Slurm step) with
// only that chunk's combinations (ChunkSpec), several at once up to a limit. The steps' rows go
// into the sweep as they arrive; their log lines into the job's log, each named after its step;
// their own progress is left out (the job tells the sweep's). A cancel goes to every step; a step
// that fails stops the others and fails the sweep naming it (no retry: its rows stored so far
// stay).
//
// Runs in the sweep job's worker thread; not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_SWEEP_STEPS_H_
#define BACKTEST_SERVER_JOBS_SWEEP_STEPS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/jobs/job_event.h"
#include "server/jobs/runner_backend.h"
#include "server/jobs/sweep_run.h"

namespace backtest::jobs {

struct SweepStepsOptions {
  int chunk = 500;  // combinations per step
  int steps = 4;    // steps at once
  int cpus = 1;     // each step's CPUs: its runner's workers
  // A step that has started and is then silent this long is stopped (and fails the sweep).
  int64_t heartbeat_timeout_ms = 30000;
  // A cancelled step still there after this is stopped.
  int64_t cancel_grace_ms = 2000;
};

class SweepSteps {
 public:
  // The sweep's job: where the steps' rows, log lines and signs of life go, and its controls.
  class Job {
   public:
    virtual ~Job() = default;
    virtual int64_t Now() = 0;
    // A log line of a step (its text begins with the step's name).
    virtual void Queue(JobEvent event) = 0;
    // A line a step's process wrote to stdout or stderr (srun's own errors included).
    virtual void OutputLine(const char* source, std::string line) = 0;
    // Stores what is queued (the lines before a batch of rows come first).
    virtual void FlushQueued() = 0;
    // A batch of a step's rows, rows of the sweep. InvalidArgument: not the sweep's (a protocol
    // error); another error: the store's.
    virtual absl::Status StoreRows(const backtest::runner::v1::SweepRowsEvent& rows) = 0;
    // A step's heartbeat: the job is alive.
    virtual void Heard() = 0;
    // Once a turn (about every 50 ms, and after rows): the job stores what came, tells progress.
    virtual void Tick() = 0;
    // The user's cancel (or the server's end): every step is cancelled.
    virtual bool cancel_requested() = 0;
    // Why every step must stop now (the store failed, the reconciler found the job stale); empty
    // while none.
    virtual std::string must_stop() = 0;
  };

  // `like`: the job's run request (its sandboxed command for a strategy of the strategy folder),
  // `spec` the job's spec with its sweep (done_rows: the rows stored before).
  SweepSteps(RunnerBackend& backend, const RunRequest& like,
             const backtest::runner::v1::RunSpec& spec, SweepStepsOptions options);

  // How many steps the sweep is cut into.
  size_t chunks() const { return chunks_.size(); }

  // Runs every chunk's step. kFinished when each step ended with all its rows; kCancelled when
  // cancelled; else kFailed, the first failed step named in the message (its reason
  // "sweep_step", or the step's own label).
  RunnerEnd Run(Job& job);

 private:
  RunnerBackend& backend_;
  RunRequest like_;
  const backtest::runner::v1::SweepSpec& sweep_;
  backtest::runner::v1::RunSpec base_;  // the job's spec without its sweep
  SweepStepsOptions options_;
  std::vector<SweepChunk> chunks_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SWEEP_STEPS_H_
