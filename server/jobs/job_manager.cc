#include "server/jobs/job_manager.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "common/status_macros.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backtest/runner/v1/runner.pb.h"
#include "nlohmann/json.hpp"
#include "server/jobs/retry_delay.h"
#include "server/metrics/server_metrics.h"

namespace backtest::jobs {
namespace {

// WAL pages (4 KB) past which a worker's commit asks for a checkpoint before the second is up:
// a few jobs' results. Small, frequent checkpoints keep each one's copy and fsync short.
constexpr int kCheckpointPages = 1000;

// Probes the sandbox of user strategies and says in the server's log how they will run.
Sandbox DetectSandbox(const JobManagerOptions& o) {
  SandboxOptions options = o.sandbox;
  if (options.exec_path.empty()) {
    options.exec_path =
        (std::filesystem::path(o.runner_path).parent_path() / "backtest-sandbox-exec").string();
  }
  Sandbox sandbox = Sandbox::Detect(std::move(options));
  if (sandbox.usable()) {
    spdlog::info("sandbox for user strategies: bubblewrap ({})",
                  sandbox.privileged() ? "privileged" : "user namespace");
  } else if (sandbox.options().allow_unsandboxed) {
    spdlog::warn("sandbox not usable ({}); --unsafe-no-sandbox: user strategies run WITHOUT it, "
                 "as the server's user", sandbox.unusable_reason());
  } else {
    spdlog::warn("sandbox not usable ({}); user strategies are refused", sandbox.unusable_reason());
  }
  return sandbox;
}

}  // namespace

std::string NewJobId() {
  // std::random_device reads the kernel's CSPRNG on Linux.
  static thread_local std::random_device device;
  std::string id;
  id.reserve(32);
  for (int i = 0; i < 4; ++i) {
    uint32_t word = device();
    for (int b = 0; b < 8; ++b) {
      id += "0123456789abcdef"[word & 0xf];
      word >>= 4;
    }
  }
  return id;
}

bool IsValidJobId(absl::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::Status StoreEvents(db::JobStore& store, const std::string& job_id,
                         const db::JobStore::Update& update, std::vector<JobEvent>& events) {
  std::vector<db::EventRecord> records;
  records.reserve(events.size());
  for (const JobEvent& e : events) records.push_back(ToRecord(e));
  auto write_start = std::chrono::steady_clock::now();
  absl::Status s = store.Apply(job_id, update, records);
  if (!s.ok()) return s;
  metrics::ServerMetrics& m = metrics::ServerMetrics::Get();
  m.sqlite_write.With({"events"}).Observe(metrics::SecondsSince(write_start));
  m.events_written.Inc(static_cast<double>(records.size()));
  if (update.status) m.jobs.With({std::string(db::JobStatusName(*update.status))}).Inc();
  for (size_t i = 0; i < events.size(); ++i) events[i].seq = records[i].seq;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Start(JobManagerOptions options) {
  if (!options.now_ms) {
    options.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  std::unique_ptr<JobManager> manager(new JobManager(std::move(options)));
  const JobManagerOptions& o = manager->options_;
  ASSIGN_OR_RETURN(manager->data_policies_, ResolveDataAccess(o.data_access, o.db_path));
  manager->sandbox_ = DetectSandbox(o);
  manager->strategies_ = std::make_unique<StrategyCatalog>(o.strategies, &*manager->sandbox_);
  manager->strategies_->Refresh();
  manager->strategies_->StartWatching();
  auto pool = db::ConnectionPool::Open(o.db_path, o.workers + 4);
  if (!pool.ok()) return pool.status();
  manager->pool_ = *std::move(pool);
  {
    // Jobs a previous process left running are failed; queued ones are queued again.
    auto conn = manager->pool_->Acquire();
    db::JobStore& store = conn->jobs();
    ASSIGN_OR_RETURN(std::vector<db::JobRecord> running, store.JobsWithStatus(db::JobStatus::kRunning));
    std::string slurm_note;
    if (o.runner_backend == "slurm" && !running.empty()) {
      // Their steps may still run on the cluster, unseen by this server: cancel them first.
      std::vector<std::string> ids;
      for (const db::JobRecord& job : running) ids.push_back(job.id);
      absl::Status cancelled = CancelSlurmJobs(o.slurm, ids);
      if (cancelled.ok()) {
        slurm_note = "; its Slurm step was cancelled";
      } else {
        spdlog::error("cannot cancel the Slurm steps of {} interrupted jobs: {}", ids.size(),
                      std::string(cancelled.message()));
        slurm_note = "; cancelling its Slurm step failed (see the server log)";
      }
    }
    for (const db::JobRecord& job : running) {
      const int64_t now = o.now_ms();
      db::JobStore::Update update;
      update.from_statuses = {db::JobStatus::kRunning};
      update.pid = 0;
      std::vector<JobEvent> events;
      if (job.kind == "sweep") {
        // A sweep resumes: queued again, its stored rows kept and not run again (SweepRun).
        update.status = db::JobStatus::kQueued;
        events.push_back(LogEvent(now, "server", "warning",
                                  "interrupted by the server's end" + slurm_note +
                                      "; queued again: the sweep resumes, its rows stored so far "
                                      "kept"));
        events.push_back(StatusEvent(now, db::JobStatus::kQueued, ""));
        RETURN_IF_ERROR(StoreEvents(store, job.id, update, events));
        spdlog::warn("sweep {} was running when the server stopped; queued again to resume",
                     job.id);
        continue;
      }
      update.status = db::JobStatus::kFailed;
      update.error = "interrupted by server restart" + slurm_note;
      update.finished_ms = now;
      events.push_back(StatusEvent(now, db::JobStatus::kFailed, *update.error));
      RETURN_IF_ERROR(StoreEvents(store, job.id, update, events));
      spdlog::warn("job {} was running when the server stopped; marked failed", job.id);
    }
    ASSIGN_OR_RETURN(std::vector<db::JobRecord> queued, store.JobsWithStatus(db::JobStatus::kQueued));
    for (const db::JobRecord& job : queued) {
      manager->channels_[job.id] = std::make_shared<JobChannel>(job.id, job.last_seq);
      manager->queue_.PushUnbounded(job.id);
    }
    if (!queued.empty()) {
      spdlog::info("{} queued job(s) from the previous run queued again", queued.size());
    }
  }
  for (int i = 0; i < o.workers; ++i) {
    manager->workers_.emplace_back([m = manager.get(), i] { m->WorkerLoop(i); });
  }
  manager->checkpointer_ = std::thread([m = manager.get()] { m->CheckpointLoop(); });
  manager->reconciler_ = std::thread([m = manager.get()] { m->ReconcileLoop(); });
  return manager;
}

JobManager::~JobManager() { Shutdown(); }

void JobManager::Drain() {
  {
    // Under submit_mu_: a submission in progress is queued before the queue closes, or refused.
    std::lock_guard submit_lock(submit_mu_);
    draining_ = true;
  }
  // Workers finish their job and take no other: Pop answers nothing once the queue is closed.
  queue_.Close();
}

void JobManager::AddActiveWork(int64_t owner_id, int delta) {
  std::lock_guard lock(work_mu_);
  int& n = active_work_[owner_id];
  n += delta;
  if (n <= 0) active_work_.erase(owner_id);
}

int JobManager::ActiveWork(int64_t owner_id) {
  std::lock_guard lock(work_mu_);
  auto it = active_work_.find(owner_id);
  return it == active_work_.end() ? 0 : it->second;
}

void JobManager::Shutdown() {
  if (shutting_down_.exchange(true)) return;
  queue_.Close();
  if (strategies_ != nullptr) strategies_->Stop();
  {
    std::lock_guard lock(mu_);
    for (auto& [id, job] : running_) job->cancel_requested = true;
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  RequestCheckpoint();  // wakes it to see shutting_down_
  if (checkpointer_.joinable()) checkpointer_.join();
  {
    std::lock_guard lock(reconcile_mu_);  // the reconciler checks shutting_down_ under it
  }
  reconcile_cv_.notify_all();
  if (reconciler_.joinable()) reconciler_.join();
  // Channels of queued jobs: their subscribers get what was stored and an end of stream; the
  // jobs stay queued and run at the next start.
  std::map<std::string, std::shared_ptr<JobChannel>> channels;
  {
    std::lock_guard lock(mu_);
    channels.swap(channels_);
  }
  for (auto& [id, channel] : channels) channel->Close();
}

absl::StatusOr<db::JobRecord> JobManager::Submit(int64_t owner_id,
                                                 const engine::ParamValues& params,
                                                 const std::string& preset,
                                                 const db::SweepRecord* sweep,
                                                 const std::string& request_id) {
  std::lock_guard submit_lock(submit_mu_);
  if (shutting_down_) return absl::UnavailableError("the server is shutting down");
  if (draining_) {
    return WithRetryDelay(absl::UnavailableError("the server is stopping (draining its running "
                                                 "jobs) and takes no new ones; retry shortly"),
                          5000);
  }
  if (queue_.size() >= queue_.capacity()) {
    return WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "the job queue is full (", queue_.capacity(),
                              " jobs waiting); try again later")),
                          1000);
  }
  {
    // The user's own limits may set one where the server has none: read on every submission.
    auto conn = pool_->Acquire();
    auto owner = db::JobStore(conn->connection()).QuotaOf(owner_id);
    if (!owner.ok()) return owner.status();
    const QuotaOptions limits = quota_.options().For(owner->limits);
    if (limits.enabled()) {
      const int64_t under_way = owner->active_jobs + ActiveWork(owner_id);  // jobs and replays
      if (absl::Status s = quota_.Admit(owner_id, under_way, limits); !s.ok()) return s;
    }
  }
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [name, value] : params) values[name] = value;
  db::JobRecord job;
  job.id = NewJobId();
  job.owner_id = owner_id;
  job.status = db::JobStatus::kQueued;
  job.params_json = values.dump();
  job.preset = preset;
  job.created_ms = NowMs();
  job.request_id = request_id;
  if (sweep != nullptr) job.kind = "sweep";
  // A strategy of the folder: the code it has now is the code the job runs (or the job fails).
  if (auto strategy = params.find("strategy");
      strategy != params.end() && !engine::ParamRegistry::IsBuiltinStrategy(strategy->second)) {
    const std::shared_ptr<const StrategySnapshot> strategies = strategies_->snapshot();
    const StrategyInfo* info = strategies->Find(strategy->second);
    if (absl::Status s = strategies->CheckRunnable(strategy->second); !s.ok()) return s;
    if (info == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "strategy: ", strategy->second, " is not in the strategy folder (any more)"));
    }
    job.strategy_source_hash = info->source_hash;
  }
  std::vector<db::EventRecord> events = {ToRecord(StatusEvent(job.created_ms, db::JobStatus::kQueued, ""))};
  {
    auto conn = pool_->Acquire();
    db::JobStore& store = conn->jobs();
    db::SweepStore sweeps(conn->connection());
    if (sweep != nullptr) {
      db::SweepRecord record = *sweep;
      record.job_id = job.id;
      if (absl::Status s = sweeps.Insert(record); !s.ok()) return s;
    }
    absl::Status s = store.Insert(job, events);
    if (!s.ok()) {
      if (sweep != nullptr) (void)sweeps.Remove(job.id);  // a sweep row without its job
      return s;
    }
  }
  job.last_seq = events.back().seq;
  metrics::ServerMetrics::Get().jobs.With({"queued"}).Inc();
  ChannelFor(job.id, job.last_seq);
  if (!queue_.TryPush(job.id)) {
    // Cannot happen while submit_mu_ is held (only Submit pushes), except at shutdown: the job
    // stays queued in the store and runs at the next start.
    spdlog::warn("job {} stored but not queued (shutting down)", job.id);
  }
  return job;
}

absl::Status JobManager::Cancel(const std::string& job_id) {
  std::shared_ptr<JobChannel> channel;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(job_id); it != running_.end()) {
      it->second->cancel_requested = true;
      return absl::OkStatus();
    }
    if (auto it = channels_.find(job_id); it != channels_.end()) channel = it->second;
  }
  auto conn = pool_->Acquire();
  db::JobStore& store = conn->jobs();
  const int64_t now = NowMs();
  db::JobStore::Update update;
  update.status = db::JobStatus::kCancelled;
  update.from_statuses = {db::JobStatus::kQueued};
  update.error = "cancelled by user before it started";
  update.finished_ms = now;
  std::vector<JobEvent> events = {StatusEvent(now, db::JobStatus::kCancelled, *update.error)};
  absl::Status s;
  if (channel != nullptr) {
    s = channel->Commit(std::move(events), [&](std::vector<JobEvent>& e) {
      return StoreEvents(store, job_id, update, e);
    });
  } else {
    s = StoreEvents(store, job_id, update, events);
  }
  if (!s.ok()) {
    // A worker may have taken the job meanwhile: then it is running and the flag stops it.
    std::lock_guard lock(mu_);
    if (auto it = running_.find(job_id); it != running_.end()) {
      it->second->cancel_requested = true;
      return absl::OkStatus();
    }
    return s;
  }
  if (channel != nullptr) {
    channel->Close();
    Forget(job_id);
  }
  return absl::OkStatus();
}

std::shared_ptr<JobChannel> JobManager::FindChannel(const std::string& job_id) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(job_id);
  return it == channels_.end() ? nullptr : it->second;
}

std::shared_ptr<JobChannel> JobManager::ChannelFor(const std::string& job_id, int64_t last_seq) {
  std::lock_guard lock(mu_);
  auto& channel = channels_[job_id];
  if (channel == nullptr) channel = std::make_shared<JobChannel>(job_id, last_seq);
  return channel;
}

void JobManager::Forget(const std::string& job_id) {
  std::lock_guard lock(mu_);
  channels_.erase(job_id);
  running_.erase(job_id);
}

absl::StatusOr<std::string> RunOneJob(JobManagerOptions options, int64_t owner_id,
                                      const std::map<std::string, std::string>& params,
                                      int timeout_seconds) {
  options.workers = 1;
  auto manager = JobManager::Start(std::move(options));
  if (!manager.ok()) return manager.status();
  auto values = (*manager)->strategies().snapshot()->registry->Validate(
      params, (*manager)->NowMs() / 1000);
  if (!values.ok()) return values.status();
  auto job = (*manager)->Submit(owner_id, *values, "");
  if (!job.ok()) return job.status();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if ((*manager)->FindChannel(job->id) == nullptr) return job->id;  // ended
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("job ", job->id, " did not end within ", timeout_seconds, " s"));
}

void JobManager::WorkerLoop(int worker) {
  // A job's writes (its events, a result of up to megabytes) should not pay for copying the WAL
  // into the database and syncing it: the checkpointer does that.
  auto db = db::Database::Open(options_.db_path,
                               {.migrate = false, .wal_autocheckpoint_pages = 0});
  if (!db.ok()) {
    spdlog::error("worker cannot open the database: {}", std::string(db.status().message()));
    return;
  }
  // The checkpointer runs once a second, and sooner when the WAL has grown past kCheckpointPages.
  (*db)->OnWalCommit([this](int pages) {
    if (pages >= kCheckpointPages) RequestCheckpoint();
  });
  // One warm runner waits for each worker's next job (on the local backend), so that exec and
  // dynamic linking (several milliseconds) happen between jobs rather than in one. Still one
  // runner process per job.
  std::unique_ptr<RunnerBackend> backend = NewRunnerBackend();
  backend->Prepare();
  WorkerStores stores(**db);
  stores.worker = worker;
  while (auto job_id = queue_.Pop()) {
    RunJob(*job_id, stores, *backend);
    backend->Prepare();  // usually started already, when the job ended
  }
}

bool JobManager::UseForkServers() const {
  return options_.strategies.warm_runners && options_.strategies.fork_server &&
         sandbox_.has_value() && sandbox_->usable();
}

std::unique_ptr<RunnerBackend> JobManager::NewRunnerBackend(bool one_off) const {
  LocalBackendOptions local{.runner_path = options_.runner_path,
                            .limits = options_.limits,
                            .warm_runners = !one_off,
                            .warm_sandboxed_runners = !one_off && options_.strategies.warm_runners,
                            .fork_servers = !one_off && UseForkServers()};
  if (options_.runner_backend == "slurm") {
    return std::make_unique<SlurmRunnerBackend>(options_.slurm, std::move(local));
  }
  return std::make_unique<LocalRunnerBackend>(std::move(local), shutting_down_);
}

absl::StatusOr<ProcessCommand> JobManager::StrategyRunnerCommand(
    const StrategyInfo& strategy, const backtest::runner::v1::RunSpec& spec,
    std::optional<uid_t> uid, SandboxLimits* limits) const {
  // Its limits those of the sandbox (hard, set before it starts): the server's runner limits,
  // the sandbox's defaults for the rest.
  *limits = SandboxLimits{};
  limits->cpu_seconds = options_.limits.cpu_seconds;
  limits->memory_mb = options_.limits.memory_mb;
  std::vector<std::string> data_roots;
  for (const std::string& root : spec.data_policy().file_roots()) {
    std::error_code ec;
    if (std::filesystem::is_directory(root, ec)) data_roots.push_back(root);
  }
  // srun carries stdin, stdout and stderr only: under it the runner's events go to its stdout.
  const char* events_fd = options_.runner_backend == "slurm" ? "1" : "3";
  return sandbox_->Build({.args = {options_.strategies.python, "-m", "backtestd.runner",
                                   "--events-fd", events_fd, "--kind",
                                   strategy.kind},  // its adapter imported by a warm runner too
                          .strategy_dir = strategy.path,
                          .read_only_paths = std::move(data_roots),
                          .limits = *limits,
                          .uid = uid});
}

void JobManager::RequestCheckpoint() {
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_wanted_ = true;
  }
  checkpoint_cv_.notify_one();
}

void JobManager::CheckpointLoop() {
  auto db = db::Database::Open(options_.db_path, {.migrate = false});
  if (!db.ok()) {
    spdlog::error("checkpointer cannot open the database: {}", std::string(db.status().message()));
    return;
  }
  std::unique_lock lock(checkpoint_mu_);
  while (!shutting_down_) {
    checkpoint_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return checkpoint_wanted_; });
    checkpoint_wanted_ = false;
    if (shutting_down_) break;
    lock.unlock();
    if (absl::Status s = (*db)->CheckpointPassive(); !s.ok()) {
      spdlog::warn("{}", std::string(s.message()));
    }
    lock.lock();
  }
}

std::string JobManager::StaleError() const {
  return absl::StrFormat("stale: no heartbeat stored for %.1f s; its runner was killed",
                         options_.stale_job_ms / 1000.0);
}

void JobManager::ReconcileLoop() {
  const auto interval = std::chrono::milliseconds(std::max(1, options_.stale_job_ms / 4));
  std::unique_lock lock(reconcile_mu_);
  while (!reconcile_cv_.wait_for(lock, interval, [&] { return shutting_down_.load(); })) {
    lock.unlock();
    {
      auto conn = pool_->Acquire();
      db::JobStore& store = conn->jobs();
      Reconcile(store);
    }
    lock.lock();
  }
}

void JobManager::Reconcile(db::JobStore& store) {
  auto running = store.JobsWithStatus(db::JobStatus::kRunning);
  if (!running.ok()) {
    spdlog::warn("reconciler: {}", std::string(running.status().message()));
    return;
  }
  const int64_t now = NowMs();
  for (const db::JobRecord& job : *running) {
    const int64_t heard = job.heartbeat_ms.value_or(job.started_ms.value_or(job.created_ms));
    const int64_t silent = now - heard;
    if (silent <= options_.stale_job_ms) continue;
    std::shared_ptr<JobControl> control;
    {
      std::lock_guard lock(mu_);
      if (auto it = running_.find(job.id); it != running_.end()) control = it->second;
    }
    if (control != nullptr && silent <= 2 * int64_t{options_.stale_job_ms}) {
      if (!control->stale.exchange(true)) {
        spdlog::warn("job {}: no heartbeat stored for {} ms; killing its runner", job.id, silent);
      }
      continue;
    }
    // No worker here supervises it, or its worker has not ended it: the record is put right.
    db::JobStore::Update update;
    update.status = db::JobStatus::kFailed;
    update.from_statuses = {db::JobStatus::kRunning};
    update.error = StaleError();
    update.finished_ms = now;
    update.pid = 0;
    std::vector<JobEvent> events = {StatusEvent(now, db::JobStatus::kFailed, *update.error)};
    auto store_events = [&](std::vector<JobEvent>& e) {
      return StoreEvents(store, job.id, update, e);
    };
    // Through the job's channel when it has one: its subscribers get the end, and the channel's
    // sequence numbers stay those of the store.
    std::shared_ptr<JobChannel> channel = FindChannel(job.id);
    absl::Status s = channel != nullptr ? channel->Commit(std::move(events), store_events)
                                        : store_events(events);
    if (s.ok()) {
      spdlog::warn("job {}: failed as stale ({} ms without a stored heartbeat)", job.id, silent);
    } else if (!absl::IsFailedPrecondition(s)) {  // ended meanwhile: nothing to put right
      spdlog::warn("job {}: cannot fail it as stale: {}", job.id, std::string(s.message()));
    }
  }
}

}  // namespace backtest::jobs
