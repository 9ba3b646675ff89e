#include "server/jobs/trace_replay.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backtest/runner/v1/runner.pb.h"
#include "common/status_macros.h"
#include "db/dataset_store.h"
#include "db/result_store.h"
#include "server/engine/param_registry.h"
#include "server/jobs/retry_delay.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/run_spec.h"
#include "server/jobs/runner_event_reader.h"

namespace backtest::jobs {
namespace {

constexpr int kPollMs = 50;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What a replay's runner sent: its trace rows and its result's facts (digest, dataset hashes).
class ReplaySink : public RunnerEventReader::Sink {
 public:
  void FlushQueued() override {}
  absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>& rows) override {
    rows_.insert(rows_.end(), rows.begin(), rows.end());
    return absl::OkStatus();
  }
  absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent&) override {
    return absl::InvalidArgumentError("a replay sends no candles");
  }
  absl::Status StoreResult(std::string, const backtest::runner::v1::RunOutput& facts) override {
    facts_ = facts;
    return absl::OkStatus();
  }

  TraceRows& rows() { return rows_; }
  const backtest::runner::v1::RunOutput& facts() const { return facts_; }

 private:
  TraceRows rows_;
  backtest::runner::v1::RunOutput facts_;
};

// Takes a replay's events (its log lines and its runner's output are not kept: the job's own
// log has them).
class ReplayListener : public RunnerRun::Listener {
 public:
  explicit ReplayListener(RunnerEventReader& reader) : reader_(reader) {}
  void OnEvent(std::string event) override {
    reader_.Handle(std::move(event));
    reader_.TakeQueued();
    reader_.TakeUpdate();
  }
  void OnOutput(const char*, const char*, size_t) override {}

 private:
  RunnerEventReader& reader_;
};

// Runs `spec` in a runner of the configured backend (a backend of its own, without warm runners) and
// reads its events to the end: the runner's failure, a protocol error, a crash, the timeout or
// `stopping` is the replay's error.
absl::Status RunReplayRunner(JobManager& jobs, const backtest::runner::v1::RunSpec& spec,
                             std::optional<ProcessCommand> sandboxed, int64_t timeout_ms,
                             const std::atomic<bool>& stopping, ReplaySink& sink) {
  std::unique_ptr<RunnerBackend> backend = jobs.NewRunnerBackend(/*one_off=*/true);
  RunRequest request{.job_id = spec.job_id(), .spec = &spec, .sandboxed = std::move(sandboxed)};
  ASSIGN_OR_RETURN(std::unique_ptr<RunnerRun> runner, backend->Start(request));
  RunnerEventReader reader(sink, NowMs, /*heartbeat_persist_ms=*/INT64_MAX);
  ReplayListener listener(reader);
  const int64_t deadline = NowMs() + timeout_ms;
  bool timed_out = false;
  bool killed = false;
  while (runner->Pump(kPollMs, listener)) {
    const bool bad_stream = !reader.protocol_error().empty() || !reader.store_error().empty();
    if (!killed && (stopping || NowMs() > deadline || bad_stream)) {
      timed_out = NowMs() > deadline;
      runner->Terminate();
      killed = true;
    }
  }
  const RunnerEnd end = runner->Finish();
  if (stopping) return absl::UnavailableError("the server is shutting down");
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("the replay took longer than ", timeout_ms / 1000, " s and was stopped"));
  }
  if (!reader.store_error().empty()) return absl::InternalError(reader.store_error());
  if (!reader.protocol_error().empty()) {
    return absl::InternalError(absl::StrCat("replay runner: ", reader.protocol_error()));
  }
  if (end.kind == RunnerEndKind::kFinished && reader.got_result()) return absl::OkStatus();
  if (end.reason == "run_error" || end.kind == RunnerEndKind::kLimitExceeded) {
    return absl::FailedPreconditionError(absl::StrCat("the replay failed: ", end.message));
  }
  return absl::InternalError(absl::StrCat(
      "the replay: ", end.message.empty() ? "the runner ended without a result" : end.message));
}

// What the stored run was: its job, digest and datasets.
struct StoredRun {
  db::JobRecord job;
  std::string digest;
  std::vector<db::DatasetKey> datasets;  // in the order of its symbols; empty for formats 1-3
};

absl::StatusOr<StoredRun> LoadStoredRun(JobManager& jobs, const std::string& job_id) {
  db::ConnectionPool::Lease lease = jobs.pool().Acquire();
  StoredRun run;
  db::JobStore job_store(lease->connection());
  ASSIGN_OR_RETURN(run.job, job_store.Get(job_id));
  if (run.job.status != db::JobStatus::kFinished) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is ", db::JobStatusName(run.job.status),
                     ": only a finished run can be replayed"));
  }
  db::ResultStore results(lease->connection());
  RETURN_IF_ERROR(results.Read(job_id, [&](const db::ResultRecord& record, absl::string_view) {
    run.digest = record.digest;
    return absl::OkStatus();
  }));
  db::DatasetStore datasets(lease->connection());
  ASSIGN_OR_RETURN(run.datasets, datasets.KeysOfResult(job_id));
  return run;
}

std::string Short(const std::string& hash) { return hash.substr(0, 12); }

// Why a replay's digest differs from the stored run's: the symbol whose data changed when the
// datasets tell, else the digests.
absl::Status DigestMismatch(const StoredRun& run, const backtest::runner::v1::RunOutput& facts) {
  for (size_t i = 0; i < run.datasets.size() && i < static_cast<size_t>(facts.series_size()); ++i) {
    const auto& series = facts.series(static_cast<int>(i));
    if (series.dataset() != run.datasets[i].hash) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot replay job ", run.job.id, ": the data of ", series.symbol(),
          " has changed since the run (dataset ", Short(run.datasets[i].hash), "… then, ",
          Short(series.dataset()), "… now): its trace can no longer be made"));
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot replay job ", run.job.id, ": the replay's result digest ", Short(facts.digest()),
      "… differs from the stored run's ", Short(run.digest),
      "… (its data or the engine has changed since the run)"));
}

// For a strategy of the strategy folder: its code into the spec (the source hash it was submitted
// with: the runner refuses a folder changed since) and the sandboxed Python runner's command line,
// as the job's own run had (JobRun::StartRunner). FailedPrecondition when it has left the folder.
absl::StatusOr<ProcessCommand> PrepareExternal(JobManager& jobs, const db::JobRecord& job,
                                               backtest::runner::v1::RunSpec* spec) {
  const std::string& name = spec->params().at("strategy");
  std::shared_ptr<const StrategySnapshot> strategies = jobs.strategies().snapshot();
  const StrategyInfo* info = strategies->Find(name);
  if (info == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot replay job ", job.id, ": its strategy ", name,
        " is not in the strategy folder any more"));
  }
  if (info->kind == "backtrader") {
    // Its adapter writes no trace rows: a replay would run the bot for nothing.
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot explain a bar of job ", job.id, ": ", name,
        " is a backtrader bot, which writes no decision trace (docs/strategies.md)"));
  }
  auto* external = spec->mutable_external_strategy();
  external->set_kind(info->kind);
  external->set_path(jobs.sandbox().VisibleStrategyDir(info->path));
  external->set_entry(info->entry);
  external->set_source_hash(job.strategy_source_hash.empty() ? info->source_hash
                                                             : job.strategy_source_hash);
  SandboxLimits limits;
  return jobs.StrategyRunnerCommand(*info, *spec, std::nullopt, &limits);
}

}  // namespace

TraceReplayer::TraceReplayer(JobManager& jobs, TraceReplayOptions options)
    : jobs_(jobs), options_(std::move(options)), cache_(options_.cache_rows),
      queue_(static_cast<size_t>(std::max(1, options_.queue_capacity))) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

TraceReplayer::~TraceReplayer() { Shutdown(); }

void TraceReplayer::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  stopping_ = true;
  queue_.Close();
  for (std::thread& t : workers_) t.join();
  // Tasks never started: their waiters are answered now.
  std::map<std::string, std::shared_ptr<Task>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(in_flight_);
  }
  for (auto& [key, task] : left) {
    Finish(task, absl::UnavailableError("the server is shutting down"));
  }
}

bool TraceReplayer::AnswerFromCache(const ReplayQuestion& q, const Done& done) {
  if (std::optional<absl::Status> error = cache_.Error(q.job_id)) {
    done(*error);
    return true;
  }
  const int64_t b = options_.block_bars;
  TraceRows rows;
  for (int64_t block = q.first_bar / b; block <= q.last_bar / b; ++block) {
    std::shared_ptr<const TraceRows> cached = cache_.Get(q.job_id, block);
    if (cached == nullptr) return false;
    for (const db::TraceRowRecord& row : *cached) {
      if (row.bar_index >= q.first_bar && row.bar_index <= q.last_bar) rows.push_back(row);
    }
  }
  done(std::move(rows));
  return true;
}

void TraceReplayer::Rows(const ReplayQuestion& q, Done done) {
  const int64_t width = q.last_bar - q.first_bar + 1;
  if (q.first_bar < 0 || width < 1 || width > options_.max_window_bars) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "bar window: ", width < 1 ? "empty" : absl::StrCat(width, " bars"),
        "; a window of an untraced run is replayed and may have 1 to ", options_.max_window_bars,
        " bars (--trace-replay-max-bars)")));
    return;
  }
  if (AnswerFromCache(q, done)) return;
  // A replay is job work: with a limit on a user's jobs at once, the caller's running and queued
  // jobs count against it too.
  int64_t active_jobs = 0;
  int max_active = 0;
  {
    db::ConnectionPool::Lease lease = jobs_.pool().Acquire();
    auto owner = db::JobStore(lease->connection()).QuotaOf(q.caller_id);
    if (!owner.ok()) {
      done(owner.status());
      return;
    }
    active_jobs = owner->active_jobs;
    max_active = jobs_.options().quota.For(owner->limits).max_active_jobs_per_user;
  }
  const int64_t first_block = q.first_bar / options_.block_bars;
  const int64_t last_block = q.last_bar / options_.block_bars;
  std::shared_ptr<Task> fresh;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) {
      done(absl::UnavailableError("the server is shutting down"));
      return;
    }
    int& mine = per_caller_[q.caller_id];
    if (mine >= options_.per_user) {
      done(WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "replays: you have ", mine, " replays of untraced bars under way, "
                              "the most a user may have at once; ask again when they are answered")),
                          1000));
      return;
    }
    if (max_active > 0 && active_jobs + mine >= max_active) {
      done(WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "replays: you have ", active_jobs, " jobs and ", mine,
                              " replays under way, the most a user may have at once is ",
                              max_active, "; a bar without trace rows is explained by a replay")),
                          1000));
      return;
    }
    const std::string key = absl::StrCat(q.job_id, ":", first_block, ":", last_block);
    auto& task = in_flight_[key];
    if (task == nullptr) {
      task = fresh = std::make_shared<Task>();
      task->job_id = q.job_id;
      task->first_block = first_block;
      task->last_block = last_block;
    }
    ++mine;
    jobs_.AddActiveWork(q.caller_id, 1);  // a submission meanwhile counts it (Release undoes it)
    task->waiters.push_back({q, std::move(done)});
  }
  if (fresh != nullptr && !queue_.TryPush(fresh)) {
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(absl::StrCat(q.job_id, ":", first_block, ":", last_block));
    }
    Finish(fresh, absl::ResourceExhaustedError(
                      "replays: too many questions about untraced bars are waiting; ask again"));
  }
}

void TraceReplayer::WorkerLoop() {
  while (std::optional<std::shared_ptr<Task>> task = queue_.Pop()) {
    bool lasting = false;
    absl::StatusOr<TraceRows> rows = Replay(**task, &lasting);
    if (rows.ok()) {
      // Every block replayed is cached, even one without rows.
      const int64_t b = options_.block_bars;
      std::vector<TraceRows> blocks(static_cast<size_t>((*task)->last_block - (*task)->first_block + 1));
      for (const db::TraceRowRecord& row : *rows) {
        const int64_t block = row.bar_index / b;
        if (block >= (*task)->first_block && block <= (*task)->last_block) {
          blocks[static_cast<size_t>(block - (*task)->first_block)].push_back(row);
        }
      }
      for (size_t i = 0; i < blocks.size(); ++i) {
        cache_.Put((*task)->job_id, (*task)->first_block + static_cast<int64_t>(i),
                   std::make_shared<const TraceRows>(std::move(blocks[i])));
      }
    } else if (lasting) {
      cache_.PutError((*task)->job_id, rows.status());
    }
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(absl::StrCat((*task)->job_id, ":", (*task)->first_block, ":",
                                    (*task)->last_block));
    }
    Finish(*task, rows);
  }
}

void TraceReplayer::Finish(const std::shared_ptr<Task>& task,
                           const absl::StatusOr<TraceRows>& rows) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    waiters.swap(task->waiters);
  }
  for (Waiter& w : waiters) {
    Release(w.question.caller_id);
    if (!rows.ok()) {
      w.done(rows.status());
      continue;
    }
    TraceRows mine;
    for (const db::TraceRowRecord& row : *rows) {
      if (row.bar_index >= w.question.first_bar && row.bar_index <= w.question.last_bar) {
        mine.push_back(row);
      }
    }
    w.done(std::move(mine));
  }
}

void TraceReplayer::Release(int64_t caller_id) {
  jobs_.AddActiveWork(caller_id, -1);
  std::lock_guard lock(mu_);
  auto it = per_caller_.find(caller_id);
  if (it != per_caller_.end() && --it->second <= 0) per_caller_.erase(it);
}

absl::StatusOr<TraceRows> TraceReplayer::Replay(const Task& task, bool* lasting) {
  ASSIGN_OR_RETURN(StoredRun run, LoadStoredRun(jobs_, task.job_id));
  const JobManagerOptions& o = jobs_.options();
  ASSIGN_OR_RETURN(backtest::runner::v1::RunSpec spec,
                   MakeRunSpec(run.job, o, jobs_.DataPolicyFor(run.job.owner_is_staff)));
  auto& params = *spec.mutable_params();
  std::optional<ProcessCommand> sandboxed;
  if (!engine::ParamRegistry::IsBuiltinStrategy(params["strategy"])) {
    absl::StatusOr<ProcessCommand> command = PrepareExternal(jobs_, run.job, &spec);
    if (!command.ok()) {
      *lasting = command.status().code() == absl::StatusCode::kFailedPrecondition;
      return command.status();
    }
    sandboxed = *std::move(command);
  }
  // Every bar of the window traced whole, whatever the run's sampling was.
  params["trace_enabled"] = "true";
  params["trace_sampling"] = "1";
  spec.mutable_trace_window()->set_first_bar(task.first_block * options_.block_bars);
  spec.mutable_trace_window()->set_last_bar((task.last_block + 1) * options_.block_bars - 1);
  // The stored run's datasets: the runner hashes those symbols' candles while the run goes on.
  const std::vector<std::string> symbols = absl::StrSplit(params["symbols"], ',', absl::SkipEmpty());
  for (size_t i = 0; i < run.datasets.size() && i < symbols.size(); ++i) {
    backtest::runner::v1::KnownDataset* known = spec.add_known_datasets();
    known->set_symbol(symbols[i]);
    known->set_hash(run.datasets[i].hash);
  }
  ++replays_;
  const int64_t started = NowMs();
  ReplaySink sink;
  RETURN_IF_ERROR(
      RunReplayRunner(jobs_, spec, std::move(sandboxed), options_.timeout_ms, stopping_, sink));
  if (sink.facts().digest() != run.digest) {
    *lasting = true;
    return DigestMismatch(run, sink.facts());
  }
  spdlog::debug("job {}: bars {}-{} replayed in {} ms ({} trace rows)", task.job_id,
                spec.trace_window().first_bar(), spec.trace_window().last_bar(),
                NowMs() - started, sink.rows().size());
  return std::move(sink.rows());
}

}  // namespace backtest::jobs
