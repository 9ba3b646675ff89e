#include "server/jobs/slurm.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backtest/runner/v1/runner.pb.h"

extern char** environ;

namespace backtest::jobs {

std::string SlurmJobName(const std::string& job_id) { return "backtestd-" + job_id; }

absl::StatusOr<ProcessCommand> SlurmStepCommand(const SlurmOptions& options,
                                                std::vector<std::string> program,
                                                const RunnerLimits& limits,
                                                const std::string& job_id, int cpus) {
  ProcessCommand command;
  command.path = FindOnPath(options.srun);
  if (command.path.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "runner backend slurm: ", options.srun, " not found (install slurm-client)"));
  }
  command.args = {options.srun,
                  "--unbuffered",
                  "--quiet",
                  "--nodes=1",
                  "--ntasks=1",
                  absl::StrCat("--cpus-per-task=", std::max(1, cpus)),
                  absl::StrCat("--job-name=", SlurmJobName(job_id))};
  // Slurm schedules by what a step asks for; the runner enforces the same limit on itself.
  if (limits.memory_mb > 0) command.args.push_back(absl::StrCat("--mem=", limits.memory_mb, "M"));
  if (limits.cpu_seconds > 0) {
    // Slurm's time limit is in whole minutes of wall time: CPU seconds bound it from below.
    command.args.push_back(absl::StrCat("--time=", (limits.cpu_seconds + 59) / 60 + 1));
  }
  if (!options.partition.empty()) command.args.push_back("--partition=" + options.partition);
  if (!options.account.empty()) command.args.push_back("--account=" + options.account);
  for (const std::string& arg : options.extra_args) command.args.push_back(arg);
  command.args.push_back("--");
  for (std::string& arg : program) command.args.push_back(std::move(arg));
  for (char** e = environ; *e != nullptr; ++e) command.env.emplace_back(*e);
  command.events_on_stdout = true;
  command.kill_signal = SIGTERM;
  return command;
}

absl::StatusOr<ProcessCommand> SlurmRunnerCommand(const SlurmOptions& options,
                                                  const std::string& runner_path,
                                                  const RunnerLimits& limits,
                                                  const std::string& job_id, int cpus) {
  // Its events on stdout (srun carries stdin, stdout and stderr only); the runner then sends what
  // it prints to stdout as log events. Its limits come in its spec.
  return SlurmStepCommand(options, {runner_path, "--events-fd", "1"}, limits, job_id, cpus);
}

absl::Status CancelSlurmJobs(const SlurmOptions& options, const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return absl::OkStatus();
  const std::string scancel = FindOnPath(options.scancel);
  if (scancel.empty()) {
    return absl::UnavailableError(absl::StrCat(options.scancel, " not found"));
  }
  int failed = 0;
  for (const std::string& id : job_ids) {
    std::vector<std::string> args = {scancel, "--name=" + SlurmJobName(id)};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (int rc = posix_spawn(&pid, scancel.c_str(), nullptr, nullptr, argv.data(), environ);
        rc != 0) {
      return absl::UnavailableError(absl::StrCat("cannot run ", scancel, ": ", strerror(rc)));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  if (failed > 0) {
    return absl::UnavailableError(
        absl::StrCat("scancel failed for ", failed, " of ", job_ids.size(), " jobs"));
  }
  return absl::OkStatus();
}

namespace {

// A job step through srun. Terminate is SIGTERM to srun, which kills the step's runner and ends
// with it; a later Terminate sends srun SIGKILL only once srun has had kSrunCancelMs to do that
// (a job run terminates again and again while a cancelled run goes on: a SIGKILL right after the
// SIGTERM would leave the step running on the cluster until the runner ends by itself).
//
// Until its runner's first event (the hello) the step waits for the cluster's resources: srun
// is pending, and says nothing (--quiet).
class SlurmStepRun : public ProcessRun {
 public:
  using ProcessRun::ProcessRun;

  bool Pump(int timeout_ms, Listener& listener) override {
    if (started_) return ProcessRun::Pump(timeout_ms, listener);
    // Passes everything on, and notes the first event.
    struct FirstEvent : Listener {
      FirstEvent(Listener& to, bool& started) : to(to), started(started) {}
      void OnEvent(std::string event) override {
        started = true;
        to.OnEvent(std::move(event));
      }
      void OnOutput(const char* source, const char* data, size_t size) override {
        to.OnOutput(source, data, size);
      }
      void OnAlive() override { to.OnAlive(); }
      Listener& to;
      bool& started;
    } first(listener, started_);
    return ProcessRun::Pump(timeout_ms, first);
  }

  std::string waiting() const override {
    return started_ ? "" : "the Slurm step waits for the cluster's resources (srun pending)";
  }

  void Terminate() override {
    using Clock = std::chrono::steady_clock;
    if (terminated_ == Clock::time_point()) {
      terminated_ = Clock::now();
    } else if (Clock::now() - terminated_ < std::chrono::milliseconds(kSrunCancelMs)) {
      return;
    }
    ProcessRun::Terminate();  // SIGTERM (the command's kill_signal), then SIGKILL
  }

 private:
  static constexpr int kSrunCancelMs = 5000;
  std::chrono::steady_clock::time_point terminated_;
  bool started_ = false;  // the runner's first event came
};

}  // namespace

SlurmRunnerBackend::SlurmRunnerBackend(SlurmOptions slurm, LocalBackendOptions local)
    : slurm_(std::move(slurm)), options_(std::move(local)) {}

absl::StatusOr<std::unique_ptr<RunnerRun>> SlurmRunnerBackend::Start(const RunRequest& request) {
  // A strategy of the strategy folder: its sandbox's whole command line runs on the node
  // (backtest-sandbox-exec, bubblewrap, the Python runner with --events-fd 1: JobManager::
  // StrategyRunnerCommand), which needs them, the venv and the folder at the same paths there.
  const bool sandboxed = request.sandboxed.has_value();
  absl::StatusOr<ProcessCommand> command =
      sandboxed ? SlurmStepCommand(slurm_, request.sandboxed->args, options_.limits,
                                   request.job_id, request.cpus)
                : SlurmRunnerCommand(slurm_, options_.runner_path, options_.limits,
                                     request.job_id, request.cpus);
  if (!command.ok()) return command.status();
  // srun exits with its task's code: the sandbox's reports a signal N as 128 + N.
  command->signal_in_exit_code = sandboxed && request.sandboxed->signal_in_exit_code;
  absl::StatusOr<RunnerProcess> srun =
      RunnerProcess::SpawnIdle(*command, options_.limits.event_pipe_bytes);
  if (!srun.ok()) return srun.status();
  srun->SendSpec(SpecFrame(*request.spec), /*keep_open=*/true);  // a cancel may follow
  ProcessRun::Options run;
  // The reference until the runner says more (its job, step and node).
  run.reference =
      absl::StrCat("slurm step ", SlurmJobName(request.job_id), " (srun pid ", srun->pid(), ")");
  run.started_line = absl::StrCat("runner started: a Slurm job step named ",
                                  SlurmJobName(request.job_id), " (srun pid ", srun->pid(), ")");
  // A cancel goes to the runner through srun's stdin. Terminate is SIGTERM to srun, which
  // cancels the step (a SIGKILL would leave it running on the cluster;
  // ProcessCommand::kill_signal), and SIGKILL 5 s later (SlurmStepRun).
  run.limits = options_.limits;
  // A step or node that failed ends srun without the runner's end: srun's last error line
  // ("srun: error: n12: task 0: Killed", "… Node failure …") says which, in the job's error.
  auto srun_error = std::make_shared<std::string>();
  auto partial = std::make_shared<std::string>();
  run.on_stderr = [srun_error, partial](const char* data, size_t size) {
    partial->append(data, std::min<size_t>(size, 4096));
    size_t start = 0;
    for (size_t nl; (nl = partial->find('\n', start)) != std::string::npos; start = nl + 1) {
      absl::string_view line(partial->data() + start, nl - start);
      if (absl::StartsWith(line, "srun: error:") || absl::StartsWith(line, "slurmstepd: error:")) {
        *srun_error = std::string(line.substr(0, 300));
      }
    }
    partial->erase(0, start);
    if (partial->size() > 4096) partial->clear();  // a line that long is no error of srun's
  };
  run.describe_exit = [limits = options_.limits, sandboxed,
                       sandbox_limits = request.sandbox_limits, srun_error](const ExitInfo& exit) {
    RunnerEnd end = DescribeRunnerExit(exit, limits);
    if (sandboxed) end = DescribeSandboxedRunnerExit(exit, sandbox_limits);
    if (srun_error->empty()) return end;
    // srun exits 0 after a node failure ("srun: error: Node failure on n12"): its error is the
    // reason all the same.
    end.kind = RunnerEndKind::kFailed;
    end.reason = "slurm_step";
    end.message = absl::StrCat("the Slurm step failed (", *srun_error, ")",
                               end.message.empty() ? "" : "; ", end.message);
    return end;
  };
  return std::make_unique<SlurmStepRun>(*std::move(srun), std::move(run));
}

}  // namespace backtest::jobs
