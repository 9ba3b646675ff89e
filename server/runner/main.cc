// backtest-runner: runs one backtest in its own process (docs/runner-protocol.md). Says hello on
// --events-fd, reads a ServerMessage with its RunSpec on stdin, applies the spec's CPU and memory
// limits to itself, runs the job and writes RunnerEvent frames to --events-fd, the last one its
// RunEnd; a CancelRequest on stdin (or SIGTERM) stops it at the next bar. stdout and stderr are
// captured by the server as log lines (with --events-fd 1, as under srun, stdout goes out as log
// events). The job itself is runner_session.h's (shared with the SDK's Python runner).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
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
  CLI::App app{"backtest-runner: runs one backtest (started by backtestd)"};
  app.add_option("--events-fd", events_fd, "file descriptor for event frames");
  CLI11_PARSE(app, argc, argv);

  runner::InstallTermHandler();
  runner::EventWriter writer(runner::StdoutCapture::EventsFd(events_fd));
  runner::SendHello(writer, "backtest-runner");
  runner::StdoutCapture capture(writer);
  runner::ServerChannel server;
  backtest::runner::v1::RunSpec spec;
  if (!server.ReadSpec(&spec, [&server](const auto& like) { runner::Prefetch(like, &server); })) {
    runner::Fail(writer, "internal", "the runner could not read its job spec");
    return runner::kExitFailed;
  }
  if (absl::Status s = runner::AcceptSpec(spec); !s.ok()) {
    runner::Fail(writer, "internal", std::string(s.message()));
    return runner::kExitFailed;
  }
  try {
    int code;
    {
      // Its thread also watches stdin for the server's cancel.
      runner::Heartbeat heartbeat(
          writer, spec.heartbeat_interval_ms() > 0 ? spec.heartbeat_interval_ms() : 500, &server);
      backtest::engine::ParamValues params(spec.params().begin(), spec.params().end());
      code = spec.has_sweep() ? runner::RunSweep(writer, spec)
                              : runner::RunJob(writer, spec, params, nullptr);
      // The job ends when this process does: exit at once rather than free the result, the
      // market data and the event, and join the heartbeat thread (a millisecond or more on a
      // large run).
      if (code == 0) {
        runner::Finish(writer);
        ExitNow(0);
      }
    }
    return code;
  } catch (const std::bad_alloc&) {
    const int64_t limit = spec.limits().memory_mb();
    runner::Fail(writer, "resource",
                 limit > 0 ? absl::StrCat("memory limit of ", limit, " MB exceeded")
                           : "out of memory");
    return runner::kExitFailed;
  }
}
