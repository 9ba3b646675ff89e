// The backtestd server: the database, the job manager, the gRPC services, health and reflection,
// started and stopped as one. Owned by main (or by a test); Start and Shutdown are called from one
// thread.
#ifndef BACKTEST_SERVER_SERVER_H_
#define BACKTEST_SERVER_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/jobs/data_access.h"
#include "server/jobs/retention_worker.h"
#include "server/jobs/slurm.h"
#include "server/jobs/submit_quota.h"
#include "server/jobs/trace_replay.h"

namespace grpc {
class Server;
class ServerCredentials;
class Service;
}

namespace backtest {
namespace db {
class Database;
}
namespace jobs {
class JobManager;
}
namespace api {
class Authenticator;
}
namespace metrics {
class MetricsListener;
}
class Readiness;

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see Server::port()).
  std::string listen = "127.0.0.1:50051";
  // SQLite database file; created and migrated when needed.
  std::string db_path = "var/backtest.db";
  // Where the first start writes the staff user's token; empty: admin.token beside the database.
  std::string token_file;
  // The backtest-runner binary; empty: the one beside this executable.
  std::string runner_path;
  int workers = 2;
  int queue_size = 64;
  int64_t cpu_seconds = 600;
  int64_t memory_mb = 2048;
  int heartbeat_timeout_ms = 15000;
  int stale_job_ms = 60000;
  int cancel_grace_ms = 2000;
  // Total time limit of one http(s) data fetch.
  int64_t data_timeout_ms = 300000;
  // What data_source may read: file:// roots, URL prefixes, allowed networks (docs/data-access.md).
  jobs::DataAccessOptions data_access;
  // Where runners keep the CSV files they parsed (empty: data-cache/ beside the database), and
  // its size in MB (0: no cache; docs/jobs.md, "The bar cache").
  std::string data_cache_dir;
  int64_t data_cache_mb = 1024;
  // Events a log subscriber may have waiting before it is cut off (it can resume).
  int subscriber_buffer = 20000;
  // Decision-trace settings (BOTS_TRACE_*).
  bool trace_enabled_default = false;
  int64_t trace_max_rows = 250000;
  int trace_batch_size = 1000;
  int64_t trace_sampling = 1;
  // Explain of bars without stored trace rows: replays (--trace-replay-max-bars;
  // docs/explain-replay.md).
  jobs::TraceReplayOptions trace_replay;
  // When bubblewrap is not usable, run strategies from users without the sandbox instead of
  // refusing them (--unsafe-no-sandbox; docs/sandbox.md).
  bool unsafe_no_sandbox = false;
  // The strategy folder (--strategy-dir): one subfolder per user strategy; empty: none.
  std::string strategy_dir;
  // The Python with the backtestd SDK that describes and runs them (--python,
  // BACKTEST_RUNNER_PYTHON); empty: DefaultPython().
  std::string python;
  // Each worker keeps a sandboxed Python runner warm for the strategy its last job of the folder
  // ran (jobs::StrategyCatalogOptions::warm_runners); off: every such job starts its interpreter.
  bool warm_python_runners = true;
  // That warm runner is a fork server forking a runner per job (jobs::StrategyCatalogOptions::
  // fork_server; docs/sandbox.md, "Fork server"); off: an idle runner per job.
  bool python_fork_server = true;
  // Worker N's sandboxes run as this uid + N when the server is root (--sandbox-uid-base;
  // jobs::SandboxOptions::worker_uid_base); 0: all as 65534.
  int64_t sandbox_uid_base = 1'900'000'000;
  // Retention of ended jobs (--keep-days, --db-size-budget-mb, --max-jobs-per-user,
  // --retention-interval-s; docs/retention.md): nothing is removed unless one of them is set.
  jobs::RetentionOptions retention;
  // Per-user limits on submissions (--max-active-jobs-per-user, --submissions-per-minute):
  // over one, RESOURCE_EXHAUSTED with a retry delay. 0: no limit.
  jobs::QuotaOptions quota;
  // Where runners of built-in strategies run: "local" or "slurm" (--runner-backend, and the
  // --slurm-* flags; docs/runner-backends.md).
  std::string runner_backend = "local";
  jobs::SlurmOptions slurm;
  // On SIGTERM, how long running jobs get to finish before they are stopped (and failed as
  // interrupted); meanwhile nothing new starts (--drain-grace-ms; docs/operations.md).
  int drain_grace_ms = 20000;
  // How often the readiness probe writes to the database (--readiness-probe-ms; server/readiness.h).
  int readiness_probe_ms = 5000;
  // The access log's line format: "text" or "json" (--log-format; docs/operations.md).
  std::string log_format = "text";
  // host:port of the HTTP listener serving /metrics; empty: no listener (--metrics-listen).
  std::string metrics_listen;
  // TLS for gRPC (PEM files). cert and key: the server speaks TLS only. client_ca: every client
  // must present a certificate this CA signed (mutual TLS). Empty cert: plaintext.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Largest message the server sends (a 1M-bar result is ~60 MB).
  int max_send_mb = 512;
  // Sweeps of more combinations are refused (--max-sweep-combinations; docs/sweeps.md).
  int64_t max_sweep_combinations = 100000;
  // The clock, epoch milliseconds (tests inject one); empty: the system clock.
  std::function<int64_t()> now_ms;
};

class Server {
 public:
  // Opens the database (creating the staff user and its token file on first start), recovers
  // jobs of a previous run, and starts serving. Errors: Unavailable when the database cannot be
  // opened or the address cannot be bound (in use, not local, malformed); FailedPrecondition when
  // the database is from a newer backtestd.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // host:port actually bound.
  const std::string& address() const { return address_; }
  // The file holding the bootstrap staff token.
  const std::string& token_file() const { return token_file_; }
  // host:port of the /metrics listener; empty without one.
  const std::string& metrics_address() const;
  jobs::JobManager& jobs() { return *jobs_; }
  jobs::TraceReplayer& trace_replayer() { return *replayer_; }

  // The first step of a graceful stop: every service reports NOT_SERVING in gRPC health (the
  // server's overall status stays SERVING: it is alive and answers), submissions are refused
  // (Unavailable), queued jobs stay queued for the next start, running jobs go on to their end.
  void BeginDrain();
  // Jobs whose runner is running now (0: a drain is done).
  int RunningJobs();

  // Reports NOT_SERVING, stops the jobs (running runners are stopped, queued jobs stay queued),
  // stops accepting calls and lets calls in flight finish (a few seconds at most), then closes
  // the database. Idempotent.
  void Shutdown();

 private:
  Server() = default;
  // The steps of Start besides the job manager: the database and the bootstrap staff user; the
  // gRPC services; the listening socket, health and reflection.
  absl::Status OpenDatabase(const ServerOptions& options);
  absl::Status MakeServices(const ServerOptions& options);
  absl::Status Listen(const ServerOptions& options);
  // The /metrics listener and the gauges read at scrape time; StopMetrics undoes both.
  absl::Status ServeMetrics(const ServerOptions& options);
  void StopMetrics();

  std::unique_ptr<db::Database> db_;
  std::unique_ptr<jobs::JobManager> jobs_;
  std::unique_ptr<jobs::RetentionWorker> retention_;  // null when no retention is configured
  std::unique_ptr<api::Authenticator> auth_;
  std::unique_ptr<grpc::Service> backtest_service_;
  std::unique_ptr<grpc::Service> preset_service_;
  std::unique_ptr<grpc::Service> trace_service_;
  std::unique_ptr<grpc::Service> strategy_service_;
  std::unique_ptr<jobs::TraceReplayer> replayer_;  // replays for trace_service_
  std::unique_ptr<grpc::Service> sweep_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Readiness> readiness_;  // probes through db_ on its own thread once listening
  std::unique_ptr<metrics::MetricsListener> metrics_;  // null without --metrics-listen
  std::string address_;
  std::string token_file_;
  int port_ = 0;
  bool shut_down_ = false;
};

// The backtest-runner beside the running executable.
std::string DefaultRunnerPath();
// The build's virtual environment's python: venv/bin/python in the nearest folder above this
// executable that has one (build/venv for build/bin/backtestd); /usr/bin/python3 when none has.
std::string DefaultPython();

// The gRPC listener's credentials: plaintext without tls_cert; TLS with tls_cert and tls_key;
// requiring client certificates signed by tls_client_ca when set. InvalidArgument naming the
// setting when a file cannot be read as PEM. (A key that does not match its certificate makes
// Start fail to listen.)
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenerCredentials(
    const ServerOptions& options);

// Routes gRPC's own log lines through spdlog (gRPC errors at warning level) instead of stderr.
void RouteGrpcLogsToSpdlog();

}  // namespace backtest

#endif  // BACKTEST_SERVER_SERVER_H_
