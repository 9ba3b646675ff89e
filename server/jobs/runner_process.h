// One runner process: spawned with its job spec on stdin, its events on fd 3, its stdout and
// stderr captured. Owned by the worker that supervises it; not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_RUNNER_PROCESS_H_
#define BACKTEST_SERVER_JOBS_RUNNER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace backtest::jobs {

struct RunnerLimits {
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

// How a process ended.
struct ExitInfo {
  bool exited = false;  // normal exit with `code`
  int code = 0;
  int signal = 0;       // the signal that killed it, when !exited
  double cpu_seconds = 0;  // CPU time it used (user + system)
};

class RunnerProcess {
 public:
  // Spawns `path` with the limits as flags (the runner applies them to itself first thing) and
  // writes `spec` to its stdin. Unavailable when the binary cannot be started.
  static absl::StatusOr<RunnerProcess> Spawn(const std::string& path, const RunnerLimits& limits,
                                             const std::string& spec);

  // Spawns `path` like Spawn but sends no spec: the runner starts (exec, dynamic linking, its
  // limits) and waits on stdin. A worker keeps one such warm runner so that a job pays none of
  // that; SendSpec gives it its job. An idle runner whose stdin closes exits.
  static absl::StatusOr<RunnerProcess> SpawnIdle(const std::string& path,
                                                 const RunnerLimits& limits);
  // Writes the spec frame and closes stdin. A runner that died meanwhile gives EPIPE here and is
  // reported by its exit like any other.
  void SendSpec(const std::string& spec);
  // Whether the process is still there (reaps it when not); false once reaped.
  bool Alive();

  RunnerProcess(RunnerProcess&& other) noexcept;
  RunnerProcess& operator=(RunnerProcess&&) = delete;
  ~RunnerProcess();  // closes the pipes; kills and reaps the process if it is still there

  pid_t pid() const { return pid_; }
  // Read ends; -1 once closed by CloseFd.
  int events_fd() const { return fds_[0]; }
  int stdout_fd() const { return fds_[1]; }
  int stderr_fd() const { return fds_[2]; }
  void CloseFd(int fd);
  bool all_closed() const { return fds_[0] < 0 && fds_[1] < 0 && fds_[2] < 0; }

  void Signal(int signal);
  // Waits for the process to end.
  ExitInfo Wait();

 private:
  RunnerProcess() = default;

  pid_t pid_ = -1;
  int fds_[3] = {-1, -1, -1};
  int spec_fd_ = -1;  // write end of its stdin until the spec is sent
  bool reaped_ = false;
};

std::string DescribeSignal(int signal);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUNNER_PROCESS_H_
