// Drives a spawned RunnerProcess to its end for tests and test tools: its stdout and stderr kept
// as lines under an OutputBudget (as the job path keeps them), the bytes of its event pipe
// counted, killed when a wall-clock deadline passes first.
#ifndef BACKTEST_TESTS_TESTING_RUN_PROCESS_H_
#define BACKTEST_TESTS_TESTING_RUN_PROCESS_H_

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "server/jobs/line_splitter.h"
#include "server/jobs/output_budget.h"
#include "server/jobs/runner_process.h"

namespace backtest::testing {

struct ProcessRun {
  std::vector<std::string> stdout_lines;
  std::vector<std::string> stderr_lines;
  std::string events;  // what came on fd 3, kept up to 1 MB
  int64_t event_bytes = 0;
  jobs::ExitInfo exit;
  bool timed_out = false;  // killed at the deadline
  int64_t dropped_lines = 0;
  int64_t dropped_bytes = 0;
  double wall_seconds = 0;
};

inline ProcessRun RunToEnd(jobs::RunnerProcess& process, double timeout_seconds,
                           int64_t max_lines = 100000, int64_t max_bytes = 16 << 20) {
  using Clock = std::chrono::steady_clock;
  ProcessRun run;
  jobs::OutputBudget budget(max_lines, max_bytes);
  jobs::LineSplitter out, err;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(timeout_seconds);
  auto keep = [&](std::vector<std::string>& lines) {
    return [&](std::string line) {
      if (budget.Take(line.size())) lines.push_back(std::move(line));
    };
  };
  static char buf[1 << 16];
  while (!process.all_closed()) {
    if (!run.timed_out && Clock::now() >= deadline) {
      run.timed_out = true;
      process.Signal(SIGKILL);
    }
    // A process of its own that outlived it still holds the pipes (unsandboxed runs only).
    if (run.timed_out && Clock::now() >= deadline + std::chrono::seconds(5)) break;
    pollfd fds[3];
    int n = 0;
    for (int fd : {process.events_fd(), process.stdout_fd(), process.stderr_fd()}) {
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    }
    if (::poll(fds, n, 50) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        process.CloseFd(fd);
        continue;
      }
      if (got < 0) continue;
      if (fd == process.events_fd()) {
        run.event_bytes += got;
        if (run.events.size() < (1 << 20)) run.events.append(buf, static_cast<size_t>(got));
      } else if (budget.spent()) {
        budget.Drop(buf, static_cast<size_t>(got));
      } else {
        jobs::LineSplitter& lines = fd == process.stdout_fd() ? out : err;
        lines.Feed(buf, static_cast<size_t>(got),
                   keep(fd == process.stdout_fd() ? run.stdout_lines : run.stderr_lines));
        if (budget.spent()) budget.DropPartial(lines.Discard());
      }
    }
  }
  out.Finish(keep(run.stdout_lines));
  err.Finish(keep(run.stderr_lines));
  run.exit = process.Wait();
  run.dropped_lines = budget.dropped_lines();
  run.dropped_bytes = budget.dropped_bytes();
  run.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return run;
}

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_TESTING_RUN_PROCESS_H_
