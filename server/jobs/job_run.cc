// JobManager::RunJob: one job from queued to its end, supervising its runner process.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backtest/runner/v1/runner.pb.h"
#include "db/reason_store.h"
#include "db/result_store.h"
#include "db/trace_store.h"
#include "nlohmann/json.hpp"
#include "server/jobs/frame_codec.h"
#include "server/jobs/job_manager.h"

namespace backtest::jobs {
namespace {

using backtest::runner::v1::RunnerEvent;

constexpr size_t kMaxLineBytes = 4096;
constexpr int kFlushEveryMs = 50;
constexpr size_t kFlushEveryEvents = 256;
constexpr int kHeartbeatPersistMs = 5000;

// Splits a byte stream into lines; overlong lines are cut into pieces.
class LineSplitter {
 public:
  template <typename F>
  void Feed(const char* data, size_t n, F&& emit) {
    for (size_t i = 0; i < n; ++i) {
      char c = data[i];
      if (c == '\n') {
        emit(std::move(partial_));
        partial_.clear();
      } else if (c != '\r') {
        partial_ += c;
        if (partial_.size() >= kMaxLineBytes) {
          emit(std::move(partial_));
          partial_.clear();
        }
      }
    }
  }
  template <typename F>
  void Finish(F&& emit) {
    if (!partial_.empty()) emit(std::move(partial_));
    partial_.clear();
  }

 private:
  std::string partial_;
};

// A result frame: RunnerEvent.result (field 4, length-delimited) first, as the runner writes it.
constexpr uint8_t kResultTag = (4 << 3) | 2;

bool IsResultFrame(const std::string& bytes) {
  return !bytes.empty() && static_cast<uint8_t>(bytes[0]) == kResultTag;
}

// The result is stored as it came (a RunnerEvent, results format 3); the server itself needs only
// its digest, reason counts and trace facts, which ResultFrameFacts reads while the rest stays
// unparsed bytes (no thousands of candle, equity, marker and trade messages). False when
// malformed.
bool ReadResultFacts(const std::string& bytes, backtest::runner::v1::RunOutput* out) {
  using backtest::runner::v1::ResultFrameFacts;
  using backtest::runner::v1::RunnerEvent;
  using backtest::runner::v1::RunOutput;
  using backtest::runner::v1::RunOutputFacts;
  constexpr auto same = [](int a, int b) { return a == b; };  // field numbers of two messages
  static_assert(same(ResultFrameFacts::kResultFieldNumber, RunnerEvent::kResultFieldNumber));
  static_assert(same(RunOutputFacts::kReasonsFieldNumber, RunOutput::kReasonsFieldNumber));
  static_assert(same(RunOutputFacts::kTraceRowsFieldNumber, RunOutput::kTraceRowsFieldNumber));
  static_assert(
      same(RunOutputFacts::kTraceTruncatedFieldNumber, RunOutput::kTraceTruncatedFieldNumber));
  static_assert(same(RunOutputFacts::kDigestFieldNumber, RunOutput::kDigestFieldNumber));
  ResultFrameFacts frame;
  if (!frame.ParseFromString(bytes)) return false;
  RunOutputFacts& facts = *frame.mutable_result();
  out->mutable_reasons()->Swap(facts.mutable_reasons());
  out->set_trace_rows(facts.trace_rows());
  out->set_trace_truncated(facts.trace_truncated());
  out->set_digest(std::move(*facts.mutable_digest()));
  return true;
}

// The state of one running job.
class JobRun {
 public:
  JobRun(JobManager& manager, WorkerStores& stores, std::string job_id,
         std::shared_ptr<JobChannel> channel, std::atomic<bool>& cancel,
         std::optional<RunnerProcess>& warm)
      : manager_(manager), stores_(stores), store_(stores.jobs), job_id_(std::move(job_id)),
        channel_(std::move(channel)), cancel_(cancel), warm_(warm) {}

  void Run();

 private:
  int64_t Now() const { return manager_.NowMs(); }
  absl::Status Commit(std::vector<JobEvent> events, const db::JobStore::Update& update);
  bool Transition(const std::string& to, const std::vector<std::string>& from,
                  db::JobStore::Update update, std::vector<JobEvent> extra = {});
  void Supervise(RunnerProcess& runner);
  void ReadEvents(int fd, RunnerProcess& runner);
  void ReadOutput(int fd, RunnerProcess& runner, const char* source, LineSplitter& lines);
  void HandleFrame(std::string bytes);
  void Flush(bool force);
  void End(const std::string& status, const std::string& error);
  void Fail(const std::string& error) { End("failed", error); }
  std::string ExitReason(const ExitInfo& exit);
  absl::Status AppendTraceRows(const std::vector<db::TraceRowRecord>& rows);
  void SaveRunFacts(const backtest::runner::v1::RunOutput& result);

  JobManager& manager_;
  WorkerStores& stores_;
  db::JobStore& store_;
  std::string job_id_;
  std::shared_ptr<JobChannel> channel_;
  std::atomic<bool>& cancel_;
  std::optional<RunnerProcess>& warm_;

  FrameDecoder decoder_;
  std::vector<JobEvent> pending_;
  size_t last_progress_ = SIZE_MAX;  // index in pending_ of its newest progress event
  std::vector<size_t> superseded_;   // indexes in pending_ of progress events not to store
  db::JobStore::Update pending_update_;
  int64_t last_flush_ms_ = 0;
  int64_t last_heard_ms_ = 0;
  int64_t last_heartbeat_saved_ms_ = 0;
  int64_t term_sent_ms_ = 0;
  bool killed_for_silence_ = false;
  bool got_result_ = false;
  std::string failure_code_;
  std::string failure_message_;
  std::string protocol_error_;
  bool stream_cut_ = false;  // the event stream ended inside a frame
  std::string store_error_;  // events could not be stored (a full disk…): the job fails
  bool trace_enabled_ = false;
  int64_t trace_sampling_ = 1;
};

absl::Status JobRun::AppendTraceRows(const std::vector<db::TraceRowRecord>& rows) {
  auto traces = stores_.traces();
  if (!traces.ok()) return traces.status();
  return (*traces)->AppendRows(job_id_, rows);
}

absl::Status JobRun::Commit(std::vector<JobEvent> events, const db::JobStore::Update& update) {
  return channel_->Commit(std::move(events), [&](std::vector<JobEvent>& e) {
    return StoreEvents(store_, job_id_, update, e);
  });
}

bool JobRun::Transition(const std::string& to, const std::vector<std::string>& from,
                        db::JobStore::Update update, std::vector<JobEvent> extra) {
  update.status = to;
  update.from_statuses = from;
  extra.push_back(StatusEvent(Now(), to, update.error.value_or("")));
  // Unstored, the job would stay queued or running until the next start: while the database
  // cannot take it (a full disk), retry, backing off to 2 s, until it can or the server stops.
  for (int wait_ms = 100;; wait_ms = std::min(2 * wait_ms, 2000)) {
    absl::Status s = Commit(extra, update);
    if (s.ok()) return true;
    if (s.code() == absl::StatusCode::kFailedPrecondition) return false;
    spdlog::error("job {}: cannot record status {}: {}", job_id_, to, std::string(s.message()));
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
    pending_.push_back(LogEvent(Now(), "server", "error",
                                absl::StrCat("run facts for Explain not stored: ", s.message())));
  }
}

void JobRun::Run() {
  auto job = store_.Get(job_id_);
  if (!job.ok()) {
    spdlog::error("job {}: {}", job_id_, std::string(job.status().message()));
    return;
  }
  if (job->status != "queued") return;  // cancelled meanwhile
  const int64_t started = Now();
  db::JobStore::Update running;
  running.started_ms = started;
  running.progress_stage = "loading";
  if (!Transition("running", {"queued"}, running)) return;

  backtest::runner::v1::RunSpec spec;
  spec.set_job_id(job_id_);
  const nlohmann::json stored = nlohmann::json::parse(job->params_json);
  for (const auto& [name, value] : stored.items()) {
    (*spec.mutable_params())[name] = value.get<std::string>();
  }
  trace_enabled_ = spec.params().at("trace_enabled") == "true";
  trace_sampling_ = std::stoll(spec.params().at("trace_sampling"));
  const JobManagerOptions& o = manager_.options();
  spec.set_trace_max_rows(o.trace_max_rows);
  spec.set_trace_batch_size(o.trace_batch_size);
  spec.set_heartbeat_interval_ms(o.heartbeat_interval_ms);
  spec.set_data_timeout_ms(o.data_timeout_ms);
  const engine::DataPolicy& policy = manager_.DataPolicyFor(job->owner_is_staff);
  auto* spec_policy = spec.mutable_data_policy();
  spec_policy->mutable_file_roots()->Add(policy.file_roots.begin(), policy.file_roots.end());
  spec_policy->mutable_url_allow()->Add(policy.url_allow.begin(), policy.url_allow.end());
  for (const engine::IpNetwork& network : policy.allowed_networks) {
    spec_policy->add_allowed_networks(network.ToString());
  }
  std::string frame;
  AppendFrame(spec.SerializeAsString(), &frame);
  // The worker's warm runner when it is still there, else a fresh one; either way this job's own.
  auto runner = [&]() -> absl::StatusOr<RunnerProcess> {
    if (!warm_.has_value() || !warm_->Alive()) {
      return RunnerProcess::Spawn(o.runner_path, o.limits, frame);
    }
    RunnerProcess p = std::move(*warm_);
    p.SendSpec(frame);
    return p;
  }();
  warm_.reset();
  if (!runner.ok()) {
    Fail(std::string(runner.status().message()));
    return;
  }
  db::JobStore::Update with_pid;
  with_pid.pid = runner->pid();
  with_pid.heartbeat_ms = Now();
  (void)Commit({LogEvent(Now(), "server", "info",
                         absl::StrCat("runner started (pid ", runner->pid(), ")"))},
               with_pid);
  last_heard_ms_ = Now();
  last_flush_ms_ = Now();
  Supervise(*runner);
  ExitInfo exit = runner->Wait();
  Flush(true);
  if (cancel_ && manager_.stopping()) {
    Fail("interrupted by server shutdown");
  } else if (cancel_) {
    End("cancelled", "cancelled by user");
  } else if (got_result_ && exit.exited && exit.code == 0) {
    End("finished", "");
  } else {
    Fail(ExitReason(exit));
  }
}

std::string JobRun::ExitReason(const ExitInfo& exit) {
  const RunnerLimits& limits = manager_.options().limits;
  if (!store_error_.empty()) return store_error_;
  if (killed_for_silence_) {
    return absl::StrFormat("the runner stopped responding (nothing heard for %.1f s) and was killed",
                           manager_.options().heartbeat_timeout_ms / 1000.0);
  }
  // A runner killed by a signal may die in the middle of a frame: the cut frame is a consequence,
  // and the signal (below) is the reason to report.
  if (!protocol_error_.empty() && !(stream_cut_ && !exit.exited)) {
    return absl::StrCat("runner protocol error: ", protocol_error_);
  }
  if (failure_code_ == "resource" && limits.memory_mb > 0) {
    return absl::StrCat("memory limit of ", limits.memory_mb, " MB exceeded");
  }
  if (!failure_message_.empty()) return failure_message_;
  // The kernel sends SIGXCPU at the limit and SIGKILL a second later if that was ignored.
  if (!exit.exited && limits.cpu_seconds > 0 &&
      (exit.signal == SIGXCPU ||
       (exit.signal == SIGKILL && exit.cpu_seconds >= static_cast<double>(limits.cpu_seconds)))) {
    return absl::StrCat("CPU time limit of ", limits.cpu_seconds, " s exceeded");
  }
  if (!exit.exited) {
    return absl::StrCat("the runner crashed (", DescribeSignal(exit.signal), ")");
  }
  if (exit.code != 0) return absl::StrCat("the runner exited with code ", exit.code);
  return "the runner ended without a result";
}

void JobRun::Supervise(RunnerProcess& runner) {
  const JobManagerOptions& o = manager_.options();
  LineSplitter out_lines, err_lines;
  while (!runner.all_closed()) {
    pollfd fds[3];
    int n = 0;
    for (int fd : {runner.events_fd(), runner.stdout_fd(), runner.stderr_fd()}) {
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    }
    int ready = ::poll(fds, n, kFlushEveryMs);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == runner.events_fd()) {
        ReadEvents(fds[i].fd, runner);
      } else if (fds[i].fd == runner.stdout_fd()) {
        ReadOutput(fds[i].fd, runner, "stdout", out_lines);
      } else {
        ReadOutput(fds[i].fd, runner, "stderr", err_lines);
      }
    }
    const int64_t now = Now();
    if ((!protocol_error_.empty() || !store_error_.empty()) && term_sent_ms_ == 0) {
      runner.Signal(SIGKILL);  // its events have nowhere to go
      term_sent_ms_ = now;
    }
    if (cancel_ && term_sent_ms_ == 0) {
      runner.Signal(SIGTERM);  // polite: the runner stops at the next bar and says so
      term_sent_ms_ = now;
    } else if (cancel_ && now - term_sent_ms_ > o.cancel_grace_ms) {
      runner.Signal(SIGKILL);
    }
    if (!killed_for_silence_ && now - last_heard_ms_ > o.heartbeat_timeout_ms) {
      killed_for_silence_ = true;
      runner.Signal(SIGKILL);
    }
    Flush(false);
  }
  auto emit_out = [&](std::string line) {
    pending_.push_back(LogEvent(Now(), "stdout", "info", std::move(line)));
  };
  auto emit_err = [&](std::string line) {
    pending_.push_back(LogEvent(Now(), "stderr", "warning", std::move(line)));
  };
  out_lines.Finish(emit_out);
  err_lines.Finish(emit_err);
}

void JobRun::ReadOutput(int fd, RunnerProcess& runner, const char* source, LineSplitter& lines) {
  char buf[16384];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    runner.CloseFd(fd);
    return;
  }
  if (n < 0) return;
  last_heard_ms_ = Now();
  const bool is_err = std::string_view(source) == "stderr";
  lines.Feed(buf, static_cast<size_t>(n), [&](std::string line) {
    pending_.push_back(LogEvent(Now(), source, is_err ? "warning" : "info", std::move(line)));
  });
}

void JobRun::ReadEvents(int fd, RunnerProcess& runner) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (decoder_.buffered() > 0 && protocol_error_.empty()) {
      stream_cut_ = true;
      protocol_error_ = absl::StrCat("event stream ended inside a frame (", decoder_.buffered(),
                                     " bytes)");
    }
    runner.CloseFd(fd);
    return;
  }
  if (n < 0) return;
  last_heard_ms_ = Now();
  decoder_.Append(buf, static_cast<size_t>(n));
  while (protocol_error_.empty()) {
    auto frame = decoder_.Next();
    if (!frame.ok()) {
      protocol_error_ = std::string(frame.status().message());
      break;
    }
    if (!frame->has_value()) break;
    HandleFrame(*std::move(*frame));
  }
}

void JobRun::HandleFrame(std::string bytes) {
  RunnerEvent event;
  if (!(IsResultFrame(bytes) ? ReadResultFacts(bytes, event.mutable_result())
                             : event.ParseFromString(bytes))) {
    protocol_error_ = "an event could not be decoded";
    return;
  }
  const int64_t now = Now();
  switch (event.event_case()) {
    case RunnerEvent::kLog:
      pending_.push_back(LogEvent(now, "engine", event.log().level(), event.log().text()));
      break;
    case RunnerEvent::kProgress: {
      // Progress supersedes progress: of several of a stage waiting to be stored (with log lines
      // between them), only the newest is kept, in its own place.
      if (last_progress_ < pending_.size() &&
          pending_[last_progress_].stage == event.progress().stage()) {
        if (last_progress_ + 1 == pending_.size()) {
          pending_.pop_back();
        } else {
          superseded_.push_back(last_progress_);
        }
      }
      last_progress_ = pending_.size();
      JobEvent e;
      e.time_ms = now;
      e.kind = EventKind::kProgress;
      e.stage = event.progress().stage();
      e.fraction = event.progress().fraction();
      e.bars_done = event.progress().bars_done();
      e.bars_total = event.progress().bars_total();
      pending_update_.progress_fraction = e.fraction;
      pending_update_.progress_stage = e.stage;
      pending_update_.bars_done = e.bars_done;
      pending_update_.bars_total = e.bars_total;
      pending_.push_back(std::move(e));
      break;
    }
    case RunnerEvent::kTrace: {
      // The rows as stored are the rows the live event carries.
      auto rows = std::make_shared<std::vector<db::TraceRowRecord>>();
      rows->reserve(event.trace().rows_size());
      for (auto& r : *event.mutable_trace()->mutable_rows()) {
        rows->push_back({r.seq(), r.bar_index(), r.ts(), std::move(*r.mutable_symbol()),
                         std::move(*r.mutable_section()), std::move(*r.mutable_kind()),
                         std::move(*r.mutable_payload_json())});
      }
      Flush(true);  // events before the batch keep their order
      absl::Status s = AppendTraceRows(*rows);
      if (!s.ok()) {
        store_error_ = absl::StrCat("trace rows could not be stored: ", s.message());
        break;
      }
      JobEvent e;
      e.time_ms = now;
      e.kind = EventKind::kTrace;
      e.first_row = rows->empty() ? 0 : rows->front().seq;
      e.row_count = static_cast<int64_t>(rows->size());
      e.truncated = event.trace().truncated();
      e.rows = std::move(rows);
      pending_.push_back(std::move(e));
      break;
    }
    case RunnerEvent::kResult: {
      // This runner is done with the CPU: start the worker's next warm runner now, so that its
      // exec and linking overlap with storing this result instead of delaying the next job.
      manager_.KeepWarmRunner(warm_);
      const auto& result = event.result();
      const size_t result_bytes = bytes.size();
      absl::Status s =
          stores_.results.Save({.job_id = job_id_, .format = db::kResultsFormatDeltas,
                                .digest = result.digest(), .data = std::move(bytes),
                                .created_ms = now});
      if (!s.ok()) {
        failure_message_ = absl::StrCat("the result could not be stored: ", s.message());
        break;
      }
      got_result_ = true;
      SaveRunFacts(result);
      spdlog::debug("job {}: result of {} bytes stored in {} ms", job_id_, result_bytes,
                    Now() - now);
      break;
    }
    case RunnerEvent::kHeartbeat:
      if (now - last_heartbeat_saved_ms_ > kHeartbeatPersistMs) {
        pending_update_.heartbeat_ms = now;
        last_heartbeat_saved_ms_ = now;
      }
      break;
    case RunnerEvent::kFailure:
      failure_code_ = event.failure().code();
      failure_message_ = event.failure().message();
      break;
    case RunnerEvent::EVENT_NOT_SET:
      break;
  }
  if (pending_.size() >= kFlushEveryEvents) Flush(true);
}

void JobRun::Flush(bool force) {
  const int64_t now = Now();
  if (!force && now - last_flush_ms_ < kFlushEveryMs) return;
  last_flush_ms_ = now;
  std::vector<JobEvent> events;
  events.swap(pending_);
  if (!superseded_.empty()) {
    size_t next = 0, kept = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      if (next < superseded_.size() && superseded_[next] == i) {
        ++next;
      } else {
        if (kept != i) events[kept] = std::move(events[i]);
        ++kept;
      }
    }
    events.resize(kept);
    superseded_.clear();
  }
  last_progress_ = SIZE_MAX;
  if (!store_error_.empty()) {  // the job is failing: its events have nowhere to go
    pending_update_ = {};
    return;
  }
  bool has_update = pending_update_.progress_fraction || pending_update_.heartbeat_ms;
  if (events.empty() && !has_update) return;
  db::JobStore::Update update;
  std::swap(update, pending_update_);
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

void JobRun::End(const std::string& status, const std::string& error) {
  Flush(true);
  db::JobStore::Update update;
  update.finished_ms = Now();
  update.pid = 0;
  if (!error.empty()) update.error = error;
  if (status == "finished") {
    update.progress_fraction = 1.0;
    update.progress_stage = "done";
  }
  if (!Transition(status, {"running"}, update)) {
    spdlog::error("job {}: could not record its end ({})", job_id_, status);
  }
  spdlog::info("job {} {}{}{}", job_id_, status, error.empty() ? "" : ": ", error);
}

}  // namespace

void JobManager::RunJob(const std::string& job_id, WorkerStores& stores,
                        std::optional<RunnerProcess>& warm) {
  auto control = std::make_shared<RunningJob>();
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
  JobRun run(*this, stores, job_id, channel, control->cancel_requested, warm);
  run.Run();
  channel->Close();
  Forget(job_id);
}

}  // namespace backtest::jobs
