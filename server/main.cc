// backtestd: parse flags, start the server, wait for SIGINT/SIGTERM, shut down in order.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>

#include "server/cli/backup_command.h"
#include "server/cli/user_command.h"
#include "server/jobs/job_manager.h"
#include "server/server.h"

namespace {

// The server's own flags.
void AddServerFlags(CLI::App& app, backtest::ServerOptions& options, std::string& log_level) {
  app.add_option("--listen", options.listen, "host:port to listen on (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--db", options.db_path, "SQLite database file (created when missing)")
      ->capture_default_str();
  app.add_option("--token-file", options.token_file,
                 "where the first start writes the staff token (default: admin.token beside the "
                 "database)");
  app.add_option("--runner", options.runner_path,
                 "backtest-runner binary (default: the one beside backtestd)");
  app.add_option("--workers", options.workers, "backtests run at once (runner processes)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--queue-size", options.queue_size, "queued jobs at most; more are refused")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--cpu-seconds", options.cpu_seconds, "CPU time limit per job (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--memory-mb", options.memory_mb, "memory limit per job in MB (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--heartbeat-timeout-ms", options.heartbeat_timeout_ms,
                 "a runner silent for this long is killed and its job failed")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));
  app.add_option("--stale-job-ms", options.stale_job_ms,
                 "a running job whose stored heartbeat is older than this is failed as stale and "
                 "its runner killed")
      ->capture_default_str()
      ->check(CLI::Range(1000, 86400000));
  app.add_option("--cancel-grace-ms", options.cancel_grace_ms,
                 "time a cancelled runner gets between SIGTERM and SIGKILL")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  app.add_option("--data-timeout-ms", options.data_timeout_ms,
                 "time limit of one http(s) data fetch; past it the job fails naming the URL")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}));
  app.add_option("--data-root", options.data_access.roots,
                 "directory file:// data may come from (repeatable; default: data/ beside the "
                 "database)");
  app.add_option("--staff-data-root", options.data_access.staff_roots,
                 "more directories for staff users (repeatable)");
  app.add_option("--data-url-allow", options.data_access.url_allow,
                 "http(s) URL prefix or host name data may be fetched from (repeatable; default: "
                 "any public address)");
  app.add_option("--data-allow-network", options.data_access.allowed_networks,
                 "network whose loopback, private or link-local addresses may be fetched from, "
                 "e.g. 10.0.0.0/8 (repeatable)");
  app.add_option("--subscriber-buffer", options.subscriber_buffer,
                 "events a log subscriber may fall behind before it is cut off (it can resume)")
      ->capture_default_str()
      ->check(CLI::Range(16, 10000000));
  app.add_flag("--trace-enabled-default", options.trace_enabled_default,
               "record the decision trace unless a run says otherwise")
      ->envname("BOTS_TRACE_ENABLED_DEFAULT");
  app.add_option("--trace-max-rows", options.trace_max_rows,
                 "trace rows per run at most; past it the run goes on untraced")
      ->envname("BOTS_TRACE_MAX_ROWS")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app.add_option("--trace-batch-size", options.trace_batch_size, "trace rows per stored batch")
      ->envname("BOTS_TRACE_BATCH_SIZE")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--trace-sampling", options.trace_sampling,
                 "default: trace every Nth bar (events always)")
      ->envname("BOTS_TRACE_SAMPLING")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  app.add_flag("--unsafe-no-sandbox", options.unsafe_no_sandbox,
               "when bubblewrap is not usable, run strategies from users without the sandbox "
               "(as the server's user; rlimits and seccomp only) instead of refusing them");
  app.add_option("--strategy-dir", options.strategy_dir,
                 "strategy folder: one subfolder per user strategy (docs/strategies.md); "
                 "changes are picked up while the server runs")
      ->envname("BACKTEST_STRATEGY_DIR");
  app.add_option("--python", options.python,
                 "the Python with the backtestd SDK that describes and runs user strategies "
                 "(default: build/venv's)")
      ->envname("BACKTEST_RUNNER_PYTHON");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

// The maintenance subcommands: they work on the database directly; the server need not run.
struct Maintenance {
  CLI::App* user_add = nullptr;
  CLI::App* user_revoke = nullptr;
  CLI::App* user_list = nullptr;
  CLI::App* seed_sample = nullptr;
  CLI::App* backup = nullptr;
  backtest::cli::UserAddOptions add;
  backtest::cli::UserRevokeOptions revoke;
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
  m.backup->add_option("--step-pause-ms", m.backup_to.pause_ms, "pause between steps")
      ->capture_default_str()->check(CLI::Range(0, 10000));
}

// The exit status of the maintenance subcommand given, or nullopt when none was.
std::optional<int> RunMaintenance(Maintenance& m, const backtest::ServerOptions& options) {
  if (*m.user_add) {
    m.add.db_path = options.db_path;
    return backtest::cli::RunUserAdd(m.add, std::cout, std::cerr);
  }
  if (*m.user_revoke) {
    m.revoke.db_path = options.db_path;
    return backtest::cli::RunUserRevoke(m.revoke, std::cout, std::cerr);
  }
  if (*m.user_list) return backtest::cli::RunUserList(options.db_path, std::cout, std::cerr);
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

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("backtestd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  backtest::RouteGrpcLogsToSpdlog();
}

// Serves until SIGINT or SIGTERM, then shuts down in order.
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
  spdlog::info("received {}, shutting down", strsignal(signal_number));
  (*server)->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  backtest::ServerOptions options;
  std::string log_level = "info";
  CLI::App app{"backtestd: the backtest gRPC server"};
  AddServerFlags(app, options, log_level);
  // One line on a usage error, not CLI11's two.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("backtestd: ") + e.what() + " (see --help)\n";
  });
  Maintenance maintenance;
  AddMaintenanceCommands(app, maintenance);
  CLI11_PARSE(app, argc, argv);
  SetUpLogging(log_level);
  if (std::optional<int> status = RunMaintenance(maintenance, options)) return *status;
  return Serve(options);
}
