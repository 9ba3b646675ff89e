// A sweep fanned out in steps (SweepSteps) over a scripted backend: every chunk runs, at most
// `steps` at once, each with only its combinations; a step that sends a row of another chunk,
// fails or ends short fails the sweep naming it and stops the others; a cancel reaches every
// running step.
#include "server/jobs/sweep_steps.h"

#include <deque>
#include <functional>
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace backtest::jobs {
namespace {

using backtest::runner::v1::RunnerEvent;
using backtest::runner::v1::RunSpec;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// What a scripted run sends and how it ends; `hold`: it stays until cancelled or terminated.
struct Script {
  std::vector<std::string> events;
  RunnerEnd end{RunnerEndKind::kFinished, "", ""};
  bool hold = false;
};

struct Counts {
  int alive = 0;
  int most_alive = 0;
  int started = 0;
  int cancels = 0;
  int terminates = 0;
  std::vector<std::vector<int32_t>> rows_of_runs;  // each run's SweepSpec.rows
};

class ScriptedRun : public RunnerRun {
 public:
  ScriptedRun(Script script, Counts& counts) : script_(std::move(script)), counts_(counts) {
    events_.assign(script_.events.begin(), script_.events.end());
  }
  std::string reference() const override { return "scripted run"; }
  std::string started_line() const override { return "runner started (scripted)"; }
  int64_t pid() const override { return 0; }
  bool Pump(int, Listener& listener) override {
    if (!events_.empty()) {
      listener.OnAlive();
      listener.OnEvent(events_.front());
      events_.pop_front();
      return true;
    }
    return script_.hold && !cancelled_ && !terminated_;
  }
  void Cancel() override {
    cancelled_ = true;
    ++counts_.cancels;
  }
  void Terminate() override {
    terminated_ = true;
    ++counts_.terminates;
  }
  RunnerEnd Finish() override {
    --counts_.alive;
    if (cancelled_) return {RunnerEndKind::kCancelled, "cancelled", "cancelled"};
    if (terminated_) return {RunnerEndKind::kFailed, "crash", "killed"};
    return script_.end;
  }

 private:
  Script script_;
  Counts& counts_;
  std::deque<std::string> events_;
  bool cancelled_ = false;
  bool terminated_ = false;
};

class ScriptedBackend : public RunnerBackend {
 public:
  ScriptedBackend(std::function<Script(const RunSpec&, int run)> script, Counts& counts)
      : script_(std::move(script)), counts_(counts) {}
  absl::StatusOr<std::unique_ptr<RunnerRun>> Start(const RunRequest& request) override {
    counts_.rows_of_runs.emplace_back(request.spec->sweep().rows().begin(),
                                      request.spec->sweep().rows().end());
    counts_.most_alive = std::max(counts_.most_alive, ++counts_.alive);
    return std::make_unique<ScriptedRun>(script_(*request.spec, counts_.started++), counts_);
  }

 private:
  std::function<Script(const RunSpec&, int)> script_;
  Counts& counts_;
};

// The sweep's job: rows kept by number (a row twice is refused), log lines kept.
class FakeJob : public SweepSteps::Job {
 public:
  int64_t Now() override { return ++now_; }
  void Queue(JobEvent event) override { log.push_back(event.text); }
  void OutputLine(const char*, std::string line) override { log.push_back(std::move(line)); }
  void FlushQueued() override {}
  absl::Status StoreRows(const backtest::runner::v1::SweepRowsEvent& rows) override {
    for (const auto& r : rows.rows()) {
      if (!stored.insert(r.row()).second) return absl::InvalidArgumentError("a row twice");
    }
    return absl::OkStatus();
  }
  void Heard() override {}
  void Tick() override {
    if (cancel_after_rows > 0 && static_cast<int>(stored.size()) >= cancel_after_rows) cancel = true;
  }
  bool cancel_requested() override { return cancel; }
  std::string must_stop() override { return ""; }

  std::set<int32_t> stored;
  std::vector<std::string> log;
  bool cancel = false;
  int cancel_after_rows = 0;

 private:
  int64_t now_ = 0;
};

RunSpec SweepOf(int combinations) {
  RunSpec spec;
  auto* sweep = spec.mutable_sweep();
  sweep->add_names("fast_period");
  for (int i = 0; i < combinations; ++i) sweep->add_combinations()->add_values(std::to_string(i));
  return spec;
}

std::string RowsEvent(const std::vector<int32_t>& rows) {
  RunnerEvent e;
  for (int32_t row : rows) e.mutable_sweep_rows()->add_rows()->set_row(row);
  return e.SerializeAsString();
}

std::string DoneEvent(int rows) {
  RunnerEvent e;
  e.mutable_sweep_done()->set_rows(rows);
  return e.SerializeAsString();
}

// A well-behaved step: its rows, then its end.
Script Honest(const RunSpec& spec) {
  std::vector<int32_t> rows(spec.sweep().rows().begin(), spec.sweep().rows().end());
  return {{RowsEvent(rows), DoneEvent(static_cast<int>(rows.size()))}};
}

TEST(SweepStepsTest, EveryChunkRunsAsAStepOfItsOwnAtMostStepsAtOnce) {
  const RunSpec spec = SweepOf(10);
  Counts counts;
  ScriptedBackend backend([](const RunSpec& s, int) { return Honest(s); }, counts);
  SweepSteps steps(backend, {}, spec, {.chunk = 3, .steps = 2});
  EXPECT_EQ(steps.chunks(), 4u);
  FakeJob job;
  const RunnerEnd end = steps.Run(job);
  EXPECT_EQ(end.kind, RunnerEndKind::kFinished) << end.message;
  EXPECT_EQ(job.stored.size(), 10u);
  EXPECT_EQ(counts.started, 4);
  EXPECT_LE(counts.most_alive, 2);
  EXPECT_EQ(counts.rows_of_runs[3], (std::vector<int32_t>{9}));
  EXPECT_THAT(job.log, ::testing::Contains(StartsWith("step 4 of 4 (row 9): runner started")));
}

TEST(SweepStepsTest, AStepSendingARowOfAnotherChunkFailsTheSweepNamingIt) {
  const RunSpec spec = SweepOf(6);
  Counts counts;
  ScriptedBackend backend(
      [](const RunSpec& s, int run) {
        if (run != 1) return Honest(s);
        return Script{{RowsEvent({0})}};  // step 2's runner sends row 0, step 1's
      },
      counts);
  SweepSteps steps(backend, {}, spec, {.chunk = 2, .steps = 1});
  FakeJob job;
  const RunnerEnd end = steps.Run(job);
  EXPECT_EQ(end.kind, RunnerEndKind::kFailed);
  EXPECT_EQ(end.reason, "protocol");
  EXPECT_THAT(end.message, StartsWith("sweep step 2 of 3 (rows 2–3; scripted run) failed: "));
  EXPECT_THAT(end.message, HasSubstr("sweep row 0 is not one of step 2 of 3's"));
  EXPECT_EQ(counts.started, 2);  // the third never started
}

TEST(SweepStepsTest, AFailedStepStopsTheOthersAndFailsTheSweepWithItsReason) {
  const RunSpec spec = SweepOf(6);
  Counts counts;
  ScriptedBackend backend(
      [](const RunSpec& s, int run) {
        if (run == 0) {
          return Script{{}, {RunnerEndKind::kFailed, "slurm_step",
                             "the Slurm step failed (srun: error: n1: task 0: Killed)"}};
        }
        Script held = Honest(s);
        held.events.pop_back();  // no end: it runs on
        held.hold = true;
        return held;
      },
      counts);
  SweepSteps steps(backend, {}, spec, {.chunk = 2, .steps = 3});
  FakeJob job;
  const RunnerEnd end = steps.Run(job);
  EXPECT_EQ(end.kind, RunnerEndKind::kFailed);
  EXPECT_EQ(end.reason, "slurm_step");
  EXPECT_EQ(end.message,
            "sweep step 1 of 3 (rows 0–1; scripted run) failed: the Slurm step failed (srun: "
            "error: n1: task 0: Killed)");
  EXPECT_EQ(counts.terminates, 2);  // the two others, stopped
  EXPECT_EQ(counts.alive, 0);
}

TEST(SweepStepsTest, AStepEndingWithoutAllItsRowsFailsTheSweep) {
  const RunSpec spec = SweepOf(2);
  Counts counts;
  ScriptedBackend backend([](const RunSpec&, int) { return Script{{RowsEvent({0}), DoneEvent(1)}}; },
                          counts);
  SweepSteps steps(backend, {}, spec, {.chunk = 2, .steps = 1});
  FakeJob job;
  const RunnerEnd end = steps.Run(job);
  EXPECT_EQ(end.kind, RunnerEndKind::kFailed);
  EXPECT_THAT(end.message, HasSubstr("step 1 of 1 ended with 1 of 2 rows"));
}

TEST(SweepStepsTest, ACancelReachesEveryRunningStepAndStartsNoMore) {
  const RunSpec spec = SweepOf(8);
  Counts counts;
  ScriptedBackend backend(
      [](const RunSpec& s, int) {
        Script held = Honest(s);
        held.events.pop_back();
        held.hold = true;  // until cancelled
        return held;
      },
      counts);
  SweepSteps steps(backend, {}, spec, {.chunk = 2, .steps = 2});
  FakeJob job;
  job.cancel_after_rows = 4;  // both running steps have sent their rows
  const RunnerEnd end = steps.Run(job);
  EXPECT_EQ(end.kind, RunnerEndKind::kCancelled);
  EXPECT_EQ(counts.started, 2);
  EXPECT_EQ(counts.cancels, 2);
  EXPECT_EQ(counts.alive, 0);
  EXPECT_EQ(job.stored.size(), 4u);  // the rows sent before the cancel stay
}

}  // namespace
}  // namespace backtest::jobs
