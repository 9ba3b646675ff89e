// The runner-backend boundary (docs/runner-backends.md): where a job's runner runs. A backend
// starts a run from its spec; the run gives one ordered stream of the runner's events (and,
// where the backend has them apart, the runner's stdout and stderr), can be cancelled, and ends
// in a typed end. The job manager and its job runs talk to this interface only: the local
// backend (a process of this machine, warm runners; local_backend.h) and the Slurm backend (a
// job step through srun; slurm.h) are behind it.
//
// A backend belongs to one worker and is used by that worker's thread only (it keeps the
// worker's warm runners); a run belongs to the job run that started it. Neither is thread-safe.
#ifndef BACKTEST_SERVER_JOBS_RUNNER_BACKEND_H_
#define BACKTEST_SERVER_JOBS_RUNNER_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/jobs/runner_process.h"
#include "server/jobs/sandbox.h"

namespace backtest::runner::v1 {
class RunSpec;  // runner.pb.h, kept out of the many files that include the job manager
}  // namespace backtest::runner::v1

namespace backtest::jobs {

// How a run ended, as its backend saw it: the runner's terminal frame, or what its process's end
// says when there is none.
enum class RunnerEndKind { kFinished, kFailed, kCancelled, kLimitExceeded };

struct RunnerEnd {
  RunnerEndKind kind = RunnerEndKind::kFailed;
  // A short label of why, for backtestd_runner_failures_total ("crash", "exit_code",
  // "cpu_limit", "memory_limit", "run_error", "protocol", …); empty when finished.
  std::string reason;
  // In words, for the job's error; empty when finished.
  std::string message;
};

// What to run.
struct RunRequest {
  std::string job_id;
  const backtest::runner::v1::RunSpec* spec = nullptr;
  // A strategy of the strategy folder: the sandboxed Python runner's command line
  // (Sandbox::Build) and the source hash it runs (a warm runner serves the same sandbox and
  // hash only). Unset: backtest-runner.
  std::optional<ProcessCommand> sandboxed;
  std::string source_hash;
  SandboxLimits sandbox_limits;  // what the sandboxed command enforces (to name a limit it hit)
  // CPUs the run may use (a sweep step's threads; the Slurm backend asks for as many).
  int cpus = 1;
};

// One started run.
class RunnerRun {
 public:
  // Receives what the run brings, in the order it came.
  class Listener {
   public:
    virtual ~Listener() = default;
    // One whole event of the runner: a RunnerEvent's bytes (frames taken apart).
    virtual void OnEvent(std::string event) = 0;
    // Bytes the runner wrote to its stdout or stderr ("stdout", "stderr"), where the backend
    // has them apart from the events.
    virtual void OnOutput(const char* source, const char* data, size_t size) = 0;
    // Bytes came (events still incomplete included): the runner is alive.
    virtual void OnAlive() {}
  };

  virtual ~RunnerRun() = default;

  // Where it runs, for the job's record ("local pid 1234"; the runner may tell more).
  virtual std::string reference() const = 0;
  // The job's log line saying it started.
  virtual std::string started_line() const = 0;
  // The local process the server watches (the runner's, or srun's); 0: none.
  virtual int64_t pid() const = 0;

  // Waits at most `timeout_ms` for the runner and gives what came to `listener`. False once the
  // stream has ended and nothing more will come (then call Finish).
  virtual bool Pump(int timeout_ms, Listener& listener) = 0;

  // Non-empty while the backend has not started the runner yet and waits for resources (a Slurm
  // step pending in the cluster's queue): what it waits for, in words. The runner's silence then
  // is expected (no heartbeat can come), not a sign of a stuck runner.
  virtual std::string waiting() const { return ""; }

  // Asks the run to stop (gracefully: the runner stops at its next bar and says so).
  virtual void Cancel() = 0;
  // Stops it now (a stuck, silent or misbehaving runner, or a cancel past its grace period).
  // A second call is harder where the backend has a harder way (srun: SIGTERM, then SIGKILL).
  virtual void Terminate() = 0;

  // After Pump returned false: waits for the run's end and says what it was. Protocol errors in
  // the stream are failures ("protocol"), unless the runner was killed in the middle of a frame
  // (the signal is then the reason).
  virtual RunnerEnd Finish() = 0;
  // After Finish, when the job has been concluded: lets go of what the run still holds (a local
  // runner's process that Finish did not wait for, given a moment to exit, then killed).
  virtual void Reap() {}
};

class RunnerBackend {
 public:
  virtual ~RunnerBackend() = default;

  // Starts `request`'s run. Unavailable (or FailedPrecondition for a backend that cannot work
  // here, such as srun missing) when it cannot be started.
  virtual absl::StatusOr<std::unique_ptr<RunnerRun>> Start(const RunRequest& request) = 0;

  // Readies the next runs ahead of them (warm runners), when the backend keeps any: called
  // between jobs, once the last one has ended.
  // With `like`, also one for runs of its kind (a strategy-folder job's sandbox).
  virtual void Prepare(const RunRequest* like = nullptr) {}
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUNNER_BACKEND_H_
