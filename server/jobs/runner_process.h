// One runner process: spawned with its job spec on stdin (which a runner may keep open for later
// messages: a cancel), its events on fd 3, its stdout and stderr captured. Owned by the worker
// that supervises it; not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_RUNNER_PROCESS_H_
#define BACKTEST_SERVER_JOBS_RUNNER_PROCESS_H_

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace backtest::jobs {

class ForkServer;  // fork_server.h

struct RunnerLimits {
  // A runner's own limits (RunSpec.limits; the runner applies them to itself).
  int64_t cpu_seconds = 0;  // 0: none
  int64_t memory_mb = 0;    // 0: none (address space)
  // Capacity asked for the event pipe (F_SETPIPE_SZ; 0 keeps the kernel's 64 KB). A runner writes
  // a job's log and its result without waiting on a server that is storing the previous batch.
  int64_t event_pipe_bytes = 0;
};

// The event pipe capacity for `workers` runners (and a warm one each): 1 MB, less when that many
// would pass half of an unprivileged user's pipe allowance (fs.pipe-user-pages-soft, 64 MB by
// default, past which the kernel gives new pipes a single page).
int64_t EventPipeBytes(int workers);

// A process to start as a runner: the whole command line and the whole environment, given
// explicitly (a sandboxed runner, docs/sandbox.md). The built-in runner is started by path.
struct ProcessCommand {
  std::string path;               // the executable, absolute
  std::vector<std::string> args;  // argv, args[0] included
  std::vector<std::string> env;   // NAME=value: everything the process gets, nothing inherited
  // The process reports its command's death by signal N as exit code 128 + N (bubblewrap does):
  // Wait gives back the signal, so a limit shows as the signal that enforced it.
  bool signal_in_exit_code = false;
  // The process writes its event frames to its stdout, not to fd 3 (srun carries stdin, stdout
  // and stderr only); the job then has no stdout log.
  bool events_on_stdout = false;
  // What Signal(SIGKILL) sends: srun killed by SIGKILL would leave its step running on the
  // cluster, so a Slurm runner gets SIGTERM (srun cancels the step) and, a few seconds later
  // when it is still there, SIGKILL.
  int kill_signal = SIGKILL;

  bool operator==(const ProcessCommand&) const = default;
};

// How a process ended.
struct ExitInfo {
  bool exited = false;  // normal exit with `code`
  int code = 0;
  int signal = 0;       // the signal that killed it, when !exited
  double cpu_seconds = 0;  // CPU time it used (user + system)
};

class RunnerProcess {
 public:
  // Spawns backtest-runner at `path` (its events on fd 3, the event pipe as `limits` asks) and
  // sends no spec: the runner starts (exec, dynamic linking) and waits on stdin. A worker keeps
  // one such warm runner so that a job pays none of that; SendSpec gives it its job. An idle
  // runner whose stdin closes exits. Unavailable when the binary cannot be started.
  static absl::StatusOr<RunnerProcess> SpawnIdle(const std::string& path,
                                                 const RunnerLimits& limits);

  // Spawns `command` (e.g. Sandbox::Build's) with the same pipes: the spec on stdin, events on
  // fd 3, stdout and stderr captured; the command line carries its own limits. Call it from a
  // thread that outlives the process: a sandbox dies with the thread that started it.
  static absl::StatusOr<RunnerProcess> Spawn(const ProcessCommand& command,
                                             int64_t event_pipe_bytes, const std::string& spec);
  // The same without a spec: it waits on stdin until SendSpec (a warm runner).
  static absl::StatusOr<RunnerProcess> SpawnIdle(const ProcessCommand& command,
                                                 int64_t event_pipe_bytes);
  // Writes the spec frame and closes stdin, unless `keep_open` (a runner reads later messages
  // there: Send). A runner that died meanwhile gives EPIPE here and is reported by its exit like
  // any other.
  void SendSpec(const std::string& spec, bool keep_open = false);
  // Writes more to its stdin (a cancel), when it is still open.
  void Send(const std::string& bytes);
  // Whether the process is still there (reaps it when not); false once reaped.
  bool Alive();

  RunnerProcess(RunnerProcess&& other) noexcept;
  RunnerProcess& operator=(RunnerProcess&&) = delete;
  ~RunnerProcess();  // closes the pipes; kills and reaps the process if it is still there

  // The process's pid; for a runner forked by a fork server, the fork server's (its sandbox's).
  pid_t pid() const { return pid_; }
  // Read ends; -1 once closed by CloseFd.
  int events_fd() const { return fds_[0]; }
  int stdout_fd() const { return fds_[1]; }
  int stderr_fd() const { return fds_[2]; }
  void CloseFd(int fd);
  bool all_closed() const { return fds_[0] < 0 && fds_[1] < 0 && fds_[2] < 0; }

  // For a runner forked by a fork server: to its whole sandbox, fork server included.
  void Signal(int signal);
  // Waits for the process to end (a forked runner: for the fork server's word of it).
  ExitInfo Wait();

 private:
  friend class ForkServer;
  RunnerProcess() = default;
  // `stdin_fd` >= 0: the process's stdin (a fork server's socket), else a pipe for the spec.
  static absl::StatusOr<RunnerProcess> SpawnCommand(const ProcessCommand& command,
                                                    int64_t event_pipe_bytes, int stdin_fd);
  static absl::StatusOr<RunnerProcess> SpawnArgv(const std::string& path, char* const argv[],
                                                 char* const envp[], int64_t event_pipe_bytes,
                                                 bool events_on_stdout = false,
                                                 int stdin_fd = -1);

  pid_t pid_ = -1;
  int fds_[3] = {-1, -1, -1};
  int kill_signal_ = SIGKILL;
  bool kill_signal_sent_ = false;  // the next SIGKILL is a real one
  int spec_fd_ = -1;  // write end of its stdin until the spec is sent
  bool reaped_ = false;
  bool signal_in_exit_code_ = false;
  // Set for a runner forked by a fork server: its end and its signals go through it.
  std::shared_ptr<ForkServer> fork_server_;
};

std::string DescribeSignal(int signal);

// The executable `name` as found on PATH (itself when it has a slash and is executable); empty
// when there is none. For the programs that start runners: bwrap, srun, scancel.
std::string FindOnPath(const std::string& name);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUNNER_PROCESS_H_
