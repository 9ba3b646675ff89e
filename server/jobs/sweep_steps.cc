#include "server/jobs/sweep_steps.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/jobs/line_splitter.h"
#include "server/jobs/runner_event_reader.h"

namespace backtest::jobs {
namespace {

using backtest::runner::v1::RunSpec;

// One chunk's step: its run, its own reader of the run's events (the protocol's meaning checked
// per step), what it sent forwarded to the job.
class Step : public RunnerEventReader::Sink, public RunnerRun::Listener {
 public:
  Step(SweepSteps::Job& job, const SweepChunk& chunk, size_t count, RunSpec spec)
      : job_(job), chunk_(chunk), name_(absl::StrCat("step ", chunk.index + 1, " of ", count)),
        spec_(std::move(spec)),
        reader_(*this, [&job] { return job.Now(); }, /*heartbeat_persist_ms=*/0) {}

  const std::string& name() const { return name_; }
  const RunSpec& spec() const { return spec_; }
  const SweepChunk& chunk() const { return chunk_; }
  RunnerRun& run() { return *run_; }
  bool complete() const { return complete_; }
  bool started() const { return started_; }

  void Started(std::unique_ptr<RunnerRun> run, int64_t now) {
    run_ = std::move(run);
    reference_ = run_->reference();
    heard_ms_ = now;
  }

  // RunnerRun::Listener.
  void OnEvent(std::string event) override { reader_.Handle(std::move(event)); }
  void OnOutput(const char* source, const char* data, size_t size) override {
    const bool is_err = std::string_view(source) == "stderr";
    (is_err ? err_ : out_).Feed(data, size, [&](std::string line) {
      job_.OutputLine(source, absl::StrCat(name_, ": ", line));
    });
  }
  void OnAlive() override {
    heard_ms_ = job_.Now();
    started_ = true;
  }

  // RunnerEventReader::Sink.
  void FlushQueued() override {
    Forward();
    job_.FlushQueued();
  }
  absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>&) override {
    return absl::InvalidArgumentError("a trace from a sweep step");
  }
  absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent&) override {
    return absl::InvalidArgumentError("candles from a sweep step");
  }
  absl::Status StoreResult(std::string, const backtest::runner::v1::RunOutput&) override {
    return absl::InvalidArgumentError("a result from a sweep step");
  }
  absl::Status StoreSweepRows(const backtest::runner::v1::SweepRowsEvent& rows) override {
    for (const auto& r : rows.rows()) {
      if (!std::binary_search(chunk_.rows.begin(), chunk_.rows.end(), r.row())) {
        return absl::InvalidArgumentError(
            absl::StrCat("sweep row ", r.row(), " is not one of ", name_, "'s"));
      }
    }
    absl::Status s = job_.StoreRows(rows);
    if (s.ok()) arrived_ += static_cast<size_t>(rows.rows_size());
    job_.Tick();
    return s;
  }
  absl::Status EndSweep(int32_t rows) override {
    if (arrived_ != chunk_.rows.size() || rows != static_cast<int32_t>(chunk_.rows.size())) {
      return absl::InvalidArgumentError(absl::StrCat(name_, " ended with ", arrived_, " of ",
                                                     chunk_.rows.size(), " rows"));
    }
    complete_ = true;
    return absl::OkStatus();
  }

  // Gives the job what the reader has queued: log lines named after the step (the step's
  // progress is left out: the job tells the sweep's), its heartbeats; keeps where it runs.
  void Forward() {
    for (JobEvent& e : reader_.TakeQueued()) {
      if (e.kind == EventKind::kProgress) continue;
      if (e.kind == EventKind::kLog) e.text = absl::StrCat(name_, ": ", e.text);
      job_.Queue(std::move(e));
    }
    db::JobStore::Update update = reader_.TakeUpdate();
    if (update.runner.has_value()) reference_ = *update.runner;
    if (update.heartbeat_ms.has_value()) job_.Heard();
  }

  // After Pump said the stream ended: the run's end, its last partial lines.
  RunnerEnd Finish() {
    RunnerEnd end = run_->Finish();
    out_.Finish([&](std::string line) { job_.OutputLine("stdout", absl::StrCat(name_, ": ", line)); });
    err_.Finish([&](std::string line) { job_.OutputLine("stderr", absl::StrCat(name_, ": ", line)); });
    Forward();
    return end;
  }

  // Why this step's run, which ended without all its rows, failed the sweep.
  RunnerEnd Failure(const RunnerEnd& end, int64_t heartbeat_timeout_ms) const {
    const std::string who =
        absl::StrCat("sweep ", name_, " (", DescribeChunkRows(chunk_), "; ", reference_, ")");
    if (!reader_.store_error().empty()) {
      return {RunnerEndKind::kFailed, "store", reader_.store_error()};
    }
    if (silenced_) {
      return {RunnerEndKind::kFailed, "heartbeat_timeout",
              absl::StrFormat("%s stopped responding (nothing heard for %.1f s) and was stopped",
                              who, heartbeat_timeout_ms / 1000.0)};
    }
    if (!reader_.protocol_error().empty()) {
      return {RunnerEndKind::kFailed, "protocol",
              absl::StrCat(who, " failed: runner protocol error: ", reader_.protocol_error())};
    }
    if (end.kind == RunnerEndKind::kFinished) {
      return {RunnerEndKind::kFailed, "no_result",
              absl::StrCat(who, " ended without its rows")};
    }
    return {RunnerEndKind::kFailed, end.reason.empty() ? "run_error" : end.reason,
            absl::StrCat(who, " failed: ", end.message)};
  }

  // Stops a step whose events cannot be taken or that has gone silent once it ran.
  void Police(int64_t now, int64_t heartbeat_timeout_ms) {
    if (!reader_.protocol_error().empty() || !reader_.store_error().empty()) Stop(now, 0);
    if (started_ && !silenced_ && now - heard_ms_ > heartbeat_timeout_ms) {
      silenced_ = true;
      Stop(now, 0);
    }
  }
  // The protocol's cancel, then a stop past the grace period.
  void Cancel(int64_t now, int64_t grace_ms) {
    if (cancel_sent_ms_ == 0) {
      run_->Cancel();
      cancel_sent_ms_ = now;
    } else if (now - cancel_sent_ms_ > grace_ms) {
      Stop(now, grace_ms);
    }
  }
  // Terminate (srun's SIGTERM, which cancels the step), and harder past the grace period.
  void Stop(int64_t now, int64_t grace_ms) {
    if (stop_sent_ms_ == 0) {
      run_->Terminate();
      stop_sent_ms_ = now;
    } else if (!stopped_harder_ && now - stop_sent_ms_ > std::max<int64_t>(grace_ms, 2000)) {
      run_->Terminate();
      stopped_harder_ = true;
    }
  }

 private:
  SweepSteps::Job& job_;
  const SweepChunk& chunk_;
  std::string name_;
  RunSpec spec_;
  RunnerEventReader reader_;
  std::unique_ptr<RunnerRun> run_;
  std::string reference_;
  LineSplitter out_, err_;
  size_t arrived_ = 0;
  bool complete_ = false;
  bool started_ = false;  // bytes came: it runs (a step waiting for its resources says nothing)
  bool silenced_ = false;
  int64_t heard_ms_ = 0;
  int64_t cancel_sent_ms_ = 0;
  int64_t stop_sent_ms_ = 0;
  bool stopped_harder_ = false;
};

constexpr int kTurnMs = 50;

}  // namespace

SweepSteps::SweepSteps(RunnerBackend& backend, const RunRequest& like, const RunSpec& spec,
                       SweepStepsOptions options)
    : backend_(backend), like_(like), sweep_(spec.sweep()), options_(options),
      chunks_(PlanSweepChunks(spec.sweep(), options.chunk)) {
  // The job's spec without its sweep, once: each chunk's spec adds its own combinations.
  base_ = spec;
  base_.clear_sweep();
}

RunnerEnd SweepSteps::Run(Job& job) {
  std::vector<std::unique_ptr<Step>> running;
  size_t next = 0;
  std::optional<RunnerEnd> failed;  // the first step that failed
  const size_t at_once = static_cast<size_t>(std::max(1, options_.steps));
  while (true) {
    const bool cancel = job.cancel_requested();
    const std::string stop_now = job.must_stop();
    while (!failed && !cancel && stop_now.empty() && running.size() < at_once &&
           next < chunks_.size()) {
      auto step = std::make_unique<Step>(job, chunks_[next], chunks_.size(),
                                         ChunkSpec(base_, sweep_, chunks_[next], options_.cpus));
      ++next;
      RunRequest request = like_;
      request.spec = &step->spec();
      request.cpus = options_.cpus;
      auto run = backend_.Start(request);
      if (!run.ok()) {
        failed = RunnerEnd{RunnerEndKind::kFailed, "start",
                           absl::StrCat("sweep ", step->name(), " (",
                                        DescribeChunkRows(step->chunk()),
                                        ") could not start: ", run.status().message())};
        break;
      }
      job.Queue(LogEvent(job.Now(), "server", "info",
                         absl::StrCat(step->name(), " (", DescribeChunkRows(step->chunk()),
                                      "): ", (*run)->started_line())));
      step->Started(*std::move(run), job.Now());
      running.push_back(std::move(step));
    }
    if (running.empty()) break;
    const int wait_ms = std::max(1, kTurnMs / static_cast<int>(running.size()));
    for (auto it = running.begin(); it != running.end();) {
      Step& step = **it;
      const bool more = step.run().Pump(wait_ms, step);
      step.Forward();
      if (more) {
        step.Police(job.Now(), options_.heartbeat_timeout_ms);
        ++it;
        continue;
      }
      const RunnerEnd end = step.Finish();
      // A step stopped by a cancel, by the job or after another step's failure is no failure
      // of its own.
      if (!step.complete() && !failed && !job.cancel_requested() && job.must_stop().empty()) {
        failed = step.Failure(end, options_.heartbeat_timeout_ms);
      }
      it = running.erase(it);
    }
    const int64_t now = job.Now();
    // A step waiting for its resources says nothing: its srun, alive, stands for it.
    if (std::any_of(running.begin(), running.end(), [](const auto& s) { return !s->started(); })) {
      job.Heard();
    }
    for (auto& step : running) {
      if (failed || !job.must_stop().empty()) {
        step->Stop(now, options_.cancel_grace_ms);
      } else if (job.cancel_requested()) {
        step->Cancel(now, options_.cancel_grace_ms);
      }
    }
    job.Tick();
  }
  if (failed) return *failed;
  if (const std::string why = job.must_stop(); !why.empty()) {
    return {RunnerEndKind::kFailed, "stopped", why};
  }
  if (job.cancel_requested() || next < chunks_.size()) {
    return {RunnerEndKind::kCancelled, "cancelled", "cancelled"};
  }
  return {RunnerEndKind::kFinished, "", ""};
}

}  // namespace backtest::jobs
