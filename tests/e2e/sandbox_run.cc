// sandbox_run: runs one command in the sandbox of user strategies, as backtestd will
// (Sandbox::Detect, Sandbox::Build, RunnerProcess::Spawn), to its end, and prints how it ended as
// one JSON object. For tests/e2e/sandbox_e2e.sh, which feeds it hostile programs.
//
//   sandbox_run [--strategy-dir DIR] [--cpu-seconds N] [--memory-mb N] [--processes N]
//               [--open-files N] [--file-size-mb N] [--tmp-mb N] [--timeout-s S]
//               [--max-lines N] [--max-bytes N] [--env NAME=VALUE]... [--stdin TEXT]
//               [--log FILE] [--bwrap PATH] [--uid U --gid G] [--unsafe-no-sandbox]
//               -- PROGRAM [ARGS...]
//
// The JSON: end (ok | failed | refused), sandboxed, reason, exit_code, signal, cpu_seconds (of
// every process of the sandbox), wall_seconds,
// stdout_lines, stderr_lines, last_stderr, kept_bytes, dropped_lines, dropped_bytes,
// event_bytes. --log writes the kept lines ("stdout: …", "stderr: …"). Exit status 0 when the
// command ended with 0, 1 when it failed, 3 when the sandbox refused to run it.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/jobs/sandbox.h"
#include "tests/testing/run_process.h"

int main(int argc, char** argv) {
  using backtest::jobs::Sandbox;
  backtest::jobs::SandboxOptions options;
  backtest::jobs::SandboxedCommand command;
  double timeout_s = 120;
  int64_t max_lines = 100000, max_bytes = 16 << 20;
  std::vector<std::string> env;
  std::string stdin_text, log_path;
  CLI::App app{"sandbox_run: one command in backtestd's sandbox of user strategies"};
  app.add_option("--strategy-dir", command.strategy_dir, "shown read-only at /strategy");
  app.add_option("--cpu-seconds", command.limits.cpu_seconds)->capture_default_str();
  app.add_option("--memory-mb", command.limits.memory_mb)->capture_default_str();
  app.add_option("--processes", command.limits.processes)->capture_default_str();
  app.add_option("--open-files", command.limits.open_files)->capture_default_str();
  app.add_option("--file-size-mb", command.limits.file_size_mb)->capture_default_str();
  app.add_option("--tmp-mb", command.limits.tmp_mb)->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "wall-clock limit; killed past it")
      ->capture_default_str();
  app.add_option("--max-lines", max_lines, "stdout+stderr lines kept")->capture_default_str();
  app.add_option("--max-bytes", max_bytes, "stdout+stderr bytes kept")->capture_default_str();
  app.add_option("--env", env, "NAME=VALUE for the command (repeatable)");
  app.add_option("--stdin", stdin_text, "what the command reads on stdin");
  app.add_option("--log", log_path, "file for the kept stdout and stderr lines");
  app.add_option("--bwrap", options.bwrap_path)->capture_default_str();
  app.add_option("--uid", options.uid, "the sandbox's user when run as root")->capture_default_str();
  app.add_option("--gid", options.gid, "the sandbox's group when run as root")->capture_default_str();
  app.add_flag("--unsafe-no-sandbox", options.allow_unsandboxed);
  app.add_option("command", command.args, "PROGRAM [ARGS...] after --")->required();
  // A flag given twice takes the last value (the test script's defaults, then one run's own).
  for (CLI::Option* option : app.get_options()) {
    if (option->get_name() != "--env") option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CLI11_PARSE(app, argc, argv);
  for (const std::string& e : env) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos) {
      std::cerr << "sandbox_run: --env wants NAME=VALUE: " << e << "\n";
      return 2;
    }
    command.env.emplace_back(e.substr(0, eq), e.substr(eq + 1));
  }
  options.exec_path =
      (std::filesystem::canonical("/proc/self/exe").parent_path() / "backtest-sandbox-exec")
          .string();

  nlohmann::json out;
  Sandbox sandbox = Sandbox::Detect(options);
  out["sandboxed"] = sandbox.usable();
  auto spawn = sandbox.Build(command);
  if (!spawn.ok()) {
    out["end"] = "refused";
    out["reason"] = std::string(spawn.status().message());
    std::cout << out.dump() << "\n";
    return 3;
  }
  auto process = backtest::jobs::RunnerProcess::Spawn(*spawn, 0, stdin_text);
  if (!process.ok()) {
    out["end"] = "refused";
    out["reason"] = std::string(process.status().message());
    std::cout << out.dump() << "\n";
    return 3;
  }
  backtest::testing::ProcessRun run =
      backtest::testing::RunToEnd(*process, timeout_s, max_lines, max_bytes);
  std::string reason =
      run.timed_out ? absl::StrCat("killed at the wall-clock limit of ", timeout_s, " s")
                    : backtest::jobs::DescribeSandboxedExit(run.exit, command.limits);
  const std::string last_stderr = run.stderr_lines.empty() ? "" : run.stderr_lines.back();
  // Like a job's error: how it ended, and what it said last (a Python exception's last line).
  if (!reason.empty() && !last_stderr.empty()) absl::StrAppend(&reason, ": ", last_stderr);
  int64_t kept_bytes = 0;
  std::ofstream log;
  if (!log_path.empty()) log.open(log_path);
  for (const auto* lines : {&run.stdout_lines, &run.stderr_lines}) {
    for (const std::string& line : *lines) {
      kept_bytes += static_cast<int64_t>(line.size());
      if (log.is_open()) log << (lines == &run.stdout_lines ? "stdout: " : "stderr: ") << line << "\n";
    }
  }
  out["end"] = reason.empty() ? "ok" : "failed";
  out["reason"] = reason;
  out["exit_code"] = run.exit.exited ? run.exit.code : -1;
  out["signal"] = run.exit.exited ? "" : backtest::jobs::DescribeSignal(run.exit.signal);
  out["cpu_seconds"] = run.exit.cpu_seconds;
  out["wall_seconds"] = run.wall_seconds;
  out["stdout_lines"] = run.stdout_lines.size();
  out["stderr_lines"] = run.stderr_lines.size();
  out["last_stderr"] = last_stderr;
  out["kept_bytes"] = kept_bytes;
  out["dropped_lines"] = run.dropped_lines;
  out["dropped_bytes"] = run.dropped_bytes;
  out["event_bytes"] = run.event_bytes;
  std::cout << out.dump() << "\n";
  return reason.empty() ? 0 : 1;
}
