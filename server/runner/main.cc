// backtest-runner: runs one backtest in its own process. Reads a RunSpec frame on stdin, writes
// RunnerEvent frames to --events-fd; stdout and stderr are captured by the server as log lines.
// Applies its CPU and memory limits to itself before anything else. The job itself is
// runner_session.h's (shared with the SDK's Python runner).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <new>

#include "server/runner/runner_session.h"
#include "server/runner/sweep_session.h"

namespace {

[[noreturn]] void ExitNow(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  namespace runner = backtest::runner;
  int events_fd = 3;
  int64_t cpu_seconds = 0;
  int64_t memory_mb = 0;
  CLI::App app{"backtest-runner: runs one backtest (started by backtestd)"};
  app.add_option("--events-fd", events_fd, "file descriptor for event frames");
  app.add_option("--cpu-seconds", cpu_seconds, "CPU time limit (0: none)");
  app.add_option("--memory-mb", memory_mb, "address-space limit in MB (0: none)");
  CLI11_PARSE(app, argc, argv);

  runner::ApplyLimits(cpu_seconds, memory_mb);
  runner::InstallTermHandler();

  runner::EventWriter writer(events_fd);
  if (const char* slurm_job = std::getenv("SLURM_JOB_ID"); slurm_job != nullptr) {
    // A job step of the Slurm backend: say where, for the job's log.
    const char* step = std::getenv("SLURM_STEP_ID");
    const char* node = std::getenv("SLURMD_NODENAME");
    backtest::runner::v1::RunnerEvent where;
    where.mutable_started()->set_reference(std::string("slurm job ") + slurm_job + " step " +
                                           (step != nullptr ? step : "?") + " on node " +
                                           (node != nullptr ? node : "?"));
    writer.Write(where);
  }
  backtest::runner::v1::RunSpec spec;
  if (!runner::ReadSpec(&spec)) {
    runner::Fail(writer, "internal", "the runner could not read its job spec");
    return runner::kExitFailed;
  }
  try {
    int code;
    {
      runner::Heartbeat heartbeat(
          writer, spec.heartbeat_interval_ms() > 0 ? spec.heartbeat_interval_ms() : 500);
      backtest::engine::ParamValues params(spec.params().begin(), spec.params().end());
      code = spec.has_sweep() ? runner::RunSweep(writer, spec)
                              : runner::RunJob(writer, spec, params, nullptr);
      // The job ends when this process does: exit at once rather than free the result, the
      // market data and the event, and join the heartbeat thread (a millisecond or more on a
      // large run).
      if (code == 0) ExitNow(0);
    }
    return code;
  } catch (const std::bad_alloc&) {
    runner::Fail(writer, "resource", "out of memory");
    return runner::kExitFailed;
  }
}
