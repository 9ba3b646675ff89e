#include "db/job_store.h"

#include <sqlite3.h>

#include <tuple>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "db/database.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;

auto Fields(const EventRecord& e) {
  return std::tie(e.seq, e.time_ms, e.kind, e.source, e.level, e.text, e.payload);
}

EventRecord Log(int64_t time_ms, std::string source, std::string level, std::string text) {
  return {.time_ms = time_ms, .kind = "log", .source = std::move(source),
          .level = std::move(level), .text = std::move(text)};
}

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.File("b.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    db_->connection().exec(
        "INSERT INTO users(id, name, is_staff, created_ms) VALUES(1, 'ann', 0, 1);"
        "INSERT INTO jobs(id, owner_id, status, params_json, created_ms) VALUES"
        "('job1', 1, 'running', '{}', 1)");
    store_ = std::make_unique<JobStore>(db_->connection());
  }

  // Appends `events` in batches of `batch`, as a job's writer does; returns them with their seqs.
  std::vector<EventRecord> AppendAll(std::vector<EventRecord> events, size_t batch) {
    std::vector<EventRecord> stored;
    for (size_t i = 0; i < events.size(); i += batch) {
      std::vector<EventRecord> part(events.begin() + static_cast<ptrdiff_t>(i),
                                    events.begin() + static_cast<ptrdiff_t>(
                                                         std::min(events.size(), i + batch)));
      EXPECT_THAT(store_->Apply("job1", {}, part), IsOk());
      stored.insert(stored.end(), part.begin(), part.end());
    }
    return stored;
  }

  int64_t Rows() {
    return db_->connection().execAndGet("SELECT count(*) FROM job_events").getInt64();
  }

  // Inserts job `id` (with one event, seq 1) and sets its status.
  void InsertJob(const std::string& id, absl::string_view status) {
    std::vector<EventRecord> events = {{.time_ms = 1, .kind = "status", .text = "queued"}};
    ASSERT_THAT(store_->Insert({.id = id, .owner_id = 1, .params_json = "{}", .created_ms = 1},
                               events),
                IsOk());
    SQLite::Statement set(db_->connection(), "UPDATE jobs SET status = ? WHERE id = ?");
    set.bind(1, std::string(status));
    set.bind(2, id);
    ASSERT_EQ(set.exec(), 1);
  }

  ::backtest::testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<JobStore> store_;
};

// A job's log as the runner and the server make it: runs of engine lines (some with the same
// millisecond, one a moment earlier than the line before), a warning among them, stdout and
// stderr lines, progress and status events between, empty and non-ASCII texts.
std::vector<EventRecord> MixedLog(int n) {
  std::vector<EventRecord> out;
  out.push_back({.time_ms = 1000, .kind = "status", .text = "running"});
  for (int i = 0; i < n; ++i) {
    const int64_t t = 1000 + i / 3 - (i % 17 == 5 ? 2 : 0);
    if (i % 97 == 50) {
      out.push_back({.time_ms = t, .kind = "progress", .text = "run", .payload = "0.5 1 2"});
    }
    if (i % 41 == 7) {
      out.push_back(Log(t, "engine", "warning", "order skipped: no margin"));
    } else if (i % 29 == 3) {
      out.push_back(Log(t, "stdout", "info", "printed " + std::to_string(i)));
    } else if (i % 31 == 4) {
      out.push_back(Log(t, "stderr", "warning", ""));
    } else {
      out.push_back(Log(t, "engine", "info",
                        "2020-01-01T03:00:00Z EURUSD ENTRY long #" + std::to_string(i) +
                            (i % 11 == 0 ? " — ünïcode\ttab" : "")));
    }
  }
  out.push_back({.time_ms = 9000, .kind = "status", .text = "finished"});
  return out;
}

TEST_F(JobStoreTest, RunsOfLogLinesShareRowsAndReadBackEventByEventFromAnySeq) {
  std::vector<EventRecord> stored = AppendAll(MixedLog(900), 256);
  ASSERT_EQ(stored.size(), MixedLog(900).size());
  for (size_t i = 0; i < stored.size(); ++i) ASSERT_EQ(stored[i].seq, static_cast<int64_t>(i + 1));
  EXPECT_LT(Rows(), 200);  // 911 events
  EXPECT_EQ(store_->Get("job1")->last_seq, 911);
  for (int64_t from : {1, 2, 3, 100, 255, 256, 257, 500, 910, 911, 912}) {
    for (int limit : {1, 7, 300, 5000}) {
      auto events = store_->Events("job1", from, limit);
      ASSERT_THAT(events, IsOk());
      const size_t first = static_cast<size_t>(from - 1);
      const size_t n = std::min(static_cast<size_t>(limit),
                                stored.size() - std::min(first, stored.size()));
      ASSERT_EQ(events->size(), n) << "from " << from << " limit " << limit;
      for (size_t k = 0; k < n; ++k) {
        ASSERT_EQ(Fields((*events)[k]), Fields(stored[first + k])) << "seq " << first + k + 1;
      }
    }
  }
}

TEST_F(JobStoreTest, LogTailsReadAcrossSharedRows) {
  std::vector<EventRecord> stored = AppendAll(MixedLog(900), 256);
  for (const char* source : {"stdout", "stderr", "engine"}) {
    std::vector<std::string> lines;
    for (const auto& e : stored) {
      if (e.kind == "log" && e.source == source) lines.push_back(e.text);
    }
    for (int n : {1, 5, 40, 2000}) {
      const size_t keep = std::min(lines.size(), static_cast<size_t>(n));
      const std::string expected =
          absl::StrJoin(lines.end() - static_cast<ptrdiff_t>(keep), lines.end(), "\n");
      EXPECT_EQ(*store_->LogTail("job1", source, n), expected) << source << " " << n;
    }
  }
}

TEST_F(JobStoreTest, ASharedRowHoldsAtMost256Lines) {
  std::vector<EventRecord> lines;
  for (int i = 0; i < 600; ++i) lines.push_back(Log(5, "engine", "info", std::to_string(i)));
  ASSERT_THAT(store_->Apply("job1", {}, lines), IsOk());
  EXPECT_EQ(Rows(), 3);
  EXPECT_EQ(db_->connection().execAndGet("SELECT max(event_count) FROM job_events").getInt(), 256);
  auto tail = store_->Events("job1", 599, 10);
  ASSERT_THAT(tail, IsOk());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[1].text, "599");
}

TEST_F(JobStoreTest, AMalformedSharedRowIsDataLossNamingItsSeqs) {
  std::vector<EventRecord> lines = {Log(5, "engine", "info", "one"),
                                    Log(5, "engine", "info", "two")};
  ASSERT_THAT(store_->Apply("job1", {}, lines), IsOk());
  db_->connection().exec("UPDATE job_events SET text = 'onetwothree'");
  EXPECT_THAT(store_->Events("job1", 1, 10),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("events 1..2 of job job1")));
  db_->connection().exec("UPDATE job_events SET text = 'onetwo', payload = x'0003'");
  EXPECT_THAT(store_->LogTail("job1", "engine", 10), StatusIs(absl::StatusCode::kDataLoss));
}

// The status changes the server makes, each allowed only from the status it names.
struct Transition {
  absl::string_view to;
  absl::string_view from;
};
constexpr Transition kTransitions[] = {
    {"running", "queued"},     // a worker starts the job (JobRun::Run)
    {"cancelled", "queued"},   // cancelled before it started (JobManager::Cancel)
    {"finished", "running"},   // its runner ended with a result (JobRun::End)
    {"failed", "running"},     // its runner failed, or the server restarted (JobRun, JobManager)
    {"cancelled", "running"},  // cancelled while it ran (JobRun::End)
};
constexpr absl::string_view kStatuses[] = {"queued", "running", "finished", "failed", "cancelled"};

// A change with the fields the server writes alongside a status, and its status event.
JobStore::Update StatusChange(const Transition& t) {
  JobStore::Update update;
  update.status = ParseJobStatus(t.to);
  update.from_statuses = {*ParseJobStatus(t.from)};
  update.error = "because";
  update.started_ms = 50;
  update.finished_ms = 60;
  update.pid = 0;
  return update;
}

std::vector<EventRecord> StatusEvents(absl::string_view status) {
  return {{.time_ms = 60, .kind = "status", .text = std::string(status)}};
}

// Each transition from each status: it applies (status, fields and event written) from the status
// it names, and from any other is FailedPrecondition naming the current status, writing nothing.
// A submission reads its user's active jobs (QuotaOf) through the status index: its work does not
// grow with the jobs they have run before. Counted in SQLite's virtual machine steps (a progress
// handler called on every one).
TEST_F(JobStoreTest, AUsersQuotaIsReadWithoutTheirEndedJobs) {
  auto steps_of_quota = [&] {
    int64_t steps = 0;
    sqlite3_progress_handler(
        db_->connection().getHandle(), 1,
        [](void* n) { return ++*static_cast<int64_t*>(n), 0; }, &steps);
    auto quota = store_->QuotaOf(1);
    sqlite3_progress_handler(db_->connection().getHandle(), 0, nullptr, nullptr);
    EXPECT_THAT(quota, IsOk());
    if (quota.ok()) EXPECT_EQ(quota->active_jobs, 2);  // job1 and the queued one
    return steps;
  };
  InsertJob("queued", "queued");
  const int64_t few = steps_of_quota();
  db_->connection().exec(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
      "INSERT INTO jobs(id, owner_id, status, params_json, created_ms) "
      "SELECT 'ended' || i, 1, 'finished', '{}', i FROM n");
  const int64_t many = steps_of_quota();
  EXPECT_LT(many, few + 50) << "2000 ended jobs cost " << many - few << " more steps";
}

TEST_F(JobStoreTest, AStatusChangeAppliesOnlyFromTheStatusItNames) {
  int n = 0;
  for (const Transition& t : kTransitions) {
    for (absl::string_view current : kStatuses) {
      SCOPED_TRACE(absl::StrCat(current, " -> ", t.to, " (allowed from ", t.from, ")"));
      const std::string id = absl::StrCat("job-", ++n);
      InsertJob(id, current);
      std::vector<EventRecord> events = StatusEvents(t.to);
      absl::Status applied = store_->Apply(id, StatusChange(t), events);
      auto job = store_->Get(id);
      ASSERT_THAT(job, IsOk());
      auto stored = store_->Events(id, 1, 10);
      ASSERT_THAT(stored, IsOk());
      if (current == t.from) {
        EXPECT_THAT(applied, IsOk());
        EXPECT_EQ(JobStatusName(job->status), t.to);
        EXPECT_EQ(job->error, "because");
        EXPECT_EQ(job->started_ms, 50);
        EXPECT_EQ(job->finished_ms, 60);
        EXPECT_EQ(job->last_seq, 2);
        ASSERT_EQ(stored->size(), 2u);
        EXPECT_EQ(stored->back().text, t.to);
      } else {
        EXPECT_THAT(applied, StatusIs(absl::StatusCode::kFailedPrecondition,
                                      HasSubstr(absl::StrCat("job ", id, " is ", current))));
        EXPECT_EQ(JobStatusName(job->status), current);
        EXPECT_EQ(job->error, "");
        EXPECT_EQ(job->started_ms, std::nullopt);
        EXPECT_EQ(job->finished_ms, std::nullopt);
        EXPECT_EQ(job->last_seq, 1);
        EXPECT_EQ(stored->size(), 1u);
      }
    }
  }
}

// A worker and a Cancel request each hold a connection and decide on the status they last read;
// whichever writes second finds the status changed under it and is refused.
TEST_F(JobStoreTest, AChangeFromAStatusThatIsNoLongerCurrentDoesNotApply) {
  auto other_db = Database::Open(dir_.File("b.db"));
  ASSERT_THAT(other_db, IsOk());
  JobStore other((*other_db)->connection());
  const Transition start = {"running", "queued"};
  const Transition cancel_queued = {"cancelled", "queued"};

  // Cancelled first: the worker, which read the job as queued, cannot start it.
  InsertJob("cancelled-first", "queued");
  ASSERT_EQ(JobStatusName(store_->Get("cancelled-first")->status), "queued");
  std::vector<EventRecord> events = StatusEvents("cancelled");
  ASSERT_THAT(other.Apply("cancelled-first", StatusChange(cancel_queued), events), IsOk());
  events = StatusEvents("running");
  EXPECT_THAT(store_->Apply("cancelled-first", StatusChange(start), events),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("job cancelled-first is cancelled")));
  auto job = store_->Get("cancelled-first");
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(JobStatusName(job->status), "cancelled");
  EXPECT_EQ(job->last_seq, 2);

  // Started first: the cancel of a queued job, which read it as queued, does not apply; the
  // running job's own end still does.
  InsertJob("started-first", "queued");
  ASSERT_EQ(JobStatusName(other.Get("started-first")->status), "queued");
  events = StatusEvents("running");
  ASSERT_THAT(store_->Apply("started-first", StatusChange(start), events), IsOk());
  events = StatusEvents("cancelled");
  EXPECT_THAT(other.Apply("started-first", StatusChange(cancel_queued), events),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("job started-first is running")));
  EXPECT_EQ(JobStatusName(store_->Get("started-first")->status), "running");
  events = StatusEvents("cancelled");
  EXPECT_THAT(other.Apply("started-first", StatusChange({"cancelled", "running"}), events), IsOk());
  job = store_->Get("started-first");
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(JobStatusName(job->status), "cancelled");
  EXPECT_EQ(job->last_seq, 3);
}

// Without from_statuses a status change applies from any status; an update without a status
// ignores from_statuses; an unknown job is NotFound.
TEST_F(JobStoreTest, StatusChangesWithoutAFromStatusAndUnknownJobs) {
  for (absl::string_view current : kStatuses) {
    const std::string id = absl::StrCat("any-", current);
    InsertJob(id, current);
    JobStore::Update update;
    update.status = JobStatus::kFailed;
    std::vector<EventRecord> events;
    EXPECT_THAT(store_->Apply(id, update, events), IsOk()) << current;
    EXPECT_EQ(JobStatusName(store_->Get(id)->status), "failed") << current;
  }
  JobStore::Update progress;
  progress.from_statuses = {JobStatus::kQueued};
  progress.bars_done = 7;
  std::vector<EventRecord> none;
  EXPECT_THAT(store_->Apply("job1", progress, none), IsOk());  // job1 is running
  EXPECT_EQ(store_->Get("job1")->bars_done, 7);
  EXPECT_THAT(store_->Apply("no-such-job", StatusChange(kTransitions[0]), none),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace backtest::db
