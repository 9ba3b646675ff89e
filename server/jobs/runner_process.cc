#include "server/jobs/runner_process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "server/jobs/fork_server.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace backtest::jobs {
namespace {

void CloseQuietly(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

int64_t EventPipeBytes(int workers) {
  constexpr int64_t kAllowance = 32 << 20;  // half the default per-user pipe allowance
  int64_t bytes = 1 << 20;
  while (bytes > (64 << 10) && 2 * workers * bytes > kAllowance) bytes /= 2;
  return bytes;
}

absl::StatusOr<RunnerProcess> RunnerProcess::SpawnIdle(const std::string& path,
                                                       const RunnerLimits& limits) {
  std::vector<std::string> args = {path, "--events-fd", "3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The server's environment, without what would make a runner of this machine take itself for
  // a Slurm step (a server started inside a Slurm allocation, by sbatch): a runner names its
  // Slurm job, step and node from these in its hello and in its data errors.
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view var(*e);
    if (absl::StartsWith(var, "SLURM_JOB_ID=") || absl::StartsWith(var, "SLURM_STEP_ID=") ||
        absl::StartsWith(var, "SLURMD_NODENAME=")) {
      continue;
    }
    env.push_back(*e);
  }
  env.push_back(nullptr);
  return SpawnArgv(path, argv.data(), env.data(), limits.event_pipe_bytes);
}

absl::StatusOr<RunnerProcess> RunnerProcess::Spawn(const ProcessCommand& command,
                                                   int64_t event_pipe_bytes,
                                                   const std::string& spec) {
  auto p = SpawnIdle(command, event_pipe_bytes);
  if (p.ok()) p->SendSpec(spec);
  return p;
}

absl::StatusOr<RunnerProcess> RunnerProcess::SpawnIdle(const ProcessCommand& command,
                                                       int64_t event_pipe_bytes) {
  return SpawnCommand(command, event_pipe_bytes, -1);
}

absl::StatusOr<RunnerProcess> RunnerProcess::SpawnCommand(const ProcessCommand& command,
                                                          int64_t event_pipe_bytes,
                                                          int stdin_fd) {
  std::vector<std::string> args = command.args;
  std::vector<std::string> env = command.env;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto p = SpawnArgv(command.path, argv.data(), envp.data(), event_pipe_bytes,
                     command.events_on_stdout, stdin_fd);
  if (p.ok()) {
    p->signal_in_exit_code_ = command.signal_in_exit_code;
    p->kill_signal_ = command.kill_signal;
  }
  return p;
}

absl::StatusOr<RunnerProcess> RunnerProcess::SpawnArgv(const std::string& path,
                                                       char* const argv[], char* const envp[],
                                                       int64_t event_pipe_bytes,
                                                       bool events_on_stdout, int stdin_fd) {
  // pipes[i][0] read end, [1] write end; all close-on-exec so no other runner inherits them.
  int in[2], events[2], out[2], err[2];
  int* all[] = {in, events, out, err};
  for (int i = 0; i < 4; ++i) {
    if (pipe2(all[i], O_CLOEXEC) != 0) {
      int e = errno;
      for (int j = 0; j < i; ++j) {
        ::close(all[j][0]);
        ::close(all[j][1]);
      }
      return absl::UnavailableError(absl::StrCat("cannot create pipes: ", strerror(e)));
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdin_fd >= 0 ? stdin_fd : in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, events_on_stdout ? events[1] : out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  if (!events_on_stdout) posix_spawn_file_actions_adddup2(&actions, events[1], 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The runner gets default signal handling and an empty mask (the server blocks SIGTERM).
  sigset_t none, all_signals;
  sigemptyset(&none);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  // Its own process group, so a terminal's Ctrl-C reaches the server only.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(events[1]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(events[0]);
    ::close(out[0]);
    ::close(err[0]);
    return absl::UnavailableError(absl::StrCat("cannot start runner ", path, ": ", strerror(rc)));
  }
  RunnerProcess p;
  p.pid_ = pid;
  p.fds_[0] = events[0];
  p.fds_[1] = out[0];
  if (events_on_stdout) CloseQuietly(p.fds_[1]);  // nothing is written to it
  p.fds_[2] = err[0];
  p.spec_fd_ = in[1];
  if (stdin_fd >= 0) CloseQuietly(p.spec_fd_);  // its stdin is the caller's
  for (int fd : p.fds_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  // Best effort: a smaller pipe only makes the runner wait for the server more often.
  if (event_pipe_bytes > 0) {
    fcntl(p.fds_[0], F_SETPIPE_SZ, static_cast<int>(event_pipe_bytes));
  }
  return p;
}

void RunnerProcess::SendSpec(const std::string& spec, bool keep_open) {
  Send(spec);
  if (!keep_open) CloseQuietly(spec_fd_);
}

void RunnerProcess::Send(const std::string& bytes) {
  if (spec_fd_ < 0) return;
  // The spec is small (parameters), a cancel smaller; a blocking write into the pipe is fine. A
  // runner that has died gives EPIPE, reported by its exit. Its SIGPIPE is blocked on this
  // thread and taken back here, so that no process embedding the job manager (backtestd ignores
  // SIGPIPE; a test may not) dies of it.
  sigset_t pipe_signal, old_mask;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
  size_t written = 0;
  bool broken = false;
  while (written < bytes.size()) {
    ssize_t n = ::write(spec_fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    broken = n < 0 && errno == EPIPE;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  if (broken) {
    const timespec now = {0, 0};
    while (sigtimedwait(&pipe_signal, nullptr, &now) < 0 && errno == EINTR) {
    }
    CloseQuietly(spec_fd_);  // nobody reads it any more
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

bool RunnerProcess::Alive() {
  if (fork_server_ != nullptr) return !reaped_ && fork_server_->process_.Alive();
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == 0) return true;
  reaped_ = true;  // gone (or not ours): never signal that pid again
  return false;
}

RunnerProcess::RunnerProcess(RunnerProcess&& other) noexcept
    : pid_(other.pid_), kill_signal_(other.kill_signal_),
      kill_signal_sent_(other.kill_signal_sent_), spec_fd_(other.spec_fd_),
      reaped_(other.reaped_), signal_in_exit_code_(other.signal_in_exit_code_),
      fork_server_(std::move(other.fork_server_)) {
  for (int i = 0; i < 3; ++i) {
    fds_[i] = other.fds_[i];
    other.fds_[i] = -1;
  }
  other.spec_fd_ = -1;
  other.pid_ = -1;
  other.reaped_ = true;
}

RunnerProcess::~RunnerProcess() {
  CloseQuietly(spec_fd_);
  for (int& fd : fds_) CloseQuietly(fd);
  if (fork_server_ != nullptr) {
    if (!reaped_) fork_server_->AbandonJob();  // its end unread: the fork server goes too
    return;
  }
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

void RunnerProcess::CloseFd(int fd) {
  for (int& f : fds_) {
    if (f == fd) CloseQuietly(f);
  }
}

void RunnerProcess::Signal(int signal) {
  if (fork_server_ != nullptr) {
    if (!reaped_) fork_server_->SignalJob(signal);
    return;
  }
  if (pid_ <= 0 || reaped_) return;
  if (signal == SIGKILL && kill_signal_ != SIGKILL && !kill_signal_sent_) {
    kill_signal_sent_ = true;
    signal = kill_signal_;
  }
  ::kill(pid_, signal);
}

ExitInfo RunnerProcess::Wait() {
  ExitInfo info;
  if (fork_server_ != nullptr) {
    if (reaped_) return info;
    reaped_ = true;
    return fork_server_->WaitJob();
  }
  if (pid_ <= 0 || reaped_) return info;
  int status = 0;
  rusage usage = {};
  while (::wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  info.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  if (WIFEXITED(status)) {
    info.exited = true;
    info.code = WEXITSTATUS(status);
    if (signal_in_exit_code_ && info.code > 128 && info.code < 128 + NSIG) {
      info.exited = false;
      info.signal = info.code - 128;
      info.code = 0;
    }
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  return info;
}

std::string DescribeSignal(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", signal);
}

std::string FindOnPath(const std::string& name) {
  if (absl::StrContains(name, '/')) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace backtest::jobs
