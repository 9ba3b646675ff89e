// backtestd: resolve the configuration (flags > environment > file > defaults; server/config),
// start the server, wait for SIGINT/SIGTERM, shut down in order.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>

#include "server/cli/backup_command.h"
#include "server/config/config.h"
#include "server/cli/user_command.h"
#include "server/jobs/job_manager.h"
#include "server/log_format.h"
#include "server/server.h"

namespace {

// The maintenance subcommands: they work on the database directly; the server need not run.
struct Maintenance {
  CLI::App* user_add = nullptr;
  CLI::App* user_revoke = nullptr;
  CLI::App* user_list = nullptr;
  CLI::App* user_limits = nullptr;
  CLI::App* seed_sample = nullptr;
  CLI::App* backup = nullptr;
  CLI::App* config = nullptr;
  backtest::cli::UserAddOptions add;
  backtest::cli::UserRevokeOptions revoke;
  backtest::cli::UserLimitsOptions limits;
  backtest::cli::SeedSampleOptions seed;
  backtest::cli::BackupCommandOptions backup_to;
};

void AddMaintenanceCommands(CLI::App& app, Maintenance& m) {
  app.fallthrough();
  CLI::App* user =
      app.add_subcommand("user", "manage users and their tokens")->require_subcommand(1);
  m.user_add = user->add_subcommand("add", "create a user and print its new token");
  m.user_add->add_option("name", m.add.name, "user name")->required();
  m.user_add->add_flag("--staff", m.add.staff, "staff users see every user's jobs");
  m.user_revoke = user->add_subcommand("revoke", "revoke a token, or every token of a user");
  m.user_revoke->add_option("token", m.revoke.token, "the token to revoke");
  m.user_revoke->add_option("--user", m.revoke.user, "revoke every token of this user");
  m.user_list = user->add_subcommand("list", "list users");
  m.user_limits = user->add_subcommand(
      "limits", "show or set a user's own quota (instead of the server's; 0: no limit)");
  m.user_limits->add_option("name", m.limits.name, "user name")->required();
  m.user_limits->add_option("--max-active-jobs", m.limits.max_active_jobs,
                            "jobs queued or running at once: N, or default (the server's)");
  m.user_limits->add_option("--submissions-per-minute", m.limits.submissions_per_minute,
                            "submissions per minute: N, or default (the server's)");
  m.seed_sample = app.add_subcommand(
      "seed-sample", "create a demo user with a traced run and print the ids to query");
  m.seed_sample->add_option("--user", m.seed.user, "user name")->capture_default_str();
  m.seed_sample->add_option("--symbol", m.seed.symbol, "symbol")->capture_default_str();
  m.seed_sample->add_option("--timeframe", m.seed.timeframe, "timeframe")->capture_default_str();
  m.seed_sample->add_option("--bar-index", m.seed.bar_index, "the bar to explain")
      ->capture_default_str();
  m.backup = app.add_subcommand(
      "backup", "copy the database while the server runs (SQLite's online backup)");
  m.backup->add_option("--to", m.backup_to.target, "the backup file (replaced when complete)")
      ->required();
  m.backup->add_option("--step-pages", m.backup_to.pages_per_step, "pages copied per step")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  m.config = app.add_subcommand(
      "config", "print the effective configuration and where each value came from");
  m.backup->add_option("--step-pause-ms", m.backup_to.pause_ms, "pause between steps")
      ->capture_default_str()->check(CLI::Range(0, 10000));
}

// The exit status of the maintenance subcommand given, or nullopt when none was.
std::optional<int> RunMaintenance(Maintenance& m, const backtest::config::DaemonConfig& config) {
  const backtest::ServerOptions& options = config.server;
  if (*m.config) {
    std::cout << backtest::config::Describe(config);
    return 0;
  }
  if (*m.user_add) {
    m.add.db_path = options.db_path;
    return backtest::cli::RunUserAdd(m.add, std::cout, std::cerr);
  }
  if (*m.user_revoke) {
    m.revoke.db_path = options.db_path;
    return backtest::cli::RunUserRevoke(m.revoke, std::cout, std::cerr);
  }
  if (*m.user_list) return backtest::cli::RunUserList(options.db_path, std::cout, std::cerr);
  if (*m.user_limits) {
    m.limits.db_path = options.db_path;
    return backtest::cli::RunUserLimits(m.limits, std::cout, std::cerr);
  }
  if (*m.backup) {
    m.backup_to.db_path = options.db_path;
    return backtest::cli::RunBackup(m.backup_to, std::cout, std::cerr);
  }
  if (*m.seed_sample) {
    m.seed.db_path = options.db_path;
    m.seed.grpc_address = options.listen;
    spdlog::set_level(spdlog::level::warn);
    return backtest::cli::RunSeedSample(
        m.seed,
        [&](const backtest::cli::SeedJobRequest& request) {
          backtest::jobs::JobManagerOptions jobs;
          jobs.db_path = options.db_path;
          jobs.runner_path = options.runner_path.empty() ? backtest::DefaultRunnerPath()
                                                         : options.runner_path;
          jobs.trace_max_rows = options.trace_max_rows;
          jobs.trace_batch_size = options.trace_batch_size;
          return backtest::jobs::RunOneJob(std::move(jobs), request.owner_id, request.params);
        },
        std::cout, std::cerr);
  }
  return std::nullopt;
}

// After SIGTERM: takes no new jobs and gives running ones up to `grace_ms` to finish; a second
// SIGTERM or SIGINT cuts the wait short.
void Drain(backtest::Server& server, int grace_ms, const sigset_t& stop_signals, int first) {
  server.BeginDrain();
  int running = server.RunningJobs();
  spdlog::info("received {}: draining ({} running jobs get up to {} ms to finish; a second "
               "signal stops them now)",
               strsignal(first), running, grace_ms);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (running > 0 && std::chrono::steady_clock::now() < deadline) {
    const timespec tick = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    if (const int again = sigtimedwait(&stop_signals, nullptr, &tick); again > 0) {
      spdlog::info("received {} again: stopping the running jobs now", strsignal(again));
      break;
    }
    running = server.RunningJobs();
  }
  if (running > 0) {
    spdlog::info("{} jobs still running: they are stopped and failed as interrupted", running);
  }
  spdlog::info("shutting down");
}

// Serves until SIGTERM (then drains) or SIGINT, then shuts down in order.
int Serve(const backtest::ServerOptions& options) {
  // Block the stop signals before gRPC starts its threads, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = backtest::Server::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "backtestd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  if (signal_number == SIGTERM) {
    Drain(**server, options.drain_grace_ms, stop_signals, signal_number);
  } else {
    // Ctrl-C at a terminal means now: running jobs are stopped (SIGTERM is the graceful stop).
    spdlog::info("received {}: shutting down now", strsignal(signal_number));
  }
  (*server)->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"backtestd: the backtest gRPC server"};
  backtest::config::CommandLine command_line;
  command_line.AddTo(app);
  // One line on a usage error, not CLI11's two.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("backtestd: ") + e.what() + " (see --help)\n";
  });
  Maintenance maintenance;
  AddMaintenanceCommands(app, maintenance);
  CLI11_PARSE(app, argc, argv);
  absl::StatusOr<backtest::config::DaemonConfig> config =
      backtest::config::Resolve(command_line.inputs());
  if (!config.ok()) {
    std::fprintf(stderr, "backtestd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  backtest::SetUpLogging(config->log_level, config->server.log_format);
  backtest::RouteGrpcLogsToSpdlog();
  if (std::optional<int> status = RunMaintenance(maintenance, *config)) return *status;
  return Serve(config->server);
}
