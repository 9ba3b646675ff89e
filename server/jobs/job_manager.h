// The job manager: a bounded queue of submitted jobs, a fixed pool of workers, and for each
// running job one runner, started by the worker's runner backend (runner_backend.h: a local
// process, or a Slurm job step; isolation: a crash, hang or memory blow-up in a backtest stays in
// its runner). Every event of a job is stored, then published on the job's channel.
//
// Thread-safe. Owned by the server; Shutdown (or the destructor) stops accepting, cancels running
// runners, joins the workers, and leaves queued jobs queued for the next start.
#ifndef BACKTEST_SERVER_JOBS_JOB_MANAGER_H_
#define BACKTEST_SERVER_JOBS_JOB_MANAGER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection_pool.h"
#include "db/dataset_store.h"
#include "db/job_store.h"
#include "db/reason_store.h"
#include "db/result_store.h"
#include "db/sweep_store.h"
#include "db/trace_store.h"
#include "server/engine/param_registry.h"
#include "server/jobs/bounded_queue.h"
#include "server/jobs/data_access.h"
#include "server/jobs/fork_server.h"
#include "server/jobs/job_channel.h"
#include "server/jobs/local_backend.h"
#include "server/jobs/runner_backend.h"
#include "server/jobs/runner_process.h"
#include "server/jobs/slurm.h"
#include "server/jobs/sandbox.h"
#include "server/jobs/strategy_catalog.h"
#include "server/jobs/submit_quota.h"

namespace backtest::jobs {

struct JobManagerOptions {
  std::string db_path;
  // The backtest-runner binary.
  std::string runner_path;
  int workers = 2;
  int queue_capacity = 64;
  RunnerLimits limits = {.cpu_seconds = 600, .memory_mb = 2048};
  int heartbeat_interval_ms = 500;
  // A running job whose runner sent nothing for this long is failed.
  int heartbeat_timeout_ms = 15000;
  // A running job whose stored heartbeat (jobs.heartbeat_ms) is older than this is failed as
  // stale and its runner killed (the seed's reconciler): the guard that reads the database, for
  // a job whose supervision has stopped. Heartbeats are stored every min(5 s, this / 4).
  int stale_job_ms = 60000;
  // After a polite SIGTERM, how long a cancelled runner has before SIGKILL.
  int cancel_grace_ms = 2000;
  // Total time limit of one http(s) data fetch; 0: the engine's default (300 s).
  int64_t data_timeout_ms = 0;
  // What a job's data_source may read (docs/data-access.md).
  DataAccessOptions data_access;
  // Where runners keep the CSV files they parsed (engine::BarCache), and how many bytes of them
  // at most; empty or 0: runners parse every file each time.
  std::string bar_cache_dir;
  int64_t bar_cache_bytes = 0;
  int64_t trace_max_rows = 250000;
  int trace_batch_size = 1000;
  // A job's stdout and stderr kept as log lines, at most (both together); past either bound the
  // rest is counted and dropped, and the job's log says so (OutputBudget).
  int64_t output_limit_lines = 100000;
  int64_t output_limit_bytes = 16 << 20;
  // The sandbox of user strategies, probed at Start (docs/sandbox.md); its exec_path defaults to
  // backtest-sandbox-exec beside runner_path.
  SandboxOptions sandbox;
  // The strategy folder (--strategy-dir) and the Python that describes and runs its strategies
  // (--python); described at Start, then watched for changes (StrategyCatalog).
  StrategyCatalogOptions strategies;
  // Events one stream subscriber may have waiting before it is cut off.
  size_t subscriber_capacity = 20000;
  // Per-user limits on submissions (jobs queued or running, submissions per minute).
  QuotaOptions quota;
  // Where built-in strategies' runners run: "local" (a process of this machine, warm runners)
  // or "slurm" (a job step through srun; docs/runner-backends.md).
  std::string runner_backend = "local";
  SlurmOptions slurm;
  // The clock (epoch milliseconds); injected so tests control time.
  std::function<int64_t()> now_ms;
};

// What a worker writes with, kept for all its jobs: its connection and the stores whose
// statements are compiled once (a job used to compile some twenty of them, ~0.5 ms of its path).
struct WorkerStores {
  explicit WorkerStores(db::Database& database)
      : db(database), jobs(database.connection()), results(database.connection()),
        datasets(database.connection()), sweeps(database.connection()) {}
  // The reason and trace stores, created at their first use.
  absl::StatusOr<db::ReasonStore*> reasons() { return Lazy(reasons_); }
  absl::StatusOr<db::TraceStore*> traces() { return Lazy(traces_); }

  db::Database& db;
  int worker = 0;  // the worker's number (its sandbox user, Sandbox::WorkerUid)
  db::JobStore jobs;
  db::ResultStore results;
  db::DatasetStore datasets;
  db::SweepStore sweeps;

 private:
  template <typename Store>
  absl::StatusOr<Store*> Lazy(std::unique_ptr<Store>& store) {
    if (store == nullptr) {
      auto created = Store::Create(&db);
      if (!created.ok()) return created.status();
      store = *std::move(created);
    }
    return store.get();
  }

  std::unique_ptr<db::ReasonStore> reasons_;
  std::unique_ptr<db::TraceStore> traces_;
};

// The controls of one running job, shared by its worker and the threads that stop it.
struct JobControl {
  std::atomic<bool> cancel_requested{false};
  // Set by the reconciler: the job's stored heartbeat is stale; its worker kills the runner.
  std::atomic<bool> stale{false};
};

class JobManager {
 public:
  // Recovers jobs left by a previous process (running → failed, queued → queued again) and
  // starts the workers.
  static absl::StatusOr<std::unique_ptr<JobManager>> Start(JobManagerOptions options);

  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Stores a queued job and returns it. ResourceExhausted (with a retry delay) when the queue is
  // full or the owner is over a quota (nothing is stored); Unavailable while shutting down.
  // With `sweep`, the job is a sweep (docs/sweeps.md): its row is stored (under the new job's id)
  // before the job, and the job runs its combinations instead of one backtest.
  // `request_id`: the submitting call's (x-request-id), kept in the job's record.
  absl::StatusOr<db::JobRecord> Submit(int64_t owner_id, const engine::ParamValues& params,
                                       const std::string& preset,
                                       const db::SweepRecord* sweep = nullptr,
                                       const std::string& request_id = "");

  // Cancels a queued job at once, or stops a running one (SIGTERM, then SIGKILL after the grace
  // period; its partial log is kept). FailedPrecondition when the job has already ended.
  absl::Status Cancel(const std::string& job_id);

  // The live channel of a queued or running job; nullptr once it has ended.
  std::shared_ptr<JobChannel> FindChannel(const std::string& job_id);

  // What a job of a user (or of a staff user) may read; also checked when it is submitted.
  const engine::DataPolicy& DataPolicyFor(bool staff) const {
    return staff ? data_policies_.staff : data_policies_.user;
  }

  db::ConnectionPool& pool() { return *pool_; }
  // The sandbox for user strategies, as probed at Start. Its Build is FailedPrecondition (with
  // the reason) when bubblewrap is not usable here and options().sandbox.allow_unsandboxed is
  // not set; the job path of a user strategy gives its runner backend *sandbox().Build(command).
  const Sandbox& sandbox() const { return *sandbox_; }
  // The strategy folder's strategies and the parameter registry with them: validate a job's
  // parameters with strategies().snapshot()->registry.
  const StrategyCatalog& strategies() const { return *strategies_; }
  const JobManagerOptions& options() const { return options_; }
  int64_t NowMs() const { return options_.now_ms(); }

  // Stops starting queued jobs (they stay queued for the next start) and refuses submissions
  // (Unavailable); running jobs go on to their end. Shutdown stops what is still running.
  void Drain();
  bool draining() const { return draining_; }

  // Work a user has under way besides their jobs (Explain replays, jobs::TraceReplayer): counted
  // with their queued and running jobs against quota.max_active_jobs_per_user by Submit.
  void AddActiveWork(int64_t owner_id, int delta);
  int ActiveWork(int64_t owner_id);

  void Shutdown();
  bool stopping() const { return shutting_down_; }
  // Jobs waiting in the queue and jobs running now (backtestd's metrics).
  size_t queued_count() { return queue_.size(); }
  size_t running_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return running_.size();
  }

  // A runner backend of the configured kind (runner_backend, with its warm runners), for one
  // worker; without warm runners for one-off runs (Explain replays) with `one_off`.
  std::unique_ptr<RunnerBackend> NewRunnerBackend(bool one_off = false) const;
  // The sandboxed Python runner of a run of `strategy` (a strategy of the strategy folder) with
  // `spec`: the folders its data policy lets it read visible read-only where they are, the
  // sandbox's limits (put in *limits), its events on the descriptor of the configured runner
  // backend (3 locally, 1 under srun), as `uid` when the server is root. FailedPrecondition
  // when the sandbox cannot run it.
  absl::StatusOr<ProcessCommand> StrategyRunnerCommand(
      const StrategyInfo& strategy, const backtest::runner::v1::RunSpec& spec,
      std::optional<uid_t> uid, SandboxLimits* limits) const;
  // Whether strategy-folder jobs are forked by fork servers: warm runners and fork servers on, and
  // the sandbox usable (an unsandboxed fork server could not clear a job's leftovers).
  bool UseForkServers() const;

  // The error of a job failed as stale.
  std::string StaleError() const;

 private:

  explicit JobManager(JobManagerOptions options)
      : options_(std::move(options)), queue_(options_.queue_capacity),
        quota_(options_.quota, [this] { return NowMs(); }) {}
  // Worker `worker` (0, 1, …): its jobs' sandboxes run as Sandbox::WorkerUid(worker).
  void WorkerLoop(int worker);
  // Copies the WAL back into the database file (and syncs it) off the workers' path: once a
  // second, and sooner when a worker's commit finds the WAL past kCheckpointPages (not after each
  // job: at dozens of jobs a second, one fsync each stalled the other writers of the disk and
  // made the tail latency). The workers' connections never checkpoint themselves.
  void CheckpointLoop();
  void RequestCheckpoint();
  // Every stale_job_ms / 4: running jobs whose stored heartbeat is older than stale_job_ms are
  // flagged for their worker to kill; one still running after twice that (its worker stopped
  // too), or supervised by no worker of this process, is failed here.
  void ReconcileLoop();
  void Reconcile(db::JobStore& store);
  // Runs one job with the worker's runner backend.
  void RunJob(const std::string& job_id, WorkerStores& stores, RunnerBackend& backend);
  std::shared_ptr<JobChannel> ChannelFor(const std::string& job_id, int64_t last_seq);
  void Forget(const std::string& job_id);

  JobManagerOptions options_;
  DataPolicies data_policies_;
  std::optional<Sandbox> sandbox_;
  std::unique_ptr<StrategyCatalog> strategies_;
  std::unique_ptr<db::ConnectionPool> pool_;
  BoundedQueue<std::string> queue_;
  SubmitQuota quota_;
  std::vector<std::thread> workers_;
  std::thread checkpointer_;
  std::thread reconciler_;
  std::mutex reconcile_mu_;
  std::condition_variable reconcile_cv_;  // wakes the reconciler to stop
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mu_
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> draining_{false};

  std::mutex submit_mu_;  // one submission at a time: the queue bound check and insert are atomic
  std::mutex work_mu_;
  std::map<int64_t, int> active_work_;  // by owner; guarded by work_mu_

  std::mutex mu_;  // guards channels_ and running_
  std::map<std::string, std::shared_ptr<JobChannel>> channels_;
  std::map<std::string, std::shared_ptr<JobControl>> running_;
};

// Runs one job to its end with a job manager of its own (no server): validates `params` like
// RunBacktest, submits, waits (at most `timeout_seconds`), and returns the job id whatever its end
// state. For maintenance commands such as `backtestd seed-sample`.
absl::StatusOr<std::string> RunOneJob(JobManagerOptions options, int64_t owner_id,
                                      const std::map<std::string, std::string>& params,
                                      int timeout_seconds = 300);

// A new unguessable job id: 32 lowercase hex digits (128 random bits).
std::string NewJobId();
// Whether `id` has the shape NewJobId makes.
bool IsValidJobId(absl::string_view id);

// Stores `events` for `job_id` with `update`, returning them with seqs assigned.
absl::Status StoreEvents(db::JobStore& store, const std::string& job_id,
                         const db::JobStore::Update& update, std::vector<JobEvent>& events);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_JOB_MANAGER_H_
