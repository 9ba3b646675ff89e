#include "server/jobs/local_backend.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "backtest/runner/v1/runner.pb.h"

namespace backtest::jobs {

int ProcessRun::OpenFds(pollfd (&fds)[3]) const {
  int n = 0;
  for (int fd : {process_.events_fd(), process_.stdout_fd(), process_.stderr_fd()}) {
    if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
  }
  return n;
}

bool ProcessRun::Pump(int timeout_ms, Listener& listener) {
  if (process_.all_closed()) return false;
  pollfd fds[3];
  const int n = OpenFds(fds);
  int ready = ::poll(fds, n, timeout_ms);
  if (ready < 0 && errno != EINTR) {
    for (int i = 0; i < n; ++i) process_.CloseFd(fds[i].fd);
    stream_.Close();
    return false;
  }
  for (int i = 0; i < n && ready > 0; ++i) {
    if (fds[i].revents != 0) Read(fds[i].fd, listener);
  }
  if (!stream_.protocol_error().empty() && !killed_for_protocol_) {
    killed_for_protocol_ = true;  // a runner the server cannot read (or refuses) runs no further
    Terminate();
  }
  if (options_.end_at_said_finish && EndAtSaidFinish(listener)) return false;
  return !process_.all_closed();
}

bool ProcessRun::EndAtSaidFinish(Listener& listener) {
  const std::optional<RunEndFrame>& said = stream_.end();
  if (!said.has_value() || said->outcome != backtest::runner::v1::RunEnd::OUTCOME_FINISHED ||
      !stream_.protocol_error().empty()) {
    return false;
  }
  // What the runner wrote to stdout and stderr before its end is in their pipes: taken now.
  for (int fd : {process_.stdout_fd(), process_.stderr_fd()}) {
    pollfd p = {fd, POLLIN, 0};
    // A pipe's worth at most: a runner that writes on after its end does not hold the job.
    for (int reads = 0; fd >= 0 && reads < 16 && ::poll(&p, 1, 0) > 0; ++reads) {
      Read(fd, listener);
      if (fd != process_.stdout_fd() && fd != process_.stderr_fd()) break;  // closed at its EOF
    }
  }
  ended_early_ = true;
  return true;
}

void ProcessRun::Reap() {
  if (!ended_early_) return;
  ended_early_ = false;
  // The runner exits right after its end: its pipes close once its memory is gone. One that
  // lingers (a strategy's thread) is killed.
  constexpr int kExitGraceMs = 5000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kExitGraceMs);
  while (!process_.all_closed()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      process_.Signal(SIGKILL);
      break;
    }
    pollfd fds[3];
    const int n = OpenFds(fds);
    if (::poll(fds, n, static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);  // after its end: not the job's
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) process_.CloseFd(fds[i].fd);
    }
  }
  (void)process_.Wait();
}

void ProcessRun::Cancel() {
  // The protocol's cancel: the runner stops at its next bar and ends cancelled. Past the grace
  // period the job run terminates it.
  process_.Send(CancelFrame());
}

void ProcessRun::Read(int fd, Listener& listener) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (fd == process_.events_fd()) stream_.Close();
    process_.CloseFd(fd);
    return;
  }
  if (n < 0) return;
  listener.OnAlive();
  if (fd == process_.events_fd()) {
    stream_.Feed(buf, static_cast<size_t>(n),
                 [&](std::string event) { listener.OnEvent(std::move(event)); });
  } else {
    const bool is_err = fd == process_.stderr_fd();
    if (is_err && options_.on_stderr) options_.on_stderr(buf, static_cast<size_t>(n));
    listener.OnOutput(is_err ? "stderr" : "stdout", buf, static_cast<size_t>(n));
  }
}

RunnerEnd ProcessRun::Finish() {
  if (ended_early_) return {RunnerEndKind::kFinished, "", ""};  // its process: Reap()
  const ExitInfo exit = process_.Wait();
  // A runner killed by a signal may die in the middle of a frame: the cut frame is a consequence,
  // and the signal (or srun's exit status, which stands for it) is the reason to report.
  const bool clean_exit = exit.exited && exit.code == 0;
  if (!stream_.protocol_error().empty() && !(stream_.stream_cut() && !clean_exit)) {
    return {RunnerEndKind::kFailed, "protocol",
            absl::StrCat("runner protocol error: ", stream_.protocol_error())};
  }
  // The runner's RunEnd says how the run ended (whatever its exit status after it).
  if (const std::optional<RunEndFrame>& said = stream_.end(); said.has_value()) {
    using backtest::runner::v1::RunEnd;
    switch (said->outcome) {
      case RunEnd::OUTCOME_FINISHED:
        return {RunnerEndKind::kFinished, "", ""};
      case RunEnd::OUTCOME_CANCELLED:
        return {RunnerEndKind::kCancelled, "cancelled", said->message};
      case RunEnd::OUTCOME_LIMIT_EXCEEDED:
        return {RunnerEndKind::kLimitExceeded,
                said->code == "resource" ? "memory_limit" : "limit", said->message};
      default:
        return {RunnerEndKind::kFailed, "run_error", said->message};
    }
  }
  // No end: the process's own end says why (a limit's signal, a crash, an exit code).
  RunnerEnd end = options_.describe_exit ? options_.describe_exit(exit)
                                         : DescribeRunnerExit(exit, options_.limits);
  if (end.message.empty()) {
    return {RunnerEndKind::kFailed, "no_result", "the runner ended without saying how (no end)"};
  }
  return end;
}

RunnerEnd DescribeRunnerExit(const ExitInfo& exit, const RunnerLimits& limits) {
  // The kernel sends SIGXCPU at the limit and SIGKILL a second later if that was ignored.
  if (!exit.exited && limits.cpu_seconds > 0 &&
      (exit.signal == SIGXCPU ||
       (exit.signal == SIGKILL && exit.cpu_seconds >= static_cast<double>(limits.cpu_seconds)))) {
    return {RunnerEndKind::kLimitExceeded, "cpu_limit",
            absl::StrCat("CPU time limit of ", limits.cpu_seconds, " s exceeded")};
  }
  if (!exit.exited) {
    return {RunnerEndKind::kFailed, "crash",
            absl::StrCat("the runner crashed (", DescribeSignal(exit.signal), ")")};
  }
  if (exit.code != 0) {
    return {RunnerEndKind::kFailed, "exit_code",
            absl::StrCat("the runner exited with code ", exit.code)};
  }
  return {RunnerEndKind::kFinished, "", ""};
}

RunnerEnd DescribeSandboxedRunnerExit(const ExitInfo& exit, const SandboxLimits& limits) {
  // The sandbox enforces its limits itself: its exit names the one that was hit.
  std::string why = DescribeSandboxedExit(exit, limits);
  if (why.empty()) return {RunnerEndKind::kFinished, "", ""};
  return {RunnerEndKind::kFailed, "sandboxed_exit", absl::StrCat("the strategy's runner: ", why)};
}

absl::StatusOr<std::unique_ptr<RunnerRun>> LocalRunnerBackend::Start(const RunRequest& request) {
  const std::string frame = SpecFrame(*request.spec);
  ProcessRun::Options run;
  run.limits = options_.limits;
  run.end_at_said_finish = true;
  if (request.sandboxed.has_value()) {
    run.describe_exit = [limits = request.sandbox_limits](const ExitInfo& exit) {
      return DescribeSandboxedRunnerExit(exit, limits);
    };
  }
  absl::StatusOr<RunnerProcess> process =
      request.sandboxed.has_value() ? StartSandboxed(request, frame) : StartNative(frame);
  if (!process.ok()) return process.status();
  run.reference = absl::StrCat("local pid ", process->pid());
  run.started_line = absl::StrCat("runner started (pid ", process->pid(), ")");
  return std::make_unique<ProcessRun>(*std::move(process), std::move(run));
}

absl::StatusOr<RunnerProcess> LocalRunnerBackend::StartNative(const std::string& frame) {
  // The worker's warm runner when it is still there, else a fresh one; either way this job's.
  std::optional<RunnerProcess> warm = std::move(warm_);
  warm_.reset();
  if (!warm.has_value() || !warm->Alive()) {
    warm.reset();
    auto fresh = RunnerProcess::SpawnIdle(options_.runner_path, options_.limits);
    if (!fresh.ok()) return fresh.status();
    warm.emplace(*std::move(fresh));
  }
  warm->SendSpec(frame, /*keep_open=*/true);  // a cancel may follow
  return *std::move(warm);
}

absl::StatusOr<RunnerProcess> LocalRunnerBackend::StartSandboxed(const RunRequest& request,
                                                                 const std::string& frame) {
  const ProcessCommand& command = *request.sandboxed;
  // The worker's warm Python runner runs it when its sandbox is this one and it was started for
  // this source hash (its folder's bind mount may be an older directory of that name); one of
  // another sandbox ends here.
  std::optional<WarmSandboxed> warm = std::move(warm_sandboxed_);
  warm_sandboxed_.reset();
  const bool same = warm.has_value() && warm->command == command &&
                    warm->source_hash == request.source_hash;
  // The worker's fork server of this sandbox forks the job's runner, and stays for the next.
  if (same && warm->fork_server != nullptr && warm->fork_server->Ready()) {
    auto forked = warm->fork_server->Fork(frame, options_.limits.event_pipe_bytes);
    if (forked.ok()) {
      warm_sandboxed_.emplace(std::move(*warm));
      return forked;
    }
    spdlog::warn("job {}: {}; a runner of its own instead", request.job_id,
                 std::string(forked.status().message()));
  }
  if (same && warm->process.has_value() && warm->process->Alive()) {
    warm->process->SendSpec(frame, /*keep_open=*/true);  // a cancel may follow
    return *std::move(warm->process);
  }
  warm.reset();
  if (options_.fork_servers) {
    // None for this sandbox yet: one now, which forks this job once it has done its imports
    // (what a fresh runner would cost the job) and stays for the next.
    auto server = ForkServer::Spawn(ForkServerCommand(command));
    if (server.ok()) {
      auto forked = (*server)->Fork(frame, options_.limits.event_pipe_bytes);
      if (forked.ok()) {
        warm_sandboxed_.emplace(
            WarmSandboxed{command, request.source_hash, std::nullopt, *std::move(server)});
        return forked;
      }
    }
  }
  auto process = RunnerProcess::SpawnIdle(command, options_.limits.event_pipe_bytes);
  if (process.ok()) process->SendSpec(frame, /*keep_open=*/true);  // a cancel may follow
  return process;
}

void LocalRunnerBackend::Prepare(const RunRequest* like) {
  if (stopping_) return;
  if (options_.warm_runners && !warm_.has_value()) {
    auto idle = RunnerProcess::SpawnIdle(options_.runner_path, options_.limits);
    if (idle.ok()) {
      // The next job is likely to read the last one's data: the idle runner readies it.
      if (like != nullptr && like->spec != nullptr && !like->sandboxed.has_value()) {
        idle->SendSpec(PrefetchFrame(*like->spec), /*keep_open=*/true);
      }
      warm_.emplace(*std::move(idle));
    } else {
      spdlog::warn("no warm runner: {}", std::string(idle.status().message()));
    }
  }
  if (like == nullptr || !like->sandboxed.has_value() || !options_.warm_sandboxed_runners ||
      warm_sandboxed_.has_value()) {
    return;
  }
  const ProcessCommand& command = *like->sandboxed;
  if (options_.fork_servers) {
    auto server = ForkServer::Spawn(ForkServerCommand(command));
    if (server.ok()) {
      warm_sandboxed_.emplace(
          WarmSandboxed{command, like->source_hash, std::nullopt, *std::move(server)});
    } else {
      spdlog::warn("no fork server: {}", std::string(server.status().message()));
    }
    return;
  }
  auto idle = RunnerProcess::SpawnIdle(command, options_.limits.event_pipe_bytes);
  if (idle.ok()) {
    warm_sandboxed_.emplace(WarmSandboxed{command, like->source_hash, *std::move(idle), nullptr});
  } else {
    spdlog::warn("no warm Python runner: {}", std::string(idle.status().message()));
  }
}

}  // namespace backtest::jobs
