// JobManager::RunJob: one job from queued to its end, supervising its runner (through the
// worker's runner backend).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <span>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backtest/runner/v1/runner.pb.h"
#include "absl/strings/str_split.h"
#include "db/dataset_store.h"
#include "db/reason_store.h"
#include "db/result_store.h"
#include "db/trace_store.h"
#include "server/engine/data/dataset_hash.h"
#include "server/jobs/delta_column.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/line_splitter.h"
#include "server/jobs/output_budget.h"
#include "server/jobs/run_spec.h"
#include "server/jobs/runner_event_reader.h"
#include "server/jobs/sweep_run.h"
#include "server/jobs/sweep_steps.h"
#include "server/metrics/server_metrics.h"

namespace backtest::jobs {
namespace {

constexpr int kFlushEveryMs = 50;

// Datasets offered to a runner per symbol: the last ones used with its data source and timeframe
// (a file read again, or its previous version).
constexpr int kOfferedDatasets = 2;
constexpr size_t kFlushEveryEvents = 256;
// How often a heartbeat updates the job row, at most: often enough for the reconciler.
int64_t HeartbeatPersistMs(const JobManagerOptions& o) {
  return std::min<int64_t>(5000, o.stale_job_ms / 4);
}

// The state of one running job.
class JobRun : public RunnerEventReader::Sink, public RunnerRun::Listener {
 public:
  JobRun(JobManager& manager, WorkerStores& stores, std::string job_id,
         std::shared_ptr<JobChannel> channel, JobControl& control, RunnerBackend& backend)
      : manager_(manager), stores_(stores), store_(stores.jobs), job_id_(std::move(job_id)),
        channel_(std::move(channel)), cancel_(control.cancel_requested), stale_(control.stale),
        backend_(backend),
        reader_(*this, [this] { return Now(); }, HeartbeatPersistMs(manager.options()), &output_),
        output_(manager.options().output_limit_lines, manager.options().output_limit_bytes) {}

  void Run();

  // RunnerRun::Listener.
  void OnEvent(std::string event) override;
  void OnOutput(const char* source, const char* data, size_t size) override;
  void OnAlive() override { last_heard_ms_ = Now(); }

  // RunnerEventReader::Sink.
  void FlushQueued() override { Flush(true); }
  absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>& rows) override;
  absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent& dataset) override;
  absl::Status StoreResult(std::string stored,
                           const backtest::runner::v1::RunOutput& facts) override;
  absl::Status StoreDigest(const std::string& digest) override;
  absl::Status StoreSweepRows(const backtest::runner::v1::SweepRowsEvent& rows) override;
  absl::Status EndSweep(int32_t rows) override;
  absl::Status StoreWalkForward(const backtest::runner::v1::WalkForwardEvent& event) override;

 private:
  int64_t Now() const { return manager_.NowMs(); }
  absl::Status Commit(std::vector<JobEvent> events, const db::JobStore::Update& update);
  bool Transition(db::JobStatus to, const std::vector<db::JobStatus>& from,
                  db::JobStore::Update update, std::vector<JobEvent> extra = {});
  absl::StatusOr<std::unique_ptr<RunnerRun>> StartRunner(const backtest::runner::v1::RunSpec& spec);
  // What StartRunner starts: the job's run request (for a strategy of the strategy folder, its
  // sandboxed Python runner).
  absl::Status PrepareRequest(const backtest::runner::v1::RunSpec& spec);
  // A sweep fanned out over the Slurm cluster in chunks of combinations (SweepSteps): its
  // rows, then, when it has one, its walk-forward in one more run that skips them all. True when
  // the job has ended here (or stays running for the next start).
  bool RunSweepSteps(backtest::runner::v1::RunSpec* spec);
  // The job's end from its run's (or its steps') end: finished when `succeeded`.
  void Conclude(bool succeeded, const RunnerEnd& end);
  // A line of the runner's stdout or stderr into the log, within the job's output limit.
  void OutputLine(const char* source, std::string line);
  // For a strategy of the strategy folder: its folder, entry and source hash into the spec (the
  // runner refuses other code), and a log line saying which code runs. FailedPrecondition when
  // the strategy has left the folder since the job was submitted.
  absl::Status PrepareExternal(const db::JobRecord& job, backtest::runner::v1::RunSpec* spec);
  void Supervise(RunnerRun& runner);
  // Cancel, then Terminate after the grace period, for a cancel; Terminate when the runner's
  // events have nowhere to go or it has been silent too long.
  void Police(RunnerRun& runner);
  void Flush(bool force);
  // The events and the job's update waiting to be stored (with a sweep's report, when `force`
  // or its time has come). Nothing when the store has failed: the job is failing then.
  void TakePending(int64_t now, bool force, std::vector<JobEvent>* events,
                   db::JobStore::Update* update);
  // The job's end, with the events still waiting, in one commit.
  void End(db::JobStatus status, const std::string& error);
  void Fail(const std::string& error) { End(db::JobStatus::kFailed, error); }
  // Why a run that did not finish failed: the server's own reasons first (its store, the
  // reconciler, the silence timeout, events it could not take), then the run's end. A short
  // label for backtestd_runner_failures_total and the job's error.
  struct RunnerFailure {
    std::string reason;
    std::string message;
  };
  RunnerFailure FailureReason(const RunnerEnd& end);
  std::string StoreError() const {
    return store_error_.empty() ? reader_.store_error() : store_error_;
  }
  void SaveRunFacts(const backtest::runner::v1::RunOutput& result);
  void OfferDatasets(backtest::runner::v1::RunSpec* spec);
  // The dataset ids a format-4 result's series refer to, in order; empty for a result that
  // carries its candles (format 3). InvalidArgument when a series refers to nothing it may.
  absl::StatusOr<std::vector<int64_t>> ResultDatasets(const backtest::runner::v1::RunOutput& facts);

  JobManager& manager_;
  WorkerStores& stores_;
  db::JobStore& store_;
  std::string job_id_;
  std::shared_ptr<JobChannel> channel_;
  std::atomic<bool>& cancel_;
  std::atomic<bool>& stale_;  // set by the reconciler
  RunnerBackend& backend_;
  // What the job's runner was started with (the next warm runner's kind).
  RunRequest request_;
  // The strategy folder as the job found it, and its strategy when the job runs one.
  std::shared_ptr<const StrategySnapshot> strategies_;
  const StrategyInfo* external_ = nullptr;

  RunnerEventReader reader_;
  OutputBudget output_;  // of stdout and stderr together, piped or sent as events (reader_)
  LineSplitter out_lines_, err_lines_;
  int64_t last_flush_ms_ = 0;
  int64_t last_heard_ms_ = 0;
  int64_t term_sent_ms_ = 0;
  bool killed_for_silence_ = false;
  bool killed_for_stale_ = false;
  bool said_waiting_ = false;  // the log says the run waits for its backend's resources
  std::string store_error_;  // events could not be stored (a full disk…): the job fails
  bool trace_enabled_ = false;
  int64_t started_ms_ = 0;  // when the job started running (0: it did not)
  int64_t trace_sampling_ = 1;
  // The run's data: where from, its symbols in order, and the datasets offered to the runner (by
  // symbol) and sent by it (by position).
  std::string source_;
  std::string timeframe_;
  std::vector<std::string> symbols_;
  std::map<std::string, std::vector<db::DatasetKey>> offered_;
  std::map<int, db::DatasetKey> sent_;
  // The job's sweep when it is one (docs/sweeps.md).
  std::optional<SweepRun> sweep_;
  class Steps;  // the job as its sweep's steps see it
};

class JobRun::Steps : public SweepSteps::Job {
 public:
  explicit Steps(JobRun& run) : run_(run) {}
  int64_t Now() override { return run_.Now(); }
  void Queue(JobEvent event) override { run_.reader_.Queue(std::move(event)); }
  void OutputLine(const char* source, std::string line) override {
    run_.OutputLine(source, std::move(line));
  }
  void FlushQueued() override { run_.Flush(true); }
  absl::Status StoreRows(const backtest::runner::v1::SweepRowsEvent& rows) override {
    return run_.sweep_->Store(run_.stores_.sweeps, rows, Now());
  }
  void Heard() override {
    run_.last_heard_ms_ = Now();
    backtest::runner::v1::RunnerEvent heartbeat;
    heartbeat.mutable_heartbeat();
    run_.reader_.Handle(heartbeat.SerializeAsString());  // stored at most every few seconds
  }
  void Tick() override {
    // The sweep's progress, from its rows (each step's own counts its chunk only).
    if (run_.sweep_->done() != told_) {
      told_ = run_.sweep_->done();
      backtest::runner::v1::RunnerEvent progress;
      auto* p = progress.mutable_progress();
      p->set_stage("sweep");
      p->set_bars_done(told_);
      p->set_bars_total(run_.sweep_->total());
      p->set_fraction(run_.sweep_->total() > 0
                          ? static_cast<double>(told_) / run_.sweep_->total() : 1.0);
      run_.reader_.Handle(progress.SerializeAsString());
    }
    run_.Flush(false);
  }
  bool cancel_requested() override { return run_.cancel_; }
  std::string must_stop() override {
    if (!run_.StoreError().empty()) return run_.StoreError();
    if (run_.stale_) {
      run_.killed_for_stale_ = true;
      return run_.manager_.StaleError();
    }
    return "";
  }

 private:
  JobRun& run_;
  int64_t told_ = -1;
};

// How often a sweep's log tells its progress, ETA and best row.
constexpr int64_t kSweepReportEveryMs = 1000;

absl::Status JobRun::StoreSweepRows(const backtest::runner::v1::SweepRowsEvent& rows) {
  if (!sweep_) return RunnerEventReader::Sink::StoreSweepRows(rows);
  return sweep_->Store(stores_.sweeps, rows, Now());
}

absl::Status JobRun::StoreWalkForward(const backtest::runner::v1::WalkForwardEvent& event) {
  if (!sweep_) return RunnerEventReader::Sink::StoreWalkForward(event);
  return stores_.sweeps.SaveWalkForward(job_id_, event.SerializeAsString());
}

absl::Status JobRun::EndSweep(int32_t rows) {
  if (!sweep_) return RunnerEventReader::Sink::EndSweep(rows);
  return sweep_->End(rows);
}

absl::Status JobRun::StoreTraceRows(const std::vector<db::TraceRowRecord>& rows) {
  auto traces = stores_.traces();
  if (!traces.ok()) return traces.status();
  auto write_start = std::chrono::steady_clock::now();
  absl::Status s = (*traces)->AppendRows(job_id_, rows);
  if (!s.ok()) return s;
  metrics::ServerMetrics& m = metrics::ServerMetrics::Get();
  m.sqlite_write.With({"trace_rows"}).Observe(metrics::SecondsSince(write_start));
  m.trace_rows_written.Inc(static_cast<double>(rows.size()));
  return s;
}

// The datasets the runner may find its data to be: for each symbol, the last ones stored from the
// same data source and timeframe, pinned for this job until its result refers to them (or it
// ends). Offered, a dataset is not sent again when the runner's candles have its hash. Offering
// none is always correct (the runner then sends its candles), so a failure here only costs that.
// Only the job's own data source is looked up, which the server allowed the owner when the job
// was submitted: a runner can refer to no data its owner may not read.
void JobRun::OfferDatasets(backtest::runner::v1::RunSpec* spec) {
  const auto& params = spec->params();
  const auto source = params.find("data_source");
  const auto timeframe = params.find("timeframe");
  const auto symbols = params.find("symbols");
  if (source == params.end() || timeframe == params.end() || symbols == params.end()) return;
  source_ = source->second;
  timeframe_ = timeframe->second;
  symbols_ = absl::StrSplit(symbols->second, ',', absl::SkipEmpty());
  std::vector<int64_t> ids;
  for (const std::string& symbol : symbols_) {
    auto known = stores_.datasets.Candidates(source_, symbol, timeframe_, kOfferedDatasets);
    if (!known.ok()) {
      spdlog::warn("job {}: no datasets offered: {}", job_id_, std::string(known.status().message()));
      return;
    }
    for (db::DatasetKey& k : *known) {
      ids.push_back(k.id);
      backtest::runner::v1::KnownDataset* d = spec->add_known_datasets();
      d->set_symbol(symbol);
      d->set_hash(k.hash);
      offered_[symbol].push_back(std::move(k));
    }
  }
  if (absl::Status s = stores_.datasets.Pin(job_id_, ids); !s.ok()) {
    spdlog::warn("job {}: no datasets offered: {}", job_id_, std::string(s.message()));
    spec->clear_known_datasets();
    offered_.clear();
  }
}

absl::Status JobRun::StoreDataset(const backtest::runner::v1::DatasetEvent& d) {
  const int position = d.position();
  if (position < 0 || static_cast<size_t>(position) >= symbols_.size() ||
      symbols_[static_cast<size_t>(position)] != d.symbol() || sent_.count(position) > 0) {
    return absl::InvalidArgumentError(absl::StrCat("candles of symbol ", position, " (",
                                                   d.symbol().substr(0, 32), ") not expected"));
  }
  // The hash is the server's own, from the candles as they will be read back: a runner cannot
  // store other candles under the hash of a dataset that other jobs refer to.
  backtest::runner::v1::CandleColumns c = d.candles();
  if (!ExpandCandleColumns(&c) || c.time_size() == 0 || c.open_size() != c.time_size() ||
      c.high_size() != c.time_size() || c.low_size() != c.time_size() ||
      c.close_size() != c.time_size() || c.volume_size() != c.time_size()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed candles of ", d.symbol()));
  }
  auto span = [](const auto& field) { return std::span(field.data(), static_cast<size_t>(field.size())); };
  const engine::BarView bars{span(c.time()), span(c.open()),  span(c.high()),
                             span(c.low()),  span(c.close()), span(c.volume())};
  db::DatasetRecord record{.hash = engine::DatasetHash(bars),
                           .source = source_,
                           .symbol = d.symbol(),
                           .timeframe = timeframe_,
                           .first_time = bars.time.front(),
                           .last_time = bars.time.back(),
                           .bars = static_cast<int64_t>(bars.size()),
                           .format = db::kDatasetFormatColumns,
                           .data = d.candles().SerializeAsString(),
                           .created_ms = Now()};
  auto id = stores_.datasets.Save(record);
  if (!id.ok()) return id.status();
  // Pinned like the offered ones: if the job ends without a result, a dataset only it stored
  // goes with the pin.
  const int64_t pin[] = {*id};
  if (absl::Status s = stores_.datasets.Pin(job_id_, pin); !s.ok()) return s;
  sent_[position] = {*id, std::move(record.hash)};
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> JobRun::ResultDatasets(
    const backtest::runner::v1::RunOutput& facts) {
  std::vector<int64_t> ids;
  for (int i = 0; i < facts.series_size(); ++i) {
    const backtest::runner::v1::SymbolSeries& s = facts.series(i);
    if (s.dataset().empty()) {
      auto sent = sent_.find(i);
      ids.push_back(sent == sent_.end() ? -1 : sent->second.id);
      continue;
    }
    const auto offered = offered_.find(s.symbol());
    const db::DatasetKey* known = nullptr;
    if (offered != offered_.end()) {
      for (const db::DatasetKey& k : offered->second) {
        if (k.hash == s.dataset()) known = &k;
      }
    }
    if (known == nullptr || static_cast<size_t>(i) >= symbols_.size() || symbols_[i] != s.symbol()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the result's ", s.symbol().substr(0, 32), " refers to a dataset it was not offered"));
    }
    ids.push_back(known->id);
  }
  const bool refers = std::any_of(ids.begin(), ids.end(), [](int64_t id) { return id >= 0; });
  if (!refers) return std::vector<int64_t>{};  // results format 3: the candles are in it
  if (std::find(ids.begin(), ids.end(), -1) != ids.end()) {
    return absl::InvalidArgumentError("the result has a symbol without candles");
  }
  return ids;
}

absl::Status JobRun::StoreResult(std::string stored, const backtest::runner::v1::RunOutput& facts) {
  if (sweep_) return absl::InvalidArgumentError("a result from a sweep job");
  const int64_t now = Now();
  const size_t bytes = stored.size();
  auto datasets = ResultDatasets(facts);
  if (!datasets.ok()) return datasets.status();
  db::ResultRecord record{.job_id = job_id_,
                          .format = datasets->empty() ? db::kResultsFormatDeltas
                                                      : db::kResultsFormatDatasets,
                          // Its digest may come after it (ResultDigestEvent).
                          .digest = facts.digest().empty() ? std::string(db::kDigestPending)
                                                           : facts.digest(),
                          .data = std::move(stored),
                          .created_ms = now};
  // The result and its run facts in one commit (a failure of the facts is logged: the result
  // stands without them).
  absl::Status s = stores_.db.InOneCommit([&] {
    absl::Status saved = datasets->empty() ? stores_.results.Save(record)
                                           : stores_.results.Save(record, *datasets);
    if (saved.ok()) SaveRunFacts(facts);
    return saved;
  });
  if (!s.ok()) return s;
  spdlog::debug("job {}: result of {} bytes stored in {} ms", job_id_, bytes, Now() - now);
  return absl::OkStatus();
}

absl::Status JobRun::StoreDigest(const std::string& digest) {
  if (sweep_) return absl::InvalidArgumentError("a result digest from a sweep job");
  return stores_.results.SetDigest(job_id_, digest);
}

absl::Status JobRun::Commit(std::vector<JobEvent> events, const db::JobStore::Update& update) {
  return channel_->Commit(std::move(events), [&](std::vector<JobEvent>& e) {
    return StoreEvents(store_, job_id_, update, e);
  });
}

bool JobRun::Transition(db::JobStatus to, const std::vector<db::JobStatus>& from,
                        db::JobStore::Update update, std::vector<JobEvent> extra) {
  update.status = to;
  update.from_statuses = from;
  extra.push_back(StatusEvent(Now(), to, update.error.value_or("")));
  // Unstored, the job would stay queued or running until the next start: while the database
  // cannot take it (a full disk), retry, backing off to 2 s, until it can or the server stops.
  for (int wait_ms = 100;; wait_ms = std::min(2 * wait_ms, 2000)) {
    absl::Status s = Commit(extra, update);
    if (s.ok()) return true;
    if (s.code() == absl::StatusCode::kFailedPrecondition) {
      // Not in a status it can leave this way: the events that came with the change are
      // stored without it.
      extra.pop_back();
      if (!extra.empty()) (void)Commit(std::move(extra), {});
      return false;
    }
    spdlog::error("job {}: cannot record status {}: {}", job_id_,
                  std::string(db::JobStatusName(to)),
                  std::string(s.message()));
    if (manager_.stopping()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

// Reason counts and the trace summary, for Explain; a failure here is logged, the result stands.
void JobRun::SaveRunFacts(const backtest::runner::v1::RunOutput& result) {
  std::vector<db::ReasonRecord> reasons;
  for (const auto& r : result.reasons()) {
    db::ReasonRecord record{.reason = r.reason(), .count = r.count(), .description = r.description()};
    for (const auto& s : r.samples()) record.samples.push_back({s.symbol(), s.bar_index(), s.ts()});
    reasons.push_back(std::move(record));
  }
  auto reason_store = stores_.reasons();
  absl::Status s =
      reason_store.ok() ? (*reason_store)->Save(job_id_, reasons) : reason_store.status();
  if (s.ok()) {
    auto traces = stores_.traces();
    s = traces.ok() ? (*traces)->SaveSummary(job_id_, {.enabled = trace_enabled_,
                                                       .sampling = trace_sampling_,
                                                       .row_count = result.trace_rows(),
                                                       .truncated = result.trace_truncated()})
                    : traces.status();
  }
  if (!s.ok()) {
    reader_.Queue(LogEvent(Now(), "server", "error",
                           absl::StrCat("run facts for Explain not stored: ", s.message())));
  }
}

void JobRun::Run() {
  auto job = store_.Get(job_id_);
  if (!job.ok()) {
    spdlog::error("job {}: {}", job_id_, std::string(job.status().message()));
    return;
  }
  if (job->status != db::JobStatus::kQueued) return;  // cancelled meanwhile
  const int64_t started = Now();
  db::JobStore::Update running;
  running.started_ms = started;
  running.progress_stage = "loading";
  if (!Transition(db::JobStatus::kRunning, {db::JobStatus::kQueued}, running)) return;
  started_ms_ = started;
  metrics::ServerMetrics::Get().queue_wait.Observe((started - job->created_ms) / 1000.0);

  auto spec = MakeRunSpec(*job, manager_.options(), manager_.DataPolicyFor(job->owner_is_staff));
  if (!spec.ok()) {
    spdlog::error("{}", std::string(spec.status().message()));
    Fail(std::string(spec.status().message()));
    return;
  }
  trace_enabled_ = spec->params().at("trace_enabled") == "true";
  (void)absl::SimpleAtoi(spec->params().at("trace_sampling"), &trace_sampling_);  // checked
  if (auto prepared = PrepareExternal(*job, &*spec); !prepared.ok()) {
    Fail(std::string(prepared.message()));
    return;
  }
  auto sweep = SweepRun::ForJob(stores_.sweeps, job_id_, &*spec, Now());
  if (!sweep.ok()) {
    Fail(std::string(sweep.status().message()));
    return;
  }
  sweep_ = *std::move(sweep);
  if (!sweep_) OfferDatasets(&*spec);  // a sweep stores no candles
  if (sweep_ && manager_.options().runner_backend == "slurm" && RunSweepSteps(&*spec)) return;
  auto runner = StartRunner(*spec);
  if (!runner.ok()) {
    metrics::ServerMetrics::Get().runner_failures.With({"start"}).Inc();
    Fail(std::string(runner.status().message()));
    return;
  }
  db::JobStore::Update with_pid;
  with_pid.pid = (*runner)->pid();
  with_pid.heartbeat_ms = Now();
  // The runner reference until the runner says more (a Slurm step names its job and node).
  with_pid.runner = (*runner)->reference();
  (void)Commit({LogEvent(Now(), "server", "info", (*runner)->started_line())}, with_pid);
  last_heard_ms_ = Now();
  last_flush_ms_ = Now();
  Supervise(**runner);
  const RunnerEnd end = (*runner)->Finish();
  const bool succeeded = end.kind == RunnerEndKind::kFinished && reader_.got_result();
  // A finished run's last events are stored with its end, in one commit (End). Any other run's
  // go first: why it failed may be that they cannot be stored.
  if (!succeeded) Flush(true);
  Conclude(succeeded, end);
  (*runner)->Reap();  // a runner still exiting after its end: the job need not wait for it
  // The worker's next warm runner starts once this job has ended: its exec and linking would
  // compete with storing the result for the machine's cores.
  backend_.Prepare(&request_);
}

void JobRun::Conclude(bool succeeded, const RunnerEnd& end) {
  const bool shutdown = cancel_ && manager_.stopping();
  if (shutdown && sweep_ && !succeeded) {
    // A sweep stays running in the store: the next start queues it again and it resumes with
    // the rows stored so far (JobManager::Start, SweepRun). One that ended meanwhile finishes.
    db::JobStore::Update stopped;
    stopped.pid = 0;
    (void)Commit({LogEvent(Now(), "server", "warning",
                           "interrupted by server shutdown: the sweep resumes at the next start")},
                 stopped);
  } else if (shutdown && !sweep_) {
    Fail("interrupted by server shutdown");
  } else if (cancel_ && !shutdown) {
    End(db::JobStatus::kCancelled, "cancelled by user");
  } else if (succeeded) {
    End(db::JobStatus::kFinished, "");
  } else {
    RunnerFailure failure = FailureReason(end);
    metrics::ServerMetrics::Get().runner_failures.With({failure.reason}).Inc();
    Fail(failure.message);
  }
}

absl::Status JobRun::PrepareExternal(const db::JobRecord& job,
                                     backtest::runner::v1::RunSpec* spec) {
  auto strategy = spec->params().find("strategy");
  if (strategy == spec->params().end() ||
      engine::ParamRegistry::IsBuiltinStrategy(strategy->second)) {
    return absl::OkStatus();
  }
  strategies_ = manager_.strategies().snapshot();
  external_ = strategies_->Find(strategy->second);
  // Its folder changed since the job was submitted, and no longer loads: why.
  if (absl::Status s = strategies_->CheckRunnable(strategy->second); !s.ok()) return s;
  if (external_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "strategy ", strategy->second, " is not in the strategy folder (any more)"));
  }
  auto* external = spec->mutable_external_strategy();
  external->set_kind(external_->kind);
  external->set_path(manager_.sandbox().VisibleStrategyDir(external_->path));
  external->set_entry(external_->entry);
  // The code it was submitted with: the runner refuses a folder that has changed since.
  const std::string& hash =
      job.strategy_source_hash.empty() ? external_->source_hash : job.strategy_source_hash;
  external->set_source_hash(hash);
  reader_.Queue(LogEvent(Now(), "server", "info",
                         absl::StrCat("strategy ", external_->name, " (", external_->kind,
                                      "), source ", hash)));
  return absl::OkStatus();
}

bool JobRun::RunSweepSteps(backtest::runner::v1::RunSpec* spec) {
  const JobManagerOptions& o = manager_.options();
  if (absl::Status s = PrepareRequest(*spec); !s.ok()) {
    metrics::ServerMetrics::Get().runner_failures.With({"start"}).Inc();
    Fail(std::string(s.message()));
    return true;
  }
  SweepSteps steps(backend_, request_, *spec,
                   {.chunk = o.slurm.sweep_chunk,
                    .steps = o.slurm.sweep_steps,
                    .cpus = o.slurm.sweep_cpus,
                    .heartbeat_timeout_ms = o.heartbeat_timeout_ms,
                    .cancel_grace_ms = o.cancel_grace_ms});
  db::JobStore::Update started;
  started.heartbeat_ms = Now();
  started.runner = absl::StrCat("slurm steps named ", SlurmJobName(job_id_), " (", steps.chunks(),
                                steps.chunks() == 1 ? " chunk" : " chunks", ")");
  (void)Commit({LogEvent(Now(), "server", "info",
                         absl::StrCat("sweep: ", sweep_->total() - sweep_->done(),
                                      " combinations to run in ", steps.chunks(),
                                      " Slurm steps of at most ", o.slurm.sweep_chunk, ", ",
                                      o.slurm.sweep_steps, " at once"))},
               started);
  last_heard_ms_ = Now();
  last_flush_ms_ = Now();
  Steps job(*this);
  const RunnerEnd end = steps.Run(job);
  if (output_.spent()) reader_.Queue(LogEvent(Now(), "server", "warning", output_.DroppedNote()));
  Flush(true);
  const bool rows_done = end.kind == RunnerEndKind::kFinished && sweep_->done() == sweep_->total();
  if (rows_done) {
    if (std::string report = sweep_->Report(Now(), 0); !report.empty()) {
      reader_.Queue(LogEvent(Now(), "server", "info", std::move(report)));
    }
  }
  if (!rows_done || cancel_ || !sweep_->has_walk_forward()) {
    if (end.kind == RunnerEndKind::kFinished && !rows_done) {
      Conclude(false, {RunnerEndKind::kFailed, "no_result",
                       absl::StrCat("the sweep's steps ended with ", sweep_->done(), " of ",
                                    sweep_->total(), " rows")});
      return true;
    }
    Conclude(rows_done, end);
    return true;
  }
  // Every row is stored: the walk-forward runs in one more step, which skips them all.
  sweep_->PutDoneRows(spec);
  spec->mutable_sweep()->set_threads(o.slurm.sweep_cpus);
  request_.cpus = o.slurm.sweep_cpus;
  reader_.Queue(LogEvent(Now(), "server", "info",
                         "sweep: every row stored; the walk-forward runs in one more step"));
  return false;
}

absl::Status JobRun::PrepareRequest(const backtest::runner::v1::RunSpec& spec) {
  request_.job_id = job_id_;
  request_.spec = &spec;
  if (external_ != nullptr) {
    // The Python runner in the sandbox, as the worker's own user: a job's processes count
    // against its worker's limit only.
    auto command = manager_.StrategyRunnerCommand(*external_, spec,
                                                  manager_.sandbox().WorkerUid(stores_.worker),
                                                  &request_.sandbox_limits);
    if (!command.ok()) return command.status();
    request_.sandboxed = *std::move(command);
    request_.source_hash = spec.external_strategy().source_hash();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RunnerRun>> JobRun::StartRunner(
    const backtest::runner::v1::RunSpec& spec) {
  if (absl::Status s = PrepareRequest(spec); !s.ok()) return s;
  return backend_.Start(request_);
}

JobRun::RunnerFailure JobRun::FailureReason(const RunnerEnd& end) {
  if (!StoreError().empty()) return {"store", StoreError()};
  if (killed_for_stale_) return {"stale", manager_.StaleError()};
  if (killed_for_silence_) {
    return {"heartbeat_timeout",
            absl::StrFormat("the runner stopped responding (nothing heard for %.1f s) and was killed",
                            manager_.options().heartbeat_timeout_ms / 1000.0)};
  }
  if (!reader_.protocol_error().empty()) {
    return {"protocol", absl::StrCat("runner protocol error: ", reader_.protocol_error())};
  }
  if (!reader_.result_error().empty()) return {"run_error", reader_.result_error()};
  if (end.kind == RunnerEndKind::kFinished) {
    return {"no_result", "the runner ended without a result"};
  }
  return {end.reason.empty() ? "run_error" : end.reason, end.message};
}

void JobRun::Supervise(RunnerRun& runner) {
  while (runner.Pump(kFlushEveryMs, *this)) {
    Police(runner);
    Flush(false);
  }
  out_lines_.Finish([&](std::string line) {
    if (output_.Take(line.size())) {
      reader_.Queue(LogEvent(Now(), "stdout", "info", std::move(line)));
    }
  });
  err_lines_.Finish([&](std::string line) {
    if (output_.Take(line.size())) {
      reader_.Queue(LogEvent(Now(), "stderr", "warning", std::move(line)));
    }
  });
  if (output_.spent()) reader_.Queue(LogEvent(Now(), "server", "warning", output_.DroppedNote()));
}

void JobRun::Police(RunnerRun& runner) {
  const JobManagerOptions& o = manager_.options();
  const int64_t now = Now();
  if ((!reader_.protocol_error().empty() || !StoreError().empty()) && term_sent_ms_ == 0) {
    runner.Terminate();  // its events have nowhere to go
    term_sent_ms_ = now;
  }
  if (cancel_ && term_sent_ms_ == 0) {
    runner.Cancel();  // polite: the runner stops at the next bar and says so
    term_sent_ms_ = now;
  } else if (cancel_ && now - term_sent_ms_ > o.cancel_grace_ms) {
    runner.Terminate();
  }
  if (const std::string waiting = runner.waiting(); !waiting.empty()) {
    // Its runner has not started (a Slurm step pending): no silence to count yet, and the
    // server vouches for the job to the reconciler.
    last_heard_ms_ = now;
    reader_.OnHeartbeat(now);
    if (!said_waiting_ && now - started_ms_ > 1000) {
      said_waiting_ = true;
      reader_.Queue(LogEvent(now, "server", "info", waiting));
    }
  }
  if (!killed_for_silence_ && now - last_heard_ms_ > o.heartbeat_timeout_ms) {
    killed_for_silence_ = true;
    runner.Terminate();
  }
  if (stale_ && !killed_for_stale_ && !killed_for_silence_) {
    killed_for_stale_ = true;
    runner.Terminate();
  }
}

void JobRun::OnOutput(const char* source, const char* data, size_t size) {
  if (output_.spent()) {  // counted, not split: dropping costs less than the writing did
    output_.Drop(data, size);
    return;
  }
  const bool is_err = std::string_view(source) == "stderr";
  LineSplitter& lines = is_err ? err_lines_ : out_lines_;
  lines.Feed(data, size, [&](std::string line) { OutputLine(source, std::move(line)); });
  if (output_.spent()) output_.DropPartial(lines.Discard());
}

void JobRun::OutputLine(const char* source, std::string line) {
  if (!output_.Take(line.size())) return;
  const bool is_err = std::string_view(source) == "stderr";
  reader_.Queue(LogEvent(Now(), source, is_err ? "warning" : "info", std::move(line)));
}

void JobRun::OnEvent(std::string event) {
  reader_.Handle(std::move(event));
  if (reader_.queued() >= kFlushEveryEvents) Flush(true);
}

void JobRun::Flush(bool force) {
  const int64_t now = Now();
  if (!force && now - last_flush_ms_ < kFlushEveryMs) return;
  last_flush_ms_ = now;
  const bool updated = reader_.HasUpdate();
  std::vector<JobEvent> events;
  db::JobStore::Update update;
  TakePending(now, force, &events, &update);
  if (!StoreError().empty() || (events.empty() && !updated)) return;
  absl::Status s;
  if (events.empty()) {
    std::vector<db::EventRecord> none;
    s = store_.Apply(job_id_, update, none);
  } else {
    s = Commit(std::move(events), update);
  }
  if (!s.ok()) {
    spdlog::error("job {}: events not stored: {}", job_id_, std::string(s.message()));
    store_error_ = absl::StrCat("the job's log could not be stored: ", s.message());
  }
}

void JobRun::TakePending(int64_t now, bool force, std::vector<JobEvent>* events,
                         db::JobStore::Update* update) {
  if (sweep_) {
    std::string report = sweep_->Report(now, force && reader_.got_result() ? 0 : kSweepReportEveryMs);
    if (!report.empty()) reader_.Queue(LogEvent(now, "server", "info", std::move(report)));
  }
  *events = reader_.TakeQueued();
  *update = reader_.TakeUpdate();
  if (!StoreError().empty()) {  // the job is failing: its events have nowhere to go
    events->clear();
    *update = {};
  }
}

void JobRun::End(db::JobStatus status, const std::string& error) {
  std::vector<JobEvent> pending;
  db::JobStore::Update update;
  TakePending(Now(), true, &pending, &update);
  update.finished_ms = Now();
  update.pid = 0;
  if (!error.empty()) update.error = error;
  if (status == db::JobStatus::kFinished) {
    update.progress_fraction = 1.0;
    update.progress_stage = "done";
  }
  if (started_ms_ > 0) {
    metrics::ServerMetrics::Get()
        .job_duration.With({std::string(db::JobStatusName(status))})
        .Observe((update.finished_ms.value() - started_ms_) / 1000.0);
  }
  if (!Transition(status, {db::JobStatus::kRunning}, update, std::move(pending))) {
    spdlog::error("job {}: could not record its end ({})", job_id_,
                  std::string(db::JobStatusName(status)));
  }
  // A finished job's pins went with its result; any other's go now.
  if (!offered_.empty() || !sent_.empty()) {
    if (absl::Status s = stores_.datasets.Unpin(job_id_); !s.ok()) {
      spdlog::warn("job {}: its offered datasets stay pinned: {}", job_id_, std::string(s.message()));
    }
  }
  spdlog::info("job {} {}{}{}", job_id_, std::string(db::JobStatusName(status)),
               error.empty() ? "" : ": ",
               error);
}

}  // namespace

void JobManager::RunJob(const std::string& job_id, WorkerStores& stores, RunnerBackend& backend) {
  auto control = std::make_shared<JobControl>();
  std::shared_ptr<JobChannel> channel;
  {
    std::lock_guard lock(mu_);
    running_[job_id] = control;
    auto& c = channels_[job_id];
    if (c == nullptr) {
      // Not expected (Submit and recovery create it), but never run a job without a channel.
      auto job = stores.jobs.Get(job_id);
      c = std::make_shared<JobChannel>(job_id, job.ok() ? job->last_seq : 0);
    }
    channel = c;
  }
  if (shutting_down_) control->cancel_requested = true;
  JobRun run(*this, stores, job_id, channel, *control, backend);
  run.Run();
  channel->Close();
  Forget(job_id);
}

}  // namespace backtest::jobs
