// The local runner backend (docs/runner-backends.md): each run is a process of this machine,
// backtest-runner or, for a strategy of the strategy folder, the Python runner in the sandbox;
// the backend keeps a warm one of each started ahead of its worker's next job. ProcessRun, a run
// in a local process, serves the Slurm backend too (whose process is srun).
//
// Owned by one worker (or one Explain replay); not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_LOCAL_BACKEND_H_
#define BACKTEST_SERVER_JOBS_LOCAL_BACKEND_H_

#include <poll.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "server/jobs/fork_server.h"
#include "server/jobs/runner_backend.h"
#include "server/jobs/runner_process.h"
#include "server/jobs/runner_stream.h"

namespace backtest::jobs {

// A run in a local process: the events from its events pipe, its stdout and stderr as output, a
// cancel as the protocol's CancelRequest on its stdin, terminate as a signal (SIGKILL; srun's
// ProcessCommand::kill_signal first for the Slurm backend).
class ProcessRun : public RunnerRun {
 public:
  struct Options {
    std::string reference;     // "local pid 1234"
    std::string started_line;  // "runner started (pid 1234)"
    // The limits the runner was given (for a limit that a signal enforced).
    RunnerLimits limits;
    // Why the process ended, when its stream did not say (no RunEnd); empty message: exited 0.
    std::function<RunnerEnd(const ExitInfo&)> describe_exit;
    // Sees what the process writes to stderr (srun's own errors name a failed node or step).
    std::function<void(const char*, size_t)> on_stderr;
    // The run ends when the runner's RunEnd says it finished, without waiting for its process
    // to exit (the teardown of a large run's memory takes milliseconds before its pipes close):
    // what it writes after its end is not the job's. Reap() then lets the process go.
    bool end_at_said_finish = false;
  };

  ProcessRun(RunnerProcess process, Options options)
      : process_(std::move(process)), options_(std::move(options)) {}

  std::string reference() const override { return options_.reference; }
  std::string started_line() const override { return options_.started_line; }
  int64_t pid() const override { return process_.pid(); }
  bool Pump(int timeout_ms, Listener& listener) override;
  void Cancel() override;
  void Terminate() override { process_.Signal(SIGKILL); }
  RunnerEnd Finish() override;
  void Reap() override;

 private:
  void Read(int fd, Listener& listener);
  // The process's pipes still open (events, stdout, stderr), to poll for reading; their count.
  int OpenFds(pollfd (&fds)[3]) const;
  // The RunEnd came and says the run finished (with end_at_said_finish): stdout and stderr are
  // read for what is in their pipes already, and the run has ended.
  bool EndAtSaidFinish(Listener& listener);

  RunnerProcess process_;
  Options options_;
  RunnerStream stream_;
  bool killed_for_protocol_ = false;
  bool ended_early_ = false;  // by EndAtSaidFinish, the process not yet reaped
};

// How backtest-runner's process ended, when its stream did not say: a limit that a signal
// enforced, a crash, an exit code; empty message for exit 0.
RunnerEnd DescribeRunnerExit(const ExitInfo& exit, const RunnerLimits& limits);
// The same for a strategy's runner in the sandbox, which enforces `limits` itself.
RunnerEnd DescribeSandboxedRunnerExit(const ExitInfo& exit, const SandboxLimits& limits);

struct LocalBackendOptions {
  std::string runner_path;  // backtest-runner
  RunnerLimits limits;
  // A warm backtest-runner waits for the next job (off for one-off runs: Explain replays).
  bool warm_runners = true;
  // A warm Python runner waits in the sandbox of the last strategy-folder job.
  bool warm_sandboxed_runners = true;
  // ... as a fork server that forks a runner per job (docs/sandbox.md, "Fork server"), rather
  // than one idle runner (JobManager::UseForkServers).
  bool fork_servers = false;
};

class LocalRunnerBackend : public RunnerBackend {
 public:
  // `stopping`: while set, no warm runner is started.
  LocalRunnerBackend(LocalBackendOptions options, const std::atomic<bool>& stopping)
      : options_(std::move(options)), stopping_(stopping) {}

  absl::StatusOr<std::unique_ptr<RunnerRun>> Start(const RunRequest& request) override;
  void Prepare(const RunRequest* like = nullptr) override;

 private:
  // The worker's warm Python runner, in the sandbox of the last strategy-folder job it ran
  // (that strategy's folder at that source hash, the job's data roots, the limits): a fork
  // server that forks a runner per job, or one idle runner waiting for its spec.
  struct WarmSandboxed {
    ProcessCommand command;  // the idle runner's (the fork server's has --fork-server added)
    std::string source_hash;
    std::optional<RunnerProcess> process;     // an idle runner
    std::shared_ptr<ForkServer> fork_server;  // or a fork server
  };

  absl::StatusOr<RunnerProcess> StartNative(const std::string& spec);
  absl::StatusOr<RunnerProcess> StartSandboxed(const RunRequest& request, const std::string& spec);

  LocalBackendOptions options_;
  const std::atomic<bool>& stopping_;
  std::optional<RunnerProcess> warm_;
  std::optional<WarmSandboxed> warm_sandboxed_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_LOCAL_BACKEND_H_
