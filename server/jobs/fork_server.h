// A fork server: a sandboxed Python runner (`python -m backtestd.runner --fork-server`) that has
// done its imports and forks a runner per job inside its sandbox (docs/sandbox.md, "Fork server";
// the Python side is sdk/backtestd/forkserver.py). A worker keeps one per sandbox (a strategy
// folder at a source hash, the job's data roots, the limits), so that a job of that strategy
// costs a fork instead of an interpreter's imports.
//
// Its stdin is a Unix socket (SOCK_SEQPACKET). Fork sends a job's four descriptors over it (the
// read end of the job's stdin, and the write ends of fd 3, stdout and stderr), writes the spec,
// and gives back a RunnerProcess for the job like any runner's: its pipes (its stdin open for the
// protocol's cancel), Signal (which reaches the whole sandbox, fork server included: a killed job
// takes its fork server along), and Wait, which reads the child's end from the fork server ("exit STATUS CPU") or, when
// the fork server died, its own. One job at a time. Owned by a worker (shared with the job's
// RunnerProcess while the job runs); not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_FORK_SERVER_H_
#define BACKTEST_SERVER_JOBS_FORK_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/jobs/runner_process.h"

namespace backtest::jobs {

// The fork server's command for the sandboxed runner `runner` (a Sandbox::Build of
// `python -m backtestd.runner …`, which its command line ends with): `--fork-server` appended.
ProcessCommand ForkServerCommand(ProcessCommand runner);

class ForkServer : public std::enable_shared_from_this<ForkServer> {
 public:
  // Starts `command` (Sandbox::Build's, whose args end in the runner's `--fork-server`) with the
  // socket as its stdin. Call it from a thread that outlives the process (a worker).
  static absl::StatusOr<std::shared_ptr<ForkServer>> Spawn(const ProcessCommand& command);
  ~ForkServer();  // closes the socket (the fork server exits), kills and reaps what is left
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // A runner for one job, forked by the fork server, `spec` (a frame) written to its stdin.
  // Unavailable when the fork server is gone or busy with another job.
  absl::StatusOr<RunnerProcess> Fork(const std::string& spec, int64_t event_pipe_bytes);
  // Whether it can take a job now: alive, and no job of it is still running.
  bool Ready();
  pid_t pid() const { return process_.pid(); }
  const ProcessCommand& command() const { return command_; }

 private:
  friend class RunnerProcess;
  ForkServer(ProcessCommand command, RunnerProcess process, int control)
      : command_(std::move(command)), process_(std::move(process)), control_(control) {}
  // RunnerProcess's side of a forked job.
  ExitInfo WaitJob();
  void SignalJob(int signal);
  void AbandonJob();

  const ProcessCommand command_;
  RunnerProcess process_;  // the fork server's own process (bubblewrap's, sandboxed)
  int control_ = -1;       // our end of its stdin socket
  bool busy_ = false;      // a job was forked whose end has not been read
  bool gone_ = false;      // it died, or was killed: never used again
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_FORK_SERVER_H_
