#include "server/jobs/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace backtest::jobs {
namespace {

// How long the fork server may take to report a job's end once its pipes have closed (it kills
// the job's leftovers and empties /tmp first, ~ms): past it, it is taken for hung and killed.
constexpr int kReplyTimeoutMs = 10'000;

void Close(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Sends "job" with the four descriptors (SCM_RIGHTS). False when the fork server is gone.
bool SendJob(int control, const int fds[4]) {
  char payload[] = "job";
  iovec iov{payload, 3};
  alignas(cmsghdr) char control_buf[CMSG_SPACE(4 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control_buf;
  msg.msg_controllen = sizeof control_buf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(4 * sizeof(int));
  memcpy(CMSG_DATA(c), fds, 4 * sizeof(int));
  while (true) {
    ssize_t n = ::sendmsg(control, &msg, MSG_NOSIGNAL);
    if (n == 3) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Whether child `pid` has ended (or ends within `ms`), without reaping it: Wait does, for its
// status.
bool ExitsWithin(pid_t pid, int ms) {
  for (int waited = 0;; waited += 5) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      return true;  // not a child any more: nothing to wait for
    }
    if (info.si_pid == pid) return true;
    if (waited >= ms) return false;
    ::usleep(5000);
  }
}

}  // namespace

ProcessCommand ForkServerCommand(ProcessCommand runner) {
  runner.args.push_back("--fork-server");
  return runner;
}

absl::StatusOr<std::shared_ptr<ForkServer>> ForkServer::Spawn(const ProcessCommand& command) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::UnavailableError(absl::StrCat("fork server: socketpair: ", strerror(errno)));
  }
  auto process = RunnerProcess::SpawnCommand(command, 0, pair[1]);
  ::close(pair[1]);
  if (!process.ok()) {
    ::close(pair[0]);
    return process.status();
  }
  return std::shared_ptr<ForkServer>(new ForkServer(command, *std::move(process), pair[0]));
}

ForkServer::~ForkServer() {
  Close(control_);  // its loop ends; the RunnerProcess kills and reaps whatever is left
}

bool ForkServer::Ready() {
  if (gone_ || busy_) return false;
  if (!process_.Alive()) gone_ = true;
  return !gone_;
}

absl::StatusOr<RunnerProcess> ForkServer::Fork(const std::string& spec, int64_t event_pipe_bytes) {
  if (!Ready()) return absl::UnavailableError("the fork server is gone or busy");
  // [i][0] read end, [i][1] write end; ours close-on-exec, theirs sent and closed here.
  int in[2], events[2], out[2], err[2];
  int* all[] = {in, events, out, err};
  for (int i = 0; i < 4; ++i) {
    if (::pipe2(all[i], O_CLOEXEC) != 0) {
      const int e = errno;
      for (int j = 0; j < i; ++j) {
        ::close(all[j][0]);
        ::close(all[j][1]);
      }
      return absl::UnavailableError(absl::StrCat("cannot create pipes: ", strerror(e)));
    }
  }
  const int theirs[4] = {in[0], events[1], out[1], err[1]};
  const bool sent = SendJob(control_, theirs);
  for (int fd : theirs) ::close(fd);
  if (!sent) {
    for (int fd : {in[1], events[0], out[0], err[0]}) ::close(fd);
    gone_ = true;
    return absl::UnavailableError("the fork server is gone");
  }
  busy_ = true;
  RunnerProcess p;
  p.pid_ = process_.pid();
  p.fds_[0] = events[0];
  p.fds_[1] = out[0];
  p.fds_[2] = err[0];
  p.spec_fd_ = in[1];
  for (int fd : p.fds_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (event_pipe_bytes > 0) fcntl(p.fds_[0], F_SETPIPE_SZ, static_cast<int>(event_pipe_bytes));
  p.fork_server_ = shared_from_this();
  p.SendSpec(spec, /*keep_open=*/true);  // the protocol's cancel may follow
  return p;
}

ExitInfo ForkServer::WaitJob() {
  busy_ = false;
  char reply[128];
  ssize_t n = -1;
  if (!gone_) {
    bool killed = false;
    while (true) {
      pollfd pfd{control_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, kReplyTimeoutMs);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0 && !killed) {
        spdlog::warn("fork server (pid {}) did not report its job's end within {} s; killed",
                     process_.pid(), kReplyTimeoutMs / 1000);
        process_.Signal(SIGKILL);
        killed = true;
        continue;
      }
      n = ::recv(control_, reply, sizeof reply - 1, 0);
      if (n < 0 && errno == EINTR) continue;
      break;
    }
  }
  int status = 0;
  double cpu = 0;
  if (n > 0) {
    reply[n] = '\0';
    if (std::sscanf(reply, "exit %d %lf", &status, &cpu) == 2) {
      ExitInfo info;
      info.cpu_seconds = cpu;
      if (WIFEXITED(status)) {
        info.exited = true;
        info.code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        info.signal = WTERMSIG(status);
      }
      return info;
    }
    spdlog::warn("fork server (pid {}): unexpected reply \"{}\"; killed", process_.pid(),
                 std::string(reply, static_cast<size_t>(n)).substr(0, 100));
  }
  // It died (killed with its sandbox for a cancel, a crash, a job that killed it) or said
  // something else: the job ended with it, as a runner in a sandbox of its own would have, and
  // the sandbox's exit says how. One that closed its socket but lingers is killed.
  gone_ = true;
  if (n > 0 || !ExitsWithin(process_.pid(), 5000)) process_.Signal(SIGKILL);
  return process_.Wait();
}

void ForkServer::SignalJob(int signal) {
  if (!gone_) process_.Signal(signal);
}

void ForkServer::AbandonJob() {
  busy_ = false;
  gone_ = true;
  process_.Signal(SIGKILL);
}

}  // namespace backtest::jobs
