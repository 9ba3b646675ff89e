#include "server/config/settings.h"

#include <algorithm>
#include <cctype>

namespace backtest::config {
namespace {

// BACKTEST_ and the flag's name in capitals: --queue-size -> BACKTEST_QUEUE_SIZE.
std::string EnvironmentName(const std::string& flag) {
  std::string name = "BACKTEST_";
  for (char c : flag.substr(2)) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

std::vector<Setting> MakeSettings() {
  std::vector<Setting> s = {
      {"listen", "--listen", {}, "host:port to listen on (port 0 picks one)",
       [](DaemonConfig& c) -> Target { return &c.server.listen; }},
      {"db", "--db", {}, "SQLite database file (created when missing)",
       [](DaemonConfig& c) -> Target { return &c.server.db_path; }},
      {"token_file", "--token-file", {},
       "where the first start writes the staff token (empty: admin.token beside the database)",
       [](DaemonConfig& c) -> Target { return &c.server.token_file; }},
      {"runner.path", "--runner", {}, "backtest-runner binary (empty: the one beside backtestd)",
       [](DaemonConfig& c) -> Target { return &c.server.runner_path; }},
      {"jobs.workers", "--workers", {}, "backtests run at once (runner processes)",
       [](DaemonConfig& c) -> Target { return &c.server.workers; }, 1, 256},
      {"jobs.queue_size", "--queue-size", {}, "queued jobs at most; more are refused",
       [](DaemonConfig& c) -> Target { return &c.server.queue_size; }, 1, 1000000},
      {"jobs.max_sweep_combinations", "--max-sweep-combinations", {},
       "combinations one sweep may run; a larger sweep is refused with its count",
       [](DaemonConfig& c) -> Target { return &c.server.max_sweep_combinations; }, 1,
       100000000},
      {"jobs.cpu_seconds", "--cpu-seconds", {}, "CPU time limit per job (0: none)",
       [](DaemonConfig& c) -> Target { return &c.server.cpu_seconds; }, 0, INT64_MAX},
      {"jobs.memory_mb", "--memory-mb", {}, "memory limit per job in MB (0: none)",
       [](DaemonConfig& c) -> Target { return &c.server.memory_mb; }, 0, INT64_MAX},
      {"jobs.heartbeat_timeout_ms", "--heartbeat-timeout-ms", {},
       "a runner silent for this long is killed and its job failed",
       [](DaemonConfig& c) -> Target { return &c.server.heartbeat_timeout_ms; }, 100, 3600000},
      {"jobs.stale_job_ms", "--stale-job-ms", {},
       "a running job whose stored heartbeat is older than this is failed as stale and its "
       "runner killed",
       [](DaemonConfig& c) -> Target { return &c.server.stale_job_ms; }, 1000, 86400000},
      {"jobs.cancel_grace_ms", "--cancel-grace-ms", {},
       "time a cancelled runner gets between SIGTERM and SIGKILL",
       [](DaemonConfig& c) -> Target { return &c.server.cancel_grace_ms; }, 0, 600000},
      {"jobs.drain_grace_ms", "--drain-grace-ms", {},
       "on SIGTERM, how long running jobs get to finish before they are stopped; meanwhile no "
       "new job starts (0: stop them at once)",
       [](DaemonConfig& c) -> Target { return &c.server.drain_grace_ms; }, 0, 3600000},
      {"readiness_probe_ms", "--readiness-probe-ms", {},
       "how often a write to the database checks that it takes writes; while it does not, each "
       "service reports NOT_SERVING in gRPC health (the gateway's /readyz follows)",
       [](DaemonConfig& c) -> Target { return &c.server.readiness_probe_ms; }, 50, 600000},
      {"runner.backend", "--runner-backend", {},
       "where runners run: local (processes of this machine) or slurm (a job step each, "
       "through srun; a sweep a step per chunk of combinations)",
       [](DaemonConfig& c) -> Target { return &c.server.runner_backend; }, 0, 0,
       {"local", "slurm"}},
      {"slurm.partition", "--slurm-partition", {},
       "the Slurm partition of the runners' steps (empty: the cluster's default)",
       [](DaemonConfig& c) -> Target { return &c.server.slurm.partition; }},
      {"slurm.account", "--slurm-account", {}, "the Slurm account charged (empty: none)",
       [](DaemonConfig& c) -> Target { return &c.server.slurm.account; }},
      {"slurm.extra_args", "--slurm-arg", {},
       "one more srun argument, e.g. --constraint=avx2 (repeatable)",
       [](DaemonConfig& c) -> Target { return &c.server.slurm.extra_args; }},
      {"slurm.sweep_chunk", "--slurm-sweep-chunk", {},
       "a sweep's combinations per Slurm step (its chunks)",
       [](DaemonConfig& c) -> Target { return &c.server.slurm.sweep_chunk; }, 1, 1000000},
      {"slurm.sweep_steps", "--slurm-sweep-steps", {},
       "a sweep's Slurm steps running at once, at most",
       [](DaemonConfig& c) -> Target { return &c.server.slurm.sweep_steps; }, 1, 10000},
      {"slurm.sweep_cpus", "--slurm-sweep-cpus", {},
       "CPUs of each of a sweep's Slurm steps (its runner's workers)",
       [](DaemonConfig& c) -> Target { return &c.server.slurm.sweep_cpus; }, 1, 1024},
      {"jobs.subscriber_buffer", "--subscriber-buffer", {},
       "events a log subscriber may fall behind before it is cut off (it can resume)",
       [](DaemonConfig& c) -> Target { return &c.server.subscriber_buffer; }, 16, 10000000},
      {"data.timeout_ms", "--data-timeout-ms", {},
       "time limit of one http(s) data fetch; past it the job fails naming the URL",
       [](DaemonConfig& c) -> Target { return &c.server.data_timeout_ms; }, 100, 3600000},
      {"data.roots", "--data-root", {},
       "directories file:// data may come from (repeatable; empty: data/ beside the database)",
       [](DaemonConfig& c) -> Target { return &c.server.data_access.roots; }},
      {"data.staff_roots", "--staff-data-root", {},
       "more directories for staff users (repeatable)",
       [](DaemonConfig& c) -> Target { return &c.server.data_access.staff_roots; }},
      {"data.cache_dir", "--data-cache-dir", {},
       "where runners keep the CSV files they parsed, to read them back instead of parsing "
       "them again while a file is unchanged (empty: data-cache/ beside the database)",
       [](DaemonConfig& c) -> Target { return &c.server.data_cache_dir; }},
      {"data.cache_mb", "--data-cache-mb", {},
       "size of that cache in MB; the least recently used files go first (0: no cache)",
       [](DaemonConfig& c) -> Target { return &c.server.data_cache_mb; }, 0, 100000000},
      {"data.url_allow", "--data-url-allow", {},
       "http(s) URL prefixes or host names data may be fetched from (repeatable; empty: any "
       "public address)",
       [](DaemonConfig& c) -> Target { return &c.server.data_access.url_allow; }},
      {"data.allow_networks", "--data-allow-network", {},
       "networks whose loopback, private or link-local addresses may be fetched from, e.g. "
       "10.0.0.0/8 (repeatable)",
       [](DaemonConfig& c) -> Target { return &c.server.data_access.allowed_networks; }},
      // The seed's variables for the decision trace.
      {"trace.enabled_default", "--trace-enabled-default", {"BOTS_TRACE_ENABLED_DEFAULT"},
       "record the decision trace unless a run says otherwise",
       [](DaemonConfig& c) -> Target { return &c.server.trace_enabled_default; }},
      {"trace.max_rows", "--trace-max-rows", {"BOTS_TRACE_MAX_ROWS"},
       "trace rows per run at most; past it the run goes on untraced",
       [](DaemonConfig& c) -> Target { return &c.server.trace_max_rows; }, 1, 100000000},
      {"trace.batch_size", "--trace-batch-size", {"BOTS_TRACE_BATCH_SIZE"},
       "trace rows per stored batch",
       [](DaemonConfig& c) -> Target { return &c.server.trace_batch_size; }, 1, 100000},
      {"trace.sampling", "--trace-sampling", {"BOTS_TRACE_SAMPLING"},
       "default: trace every Nth bar (events always)",
       [](DaemonConfig& c) -> Target { return &c.server.trace_sampling; }, 1, 1000000},
      // Explain of bars without stored rows (docs/explain-replay.md).
      {"trace.replay_max_bars", "--trace-replay-max-bars", {"BACKTEST_TRACE_REPLAY_MAX_BARS"},
       "widest bar window a QueryTrace of an untraced run may replay",
       [](DaemonConfig& c) -> Target { return &c.server.trace_replay.max_window_bars; }, 1,
       100000},
      {"trace.replay_workers", "--trace-replay-workers", {"BACKTEST_TRACE_REPLAY_WORKERS"},
       "replays of untraced runs (for Explain) running at once",
       [](DaemonConfig& c) -> Target { return &c.server.trace_replay.workers; }, 1, 256},
      {"trace.replay_per_user", "--trace-replay-per-user", {"BACKTEST_TRACE_REPLAY_PER_USER"},
       "replays one user may have waiting or running",
       [](DaemonConfig& c) -> Target { return &c.server.trace_replay.per_user; }, 1, 1000},
      {"strategies.dir", "--strategy-dir", {},
       "strategy folder: one subfolder per user strategy (docs/strategies.md); changes are "
       "picked up while the server runs",
       [](DaemonConfig& c) -> Target { return &c.server.strategy_dir; }},
      {"strategies.python", "--python", {"BACKTEST_RUNNER_PYTHON"},
       "the Python with the backtestd SDK that describes and runs user strategies (empty: "
       "build/venv's)",
       [](DaemonConfig& c) -> Target { return &c.server.python; }},
      {"strategies.sandbox_uid_base", "--sandbox-uid-base", {},
       "a root server runs worker N's sandboxes as this uid + N, each worker's process count its "
       "own (docs/sandbox.md); 0: all as 65534. Two servers on one host want bases apart",
       [](DaemonConfig& c) -> Target { return &c.server.sandbox_uid_base; }, 0, 4'000'000'000},
      {"strategies.unsafe_no_sandbox", "--unsafe-no-sandbox", {},
       "when bubblewrap is not usable, run strategies from users without the sandbox (as the "
       "server's user; rlimits and seccomp only) instead of refusing them",
       [](DaemonConfig& c) -> Target { return &c.server.unsafe_no_sandbox; }},
      {"retention.keep_days", "--keep-days", {},
       "ended jobs older than this many days are removed (0: kept whatever their age)",
       [](DaemonConfig& c) -> Target { return &c.server.retention.policy.keep_days; }, 0,
       100000},
      {"retention.db_size_budget_mb", "--db-size-budget-mb", {},
       "database size in MB above which the oldest ended jobs are removed (0: no budget)",
       [](DaemonConfig& c) -> Target { return &c.db_size_budget_mb; }, 0, 100000000},
      {"retention.max_jobs_per_user", "--max-jobs-per-user", {},
       "ended jobs a user keeps; older ones beyond it are removed (0: no count)",
       [](DaemonConfig& c) -> Target { return &c.server.retention.policy.max_jobs_per_owner; },
       0, 100000000},
      {"retention.interval_s", "--retention-interval-s", {}, "seconds between retention passes",
       [](DaemonConfig& c) -> Target { return &c.retention_interval_s; }, 1, 86400 * 7},
      {"quota.max_active_jobs_per_user", "--max-active-jobs-per-user", {},
       "jobs one user may have queued or running at once; more are refused with a retry delay "
       "(0: no limit)",
       [](DaemonConfig& c) -> Target { return &c.server.quota.max_active_jobs_per_user; }, 0,
       1000000},
      {"quota.submissions_per_minute", "--submissions-per-minute", {},
       "submissions one user may make per minute, in bursts of up to as many; more are refused "
       "with a retry delay (0: no limit)",
       [](DaemonConfig& c) -> Target { return &c.server.quota.submissions_per_minute; }, 0,
       1000000},
      {"log.level", "--log-level", {}, "trace, debug, info, warn, error",
       [](DaemonConfig& c) -> Target { return &c.log_level; }, 0, 0,
       {"trace", "debug", "info", "warn", "error"}},
      {"log.format", "--log-format", {},
       "log lines as text or json (one object a line; the access log's fields at the top level)",
       [](DaemonConfig& c) -> Target { return &c.server.log_format; }, 0, 0, {"text", "json"}},
      {"tls.cert", "--tls-cert", {},
       "PEM certificate chain of the gRPC listener (empty: plaintext)",
       [](DaemonConfig& c) -> Target { return &c.server.tls_cert; }},
      {"tls.key", "--tls-key", {}, "PEM private key of tls.cert",
       [](DaemonConfig& c) -> Target { return &c.server.tls_key; }},
      {"tls.client_ca", "--tls-client-ca", {},
       "PEM CA certificates; when set, every client must present a certificate one of them "
       "signed (mutual TLS)",
       [](DaemonConfig& c) -> Target { return &c.server.tls_client_ca; }},
      {"metrics.listen", "--metrics-listen", {},
       "host:port of the HTTP listener serving /metrics (port 0 picks one; empty: none)",
       [](DaemonConfig& c) -> Target { return &c.server.metrics_listen; }},
  };
  for (Setting& setting : s) {
    if (setting.environment.empty()) setting.environment = {EnvironmentName(setting.flag)};
  }
  return s;
}

}  // namespace

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = MakeSettings();
  return settings;
}

const Setting* FindSetting(const std::string& key) {
  const std::vector<Setting>& settings = Settings();
  auto it = std::find_if(settings.begin(), settings.end(),
                         [&](const Setting& s) { return s.key == key; });
  return it == settings.end() ? nullptr : &*it;
}

}  // namespace backtest::config
