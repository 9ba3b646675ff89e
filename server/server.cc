#include "server/server.h"

#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "backtest/v1/preset_service.grpc.pb.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "grpc/health/v1/health.pb.h"
#include <filesystem>

#include "common/status_macros.h"
#include "db/database.h"
#include "db/user_store.h"
#include "server/api/auth.h"
#include "server/api/backtest_service.h"
#include "server/api/preset_service.h"
#include "server/api/rpc_interceptor.h"
#include "server/api/strategy_service.h"
#include "server/api/sweep_service.h"
#include "server/api/trace_service.h"
#include "server/jobs/job_manager.h"
#include "server/metrics/metrics_listener.h"
#include "server/metrics/server_metrics.h"
#include "server/readiness.h"

namespace backtest {
namespace {

constexpr const char* kServiceNames[] = {
    "backtest.v1.BacktestService",
    "backtest.v1.PresetService",
    "backtest.v1.TraceService",
    "backtest.v1.StrategyService",
    "backtest.v1.SweepService",
};

// While set, gRPC's error lines are dropped: Start reports a failed bind as one clear status.
std::atomic<bool> quiet_grpc_errors{false};

// The host part of "host:port" / "[v6]:port".
std::string HostOf(const std::string& listen) {
  size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

}  // namespace

std::string DefaultRunnerPath() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("backtest-runner") : (self.parent_path() / "backtest-runner").string();
}

std::string DefaultPython() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  // build/bin/backtestd or build/cmake/server/backtestd: the first folder up with venv/.
  for (std::filesystem::path dir = self.parent_path(); !ec && dir.has_relative_path();
       dir = dir.parent_path()) {
    std::filesystem::path venv = dir / "venv" / "bin" / "python";
    if (std::filesystem::exists(venv, ec)) return venv.string();
  }
  return "/usr/bin/python3";
}

namespace {

// Each job passes buffers of hundreds of KB through the server (a result frame, its row, stream
// batches). glibc maps blocks from 128 KB (a threshold it raises only after such a block is freed)
// and hands freed heap tops back to the kernel, so each job faulted those pages in anew: about a
// thousand page faults and a tenth of the server's CPU a job. Blocks up to 32 MB now come from
// the heap, and up to 128 MB of free heap top stays mapped for the next job.
void KeepBuffersMapped() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

}  // namespace

namespace {

// The job manager's share of the server's options.
jobs::JobManagerOptions JobOptionsFrom(const ServerOptions& options) {
  jobs::JobManagerOptions jobs;
  jobs.db_path = options.db_path;
  jobs.runner_path = options.runner_path.empty() ? DefaultRunnerPath() : options.runner_path;
  jobs.workers = options.workers;
  jobs.queue_capacity = options.queue_size;
  jobs.limits = {.cpu_seconds = options.cpu_seconds,
                 .memory_mb = options.memory_mb,
                 .event_pipe_bytes = jobs::EventPipeBytes(options.workers)};
  jobs.heartbeat_timeout_ms = options.heartbeat_timeout_ms;
  jobs.stale_job_ms = options.stale_job_ms;
  jobs.cancel_grace_ms = options.cancel_grace_ms;
  jobs.data_timeout_ms = options.data_timeout_ms;
  jobs.data_access = options.data_access;
  if (options.data_cache_mb > 0) {
    jobs.bar_cache_dir =
        std::filesystem::absolute(options.data_cache_dir.empty()
                                      ? std::filesystem::path(options.db_path).parent_path() /
                                            "data-cache"
                                      : std::filesystem::path(options.data_cache_dir))
            .string();
    jobs.bar_cache_bytes = options.data_cache_mb << 20;
  }
  jobs.subscriber_capacity = static_cast<size_t>(options.subscriber_buffer);
  jobs.trace_max_rows = options.trace_max_rows;
  jobs.trace_batch_size = options.trace_batch_size;
  jobs.sandbox.allow_unsandboxed = options.unsafe_no_sandbox;
  jobs.strategies.dir = options.strategy_dir;
  jobs.strategies.python =
      std::filesystem::absolute(options.python.empty() ? DefaultPython() : options.python)
          .string();
  jobs.strategies.warm_runners = options.warm_python_runners;
  jobs.strategies.fork_server = options.python_fork_server;
  jobs.sandbox.worker_uid_base = static_cast<uid_t>(options.sandbox_uid_base);
  jobs.quota = options.quota;
  jobs.runner_backend = options.runner_backend;
  jobs.slurm = options.slurm;
  jobs.now_ms = options.now_ms;
  return jobs;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  static const bool tuned = (KeepBuffersMapped(), true);
  (void)tuned;
  std::unique_ptr<Server> server(new Server());
  RETURN_IF_ERROR(ListenerCredentials(options).status());  // a bad file before anything opens
  RETURN_IF_ERROR(server->OpenDatabase(options));
  ASSIGN_OR_RETURN(server->jobs_, jobs::JobManager::Start(JobOptionsFrom(options)));
  if (options.retention.enabled()) {
    jobs::RetentionOptions retention = options.retention;
    if (!retention.now_ms) retention.now_ms = options.now_ms;
    ASSIGN_OR_RETURN(server->retention_,
                     jobs::RetentionWorker::Start(options.db_path, std::move(retention)));
  }
  RETURN_IF_ERROR(server->MakeServices(options));
  RETURN_IF_ERROR(server->Listen(options));
  RETURN_IF_ERROR(server->ServeMetrics(options));
  return server;
}

absl::Status Server::OpenDatabase(const ServerOptions& options) {
  ASSIGN_OR_RETURN(db_, db::Database::Open(options.db_path));
  spdlog::info("database {} (schema version {})", options.db_path, db_->schema_version());
  token_file_ = options.token_file.empty()
                    ? (std::filesystem::path(options.db_path).parent_path() / "admin.token")
                          .string()
                    : options.token_file;
  ASSIGN_OR_RETURN(auto users, db::UserStore::Create(db_.get()));
  ASSIGN_OR_RETURN(bool created, users->EnsureBootstrapAdmin(token_file_));
  if (created) spdlog::info("created staff user admin; its token is in {}", token_file_);
  return absl::OkStatus();
}

absl::Status Server::MakeServices(const ServerOptions& options) {
  ASSIGN_OR_RETURN(auth_, api::Authenticator::Create(options.db_path));
  auto backtest = std::make_unique<api::BacktestServiceImpl>(
      *jobs_, *auth_,
      api::TraceDefaults{.enabled = options.trace_enabled_default,
                         .sampling = options.trace_sampling});
  sweep_service_ = std::make_unique<api::SweepServiceImpl>(*jobs_, *auth_, *backtest,
                                                           options.max_sweep_combinations);
  backtest_service_ = std::move(backtest);
  preset_service_ =
      std::make_unique<api::PresetServiceImpl>(options.db_path, *auth_, &jobs_->strategies());
  replayer_ = std::make_unique<jobs::TraceReplayer>(*jobs_, options.trace_replay);
  trace_service_ =
      std::make_unique<api::TraceServiceImpl>(options.db_path, *auth_, replayer_.get());
  strategy_service_ = std::make_unique<api::StrategyServiceImpl>(jobs_->strategies(), *auth_);
  return absl::OkStatus();
}

absl::Status Server::Listen(const ServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  // Reflection describes what the generated descriptor pool holds. The default health service
  // encodes with upb, so grpc.health.v1 is there only from our copy of health.proto, which this
  // use links in: grpcurl can then call the health service without -proto flags.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Without this a second server could bind the same port (SO_REUSEPORT) and steal calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxSendMessageSize(options.max_send_mb << 20);
  // The REST bridge forwards every HTTP header (at most 16 KB) as metadata, some twice.
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 64 << 10);
  // Every call counted and timed by method and status code (/metrics) and logged (access log).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
  observers.push_back(
      std::make_unique<api::RpcInterceptorFactory>(auth_.get(), options.log_format == "json"));
  builder.experimental().SetInterceptorCreators(std::move(observers));
  int port = 0;
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   ListenerCredentials(options));
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.RegisterService(backtest_service_.get());
  builder.RegisterService(preset_service_.get());
  builder.RegisterService(trace_service_.get());
  builder.RegisterService(strategy_service_.get());
  builder.RegisterService(sweep_service_.get());
  quiet_grpc_errors = true;
  server_ = builder.BuildAndStart();
  quiet_grpc_errors = false;
  if (server_ == nullptr || port == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen, " (address in use, not local, or malformed)"));
  }
  port_ = port;
  address_ = absl::StrCat(HostOf(options.listen), ":", port);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus(true);  // live; each service's status is readiness
  std::function<int64_t()> now_ms = options.now_ms ? options.now_ms : [] {
    return absl::ToUnixMillis(absl::Now());
  };
  readiness_ = std::make_unique<Readiness>(
      [db = db_.get(), now_ms] { return db->ProbeWrite(now_ms()); },
      [health](bool ready) {
        for (const char* name : kServiceNames) health->SetServingStatus(name, ready);
      },
      options.readiness_probe_ms);
  readiness_->Start();
  spdlog::info("listening on {}", address_);
  return absl::OkStatus();
}

void Server::BeginDrain() {
  if (readiness_ != nullptr) readiness_->SetDraining();
  jobs_->Drain();
}

int Server::RunningJobs() { return static_cast<int>(jobs_->running_count()); }

void Server::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  StopMetrics();  // its gauges read the job manager
  if (server_ == nullptr) {
    retention_.reset();
    jobs_.reset();  // never started serving
    return;
  }
  readiness_.reset();  // its thread writes through db_ and sets the health of server_
  server_->GetHealthCheckService()->SetServingStatus(false);
  retention_.reset();  // stops between two of its transactions
  // Jobs first: running runners stop, channels close, so log streams end instead of waiting.
  jobs_->Shutdown();
  replayer_->Shutdown();  // calls waiting for a replay finish Unavailable
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_.reset();
  jobs_.reset();
  db_.reset();
  spdlog::info("stopped");
}

Server::~Server() { Shutdown(); }

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenerCredentials(
    const ServerOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  auto read = [](const char* setting, const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) text.clear();
    if (text.find("-----BEGIN ") == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(setting, ": cannot read a PEM file at ", path));
    }
    return text;
  };
  ASSIGN_OR_RETURN(std::string cert, read("tls.cert", options.tls_cert));
  ASSIGN_OR_RETURN(std::string key, read("tls.key", options.tls_key));
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!options.tls_client_ca.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, read("tls.client_ca", options.tls_client_ca));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({std::move(key), std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

namespace {
constexpr const char* kQueueDepth = "backtestd_queue_depth";
constexpr const char* kRunningJobs = "backtestd_running_jobs";
constexpr const char* kDatabaseWritable = "backtestd_database_writable";
}  // namespace

absl::Status Server::ServeMetrics(const ServerOptions& options) {
  if (options.metrics_listen.empty()) return absl::OkStatus();
  metrics::Registry& registry = metrics::ServerMetrics::Get().registry;
  jobs::JobManager* jobs = jobs_.get();
  registry.SetGaugeFunction(kQueueDepth, "Jobs waiting in the queue.",
                            [jobs] { return static_cast<double>(jobs->queued_count()); });
  registry.SetGaugeFunction(kRunningJobs, "Jobs running now.",
                            [jobs] { return static_cast<double>(jobs->running_count()); });
  Readiness* readiness = readiness_.get();
  registry.SetGaugeFunction(kDatabaseWritable,
                            "1 while the readiness probe's last write to the database succeeded.",
                            [readiness] { return readiness->database_writable() ? 1.0 : 0.0; });
  ASSIGN_OR_RETURN(metrics_, metrics::MetricsListener::Start(options.metrics_listen, registry));
  spdlog::info("metrics on http://{}/metrics", metrics_->address());
  return absl::OkStatus();
}

void Server::StopMetrics() {
  if (metrics_ == nullptr) return;
  metrics_.reset();
  metrics::Registry& registry = metrics::ServerMetrics::Get().registry;
  registry.SetGaugeFunction(kQueueDepth, "", nullptr);
  registry.SetGaugeFunction(kRunningJobs, "", nullptr);
  registry.SetGaugeFunction(kDatabaseWritable, "", nullptr);
}

const std::string& Server::metrics_address() const {
  static const std::string kNone;
  return metrics_ == nullptr ? kNone : metrics_->address();
}

namespace {

void GrpcLogToSpdlog(gpr_log_func_args* args) {
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      if (quiet_grpc_errors) break;
      spdlog::warn("grpc: {}", args->message);
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::debug("grpc: {}", args->message);
      break;
    default:
      spdlog::trace("grpc: {}", args->message);
      break;
  }
}

}  // namespace

void RouteGrpcLogsToSpdlog() { gpr_set_log_function(GrpcLogToSpdlog); }

}  // namespace backtest
