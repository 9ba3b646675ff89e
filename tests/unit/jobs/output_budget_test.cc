// A job's stdout and stderr: kept up to its budget, the rest counted and dropped, in the job path
// too (a runner that prints without end neither fills the disk nor the job's log).
#include "server/jobs/output_budget.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "db/database.h"
#include "db/job_store.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/runner_event_reader.h"
#include "tests/testing/temp_dir.h"

namespace backtest::jobs {
namespace {

TEST(OutputBudgetTest, KeepsAPrefixAndCountsTheRest) {
  OutputBudget budget(3, 100);
  EXPECT_TRUE(budget.Take(10));
  EXPECT_TRUE(budget.Take(10));
  EXPECT_TRUE(budget.Take(10));
  EXPECT_FALSE(budget.spent());
  EXPECT_EQ(budget.DroppedNote(), "");
  EXPECT_FALSE(budget.Take(1));  // the fourth line
  EXPECT_TRUE(budget.spent());
  const char raw[] = "abc\ndefg\nhi";  // two more line feeds; 9 bytes of text
  budget.Drop(raw, sizeof raw - 1);
  budget.DropPartial(5);
  EXPECT_EQ(budget.kept_lines(), 3);
  EXPECT_EQ(budget.kept_bytes(), 30);
  EXPECT_EQ(budget.dropped_lines(), 3);
  EXPECT_EQ(budget.dropped_bytes(), 1 + 9 + 5);
  EXPECT_NE(budget.DroppedNote(), "");
}

TEST(OutputBudgetTest, BytesBoundTheKeptLinesToo) {
  OutputBudget budget(1000, 25);
  EXPECT_TRUE(budget.Take(20));
  EXPECT_FALSE(budget.Take(10));
  // Once spent, a line that would fit is dropped too: the kept log is a prefix.
  EXPECT_FALSE(budget.Take(1));
  EXPECT_EQ(budget.dropped_lines(), 2);
}

// A runner's printed lines that come as log events (its stdout and stderr where the backend
// carries one stream: srun) take from the job's budget as its piped lines do; its own log
// (source empty) does not. Past the budget they are dropped and counted.
TEST(OutputBudgetTest, PrintedLinesSentAsEventsTakeFromTheBudget) {
  struct NoStore : RunnerEventReader::Sink {
    void FlushQueued() override {}
    absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>&) override {
      return absl::OkStatus();
    }
    absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent&) override {
      return absl::OkStatus();
    }
    absl::Status StoreResult(std::string, const backtest::runner::v1::RunOutput&) override {
      return absl::OkStatus();
    }
  } sink;
  OutputBudget budget(2, 1000);
  RunnerEventReader reader(sink, [] { return int64_t{0}; }, 5000, &budget);
  auto log = [&](const std::string& source, const std::string& text) {
    backtest::runner::v1::RunnerEvent event;
    event.mutable_log()->set_level("info");
    event.mutable_log()->set_source(source);
    event.mutable_log()->set_text(text);
    reader.Handle(event.SerializeAsString());
  };
  log("stdout", "one");
  log("", "the engine's own line");
  log("stderr", "two");
  log("stdout", "three");
  log("", "another of the engine's");
  log("stdout", "four");
  std::vector<std::string> kept;
  for (const JobEvent& e : reader.TakeQueued()) kept.push_back(e.source + ": " + e.text);
  EXPECT_THAT(kept, ::testing::ElementsAre("stdout: one", "engine: the engine's own line",
                                           "stderr: two", "engine: another of the engine's"));
  EXPECT_TRUE(budget.spent());
  EXPECT_EQ(budget.kept_lines(), 2);
  EXPECT_EQ(budget.dropped_lines(), 2);
  EXPECT_EQ(budget.dropped_bytes(), 9);  // "three", "four"
}

// Through a job: a runner that prints 300,000 lines keeps 1,000 of them, and a server line says
// what was dropped; the job ends as its runner does.
TEST(JobOutputTest, AJobKeepsItsOutputBudgetAndSaysWhatItDropped) {
  testing::TempDir dir;
  const std::string db_path = dir.File("var/backtest.db");
  auto db = db::Database::Open(db_path);
  ASSERT_TRUE(db.ok()) << db.status();
  auto users = db::UserStore::Create(db->get());
  ASSERT_TRUE(users.ok()) << users.status();
  auto owner = (*users)->CreateUser("alice", false);
  ASSERT_TRUE(owner.ok()) << owner.status();
  const std::string runner = dir.File("chatty-runner");
  std::ofstream(runner) << "#!/bin/sh\nyes 'a line of output' | head -n 300000\nexit 1\n";
  chmod(runner.c_str(), 0755);
  JobManagerOptions options;
  options.db_path = db_path;
  options.runner_path = runner;
  options.output_limit_lines = 1000;
  auto id = RunOneJob(std::move(options), owner->id, {}, 120);
  ASSERT_TRUE(id.ok()) << id.status();
  db::JobStore store((*db)->connection());
  auto job = store.Get(*id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->status, db::JobStatus::kFailed);
  auto events = store.Events(*id, 1, 1000000);
  ASSERT_TRUE(events.ok()) << events.status();
  int stdout_lines = 0;
  int64_t last_stdout_seq = 0, dropped_note_seq = 0;
  for (const db::EventRecord& e : *events) {
    if (e.kind == "log" && e.source == "stdout") {
      ++stdout_lines;
      last_stdout_seq = e.seq;
      EXPECT_EQ(e.text, "a line of output");
    }
    if (e.kind == "log" && e.source == "server" && e.level == "warning") dropped_note_seq = e.seq;
  }
  EXPECT_EQ(stdout_lines, 1000);
  EXPECT_GT(dropped_note_seq, last_stdout_seq);
}

}  // namespace
}  // namespace backtest::jobs
