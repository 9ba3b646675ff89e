// SweepService end to end through a real server: a sweep is a job whose runner runs every
// combination; its rows read back sorted, filtered and paged; a row opened as a job has the
// same stats; validation names the field; cancel stops it keeping its rows; a sweep is its
// owner's; a sweep cut by the server's end resumes at the next start with its rows kept.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "backtest/v1/sweep_service.grpc.pb.h"
#include "db/database.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;

class SweepServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 1;
    server_.options().max_sweep_combinations = 5000;
    server_.Start();
    sweeps_ = backtest::v1::SweepService::NewStub(server_.channel());
  }

  // sma_cross on the sample data: fast 5, 8, 11, 14 × slow 12, 20 with fast < slow: 7 rows.
  backtest::v1::RunSweepRequest SmallSweep() {
    backtest::v1::RunSweepRequest r;
    (*r.mutable_params())["strategy"].set_string_value("sma_cross");
    (*r.mutable_params())["max_candles"].set_number_value(3000);
    auto* fast = r.add_ranges();
    fast->set_name("fast_period");
    fast->set_start(5);
    fast->set_stop(14);
    fast->set_step(3);
    auto* slow = r.add_ranges();
    slow->set_name("slow_period");
    slow->add_values()->set_number_value(12);
    slow->add_values()->set_string_value("20");
    r.add_constraints("fast_period < slow_period");
    r.mutable_objective()->set_stat("return_pct");
    return r;
  }

  // 2,970 rows of 20,000 bars: seconds of work, long enough to stop in the middle.
  backtest::v1::RunSweepRequest LongSweep() {
    backtest::v1::RunSweepRequest r = SmallSweep();
    (*r.mutable_params())["max_candles"].set_number_value(20000);
    r.mutable_ranges(0)->set_start(2);
    r.mutable_ranges(0)->set_stop(100);
    r.mutable_ranges(0)->set_step(1);
    r.mutable_ranges(1)->clear_values();
    r.mutable_ranges(1)->set_start(101);
    r.mutable_ranges(1)->set_stop(130);
    return r;
  }

  grpc::Status Run(const backtest::v1::RunSweepRequest& r, backtest::v1::RunSweepResponse* out,
                   const std::string& token = "") {
    return sweeps_->RunSweep(server_.Context(token).get(), r, out);
  }

  backtest::v1::Sweep Get(const std::string& id) {
    backtest::v1::GetSweepRequest r;
    r.set_sweep_id(id);
    backtest::v1::GetSweepResponse out;
    grpc::Status s = sweeps_->GetSweep(server_.Context().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.sweep();
  }

  std::string Status(const std::string& id) {
    backtest::v1::Job job;
    return server_.GetJob(id, &job).ok() ? job.status() : "?";
  }

  backtest::v1::Stats ResultStats(const std::string& job_id) {
    backtest::v1::GetResultRequest r;
    r.set_job_id(job_id);
    backtest::v1::GetResultResponse out;
    grpc::Status s = server_.jobs().GetResult(server_.Context().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.stats();
  }

  TestServer server_;
  std::unique_ptr<backtest::v1::SweepService::Stub> sweeps_;
};

TEST_F(SweepServiceTest, RunsEveryCombinationAndRowsMatchSingleJobs) {
  backtest::v1::RunSweepRequest request = SmallSweep();
  request.set_dry_run(true);
  backtest::v1::RunSweepResponse counted;
  ASSERT_TRUE(Run(request, &counted).ok());
  EXPECT_EQ(counted.combinations(), 7);
  EXPECT_EQ(counted.grid_size(), 8);
  EXPECT_TRUE(counted.sweep_id().empty());

  request.set_dry_run(false);
  backtest::v1::RunSweepResponse started;
  grpc::Status s = Run(request, &started);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string id = started.sweep_id();
  EXPECT_EQ(started.job().status(), "queued");
  ASSERT_TRUE(PollUntil([&] { return Status(id) == "finished"; }, 120)) << Status(id);

  backtest::v1::Sweep sweep = Get(id);
  EXPECT_EQ(sweep.combinations(), 7);
  EXPECT_EQ(sweep.rows_done(), 7);
  EXPECT_EQ(sweep.rows_failed(), 0);
  EXPECT_THAT(sweep.names(), ::testing::ElementsAre("fast_period", "slow_period"));
  EXPECT_EQ(sweep.request().objective().stat(), "return_pct");
  EXPECT_EQ(sweep.distribution().count(), 7);
  int bucketed = 0;
  for (const auto& b : sweep.distribution().buckets()) bucketed += b.count();
  EXPECT_EQ(bucketed, 7);

  // Every row, best first: the best is GetSweep's, and the order is the objective's.
  backtest::v1::ListSweepRowsRequest list;
  list.set_sweep_id(id);
  backtest::v1::ListSweepRowsResponse rows;
  ASSERT_TRUE(sweeps_->ListSweepRows(server_.Context().get(), list, &rows).ok());
  ASSERT_EQ(rows.rows_size(), 7);
  EXPECT_EQ(rows.total_size(), 7);
  EXPECT_EQ(rows.rows(0).row(), sweep.best().row());
  std::set<std::pair<std::string, std::string>> combos;
  for (int i = 0; i < rows.rows_size(); ++i) {
    const auto& r = rows.rows(i);
    combos.insert({r.params().at("fast_period"), r.params().at("slow_period")});
    EXPECT_EQ(r.objective(), r.stats().return_pct());
    if (i > 0) EXPECT_GE(rows.rows(i - 1).objective(), r.objective());
  }
  EXPECT_EQ(combos, (std::set<std::pair<std::string, std::string>>{
                        {"5", "12"}, {"8", "12"}, {"11", "12"}, {"5", "20"}, {"8", "20"},
                        {"11", "20"}, {"14", "20"}}));

  // Sorted by a parameter, filtered, paged.
  list.set_order_by("fast_period");
  list.set_filter("slow_period == 20, trades >= 0");
  list.set_page_size(2);
  ASSERT_TRUE(sweeps_->ListSweepRows(server_.Context().get(), list, &rows).ok());
  EXPECT_EQ(rows.total_size(), 4);
  ASSERT_EQ(rows.rows_size(), 2);
  EXPECT_EQ(rows.rows(0).params().at("fast_period"), "5");
  EXPECT_EQ(rows.rows(1).params().at("fast_period"), "8");
  list.set_page_token(rows.next_page_token());
  ASSERT_TRUE(sweeps_->ListSweepRows(server_.Context().get(), list, &rows).ok());
  ASSERT_EQ(rows.rows_size(), 2);
  EXPECT_EQ(rows.rows(0).params().at("fast_period"), "11");
  EXPECT_EQ(rows.rows(1).params().at("fast_period"), "14");
  EXPECT_TRUE(rows.next_page_token().empty());
  list.set_filter("happiness > 1");
  EXPECT_EQ(sweeps_->ListSweepRows(server_.Context().get(), list, &rows).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Two rows opened as jobs: their full results have the rows' stats, field for field.
  for (int row : {sweep.best().row(), 0}) {
    backtest::v1::OpenSweepRowRequest open;
    open.set_sweep_id(id);
    open.set_row(row);
    backtest::v1::OpenSweepRowResponse opened;
    s = sweeps_->OpenSweepRow(server_.Context().get(), open, &opened);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_FALSE(opened.existing());
    ASSERT_TRUE(PollUntil([&] { return Status(opened.job_id()) == "finished"; }, 120));
    backtest::v1::ListSweepRowsRequest all;
    all.set_sweep_id(id);
    backtest::v1::ListSweepRowsResponse every;
    ASSERT_TRUE(sweeps_->ListSweepRows(server_.Context().get(), all, &every).ok());
    const backtest::v1::SweepRow* stored = nullptr;
    for (const auto& r : every.rows()) {
      if (r.row() == row) stored = &r;
    }
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(stored->job_id(), opened.job_id());
    google::protobuf::util::MessageDifferencer same;
    same.set_float_comparison(google::protobuf::util::MessageDifferencer::EXACT);
    const backtest::v1::Stats single = ResultStats(opened.job_id());
    // NaN ratios are equal when both are NaN.
    google::protobuf::util::DefaultFieldComparator nan_equal;
    nan_equal.set_treat_nan_as_equal(true);
    same.set_field_comparator(&nan_equal);
    EXPECT_TRUE(same.Compare(single, stored->stats()))
        << single.DebugString() << " vs " << stored->stats().DebugString();
    EXPECT_GT(single.trades(), 0);
    // Opened again: the same job.
    ASSERT_TRUE(sweeps_->OpenSweepRow(server_.Context().get(), open, &opened).ok());
    EXPECT_TRUE(opened.existing());
    EXPECT_EQ(opened.job_id(), stored->job_id());
  }
}

// Walk-forward by hand: 3,000 M1 bars, rolling windows of 1,000 train and 500 test bars: four
// windows, train i = bars [500 i, 500 i + 1000), test i = the 500 after. On each train window the
// best of four combinations (each run here as a single job on the window) is the sweep's choice,
// its test run is the single job on the test window, the stitched equity chains the test runs,
// out-of-sample trades lie inside their test windows, and the efficiency is the windows' mean.
TEST_F(SweepServiceTest, WalkForwardPicksEachTrainWindowsBestAndRunsItOnTheTestWindow) {
  const std::string dir = server_.dir().File("var/data");
  std::filesystem::create_directories(dir);
  {
    std::ofstream csv(dir + "/WF_M1.csv");
    csv << "time,open,high,low,close,volume\n";
    double price = 100;
    for (int i = 0; i < 3000; ++i) {
      const double next = price + 0.05 * std::sin(i * 0.05) + 0.03 * std::sin(i * 0.37);
      csv << 1'600'000'020 + 60 * i << ',' << price << ',' << std::max(price, next) + 0.01 << ','
          << std::min(price, next) - 0.01 << ',' << next << ",5\n";
      price = next;
    }
  }
  const std::map<std::string, std::string> base = {
      {"strategy", "sma_cross"}, {"symbols", "WF"}, {"timeframe", "M1"},
      {"data_source", "file://" + dir}, {"start_date", "2020-01-01"}, {"end_date", "2021-01-01"}};
  backtest::v1::RunSweepRequest r;
  for (const auto& [k, v] : base) (*r.mutable_params())[k].set_string_value(v);
  auto* fast = r.add_ranges();
  fast->set_name("fast_period");
  fast->add_values()->set_number_value(5);
  fast->add_values()->set_number_value(10);
  auto* slow = r.add_ranges();
  slow->set_name("slow_period");
  slow->add_values()->set_number_value(20);
  slow->add_values()->set_number_value(40);
  r.mutable_objective()->set_stat("return_pct");
  r.mutable_walk_forward()->set_train_bars(1000);
  r.mutable_walk_forward()->set_test_bars(500);
  backtest::v1::RunSweepResponse started;
  grpc::Status s = Run(r, &started);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string id = started.sweep_id();
  ASSERT_TRUE(PollUntil([&] { return Status(id) == "finished"; }, 120)) << Status(id);
  const backtest::v1::Sweep sweep = Get(id);
  const backtest::v1::WalkForward& wf = sweep.walk_forward();
  ASSERT_EQ(wf.windows_size(), 4);

  auto run = [&](std::map<std::string, std::string> params, double start, double end) {
    params["start_date"] = absl::StrCat(static_cast<int64_t>(start));
    params["end_date"] = absl::StrCat(static_cast<int64_t>(end));
    const std::string job = server_.Submit(params);
    EXPECT_TRUE(PollUntil([&] { return Status(job) == "finished"; }, 60)) << Status(job);
    return ResultStats(job);
  };
  google::protobuf::util::MessageDifferencer same;
  google::protobuf::util::DefaultFieldComparator nan_equal;
  nan_equal.set_treat_nan_as_equal(true);
  same.set_field_comparator(&nan_equal);
  const double t0 = 1'600'000'020;  // bar k's time is t0 + 60 k (a whole minute)
  double level = 100'000'000, efficiency_sum = 0;
  int efficiencies = 0;
  for (int i = 0; i < 4; ++i) {
    const backtest::v1::WalkForwardWindow& w = wf.windows(i);
    EXPECT_EQ(w.train_start(), t0 + 60 * (500 * i));
    EXPECT_EQ(w.train_end(), t0 + 60 * (500 * i + 1000));
    EXPECT_EQ(w.test_start(), w.train_end());
    EXPECT_EQ(w.test_end(), i < 3 ? t0 + 60 * (500 * i + 1500) : t0 + 60 * 2999 + 1);
    // The train window's best of the four, each a single job on it.
    int best = -1;
    double best_return = 0;
    backtest::v1::Stats best_stats;
    int row = 0;
    for (const char* f : {"5", "10"}) {
      for (const char* sl : {"20", "40"}) {
        auto params = base;
        params["fast_period"] = f;
        params["slow_period"] = sl;
        backtest::v1::Stats stats = run(params, w.train_start(), w.train_end());
        if (!std::isnan(stats.return_pct()) && (best < 0 || stats.return_pct() > best_return)) {
          best = row;
          best_return = stats.return_pct();
          best_stats = stats;
        }
        ++row;
      }
    }
    ASSERT_EQ(w.best_row(), best) << "window " << i;
    EXPECT_TRUE(same.Compare(w.train_stats(), best_stats)) << "window " << i;
    auto params = base;
    for (const auto& [name, value] : w.params()) params[name] = value;
    EXPECT_TRUE(same.Compare(w.test_stats(), run(params, w.test_start(), w.test_end())))
        << "window " << i;
    level *= w.test_stats().equity_final() / 100'000'000;
    if (w.train_stats().return_ann_pct() > 0) {
      EXPECT_EQ(w.efficiency(), w.test_stats().return_ann_pct() / w.train_stats().return_ann_pct());
      efficiency_sum += w.efficiency();
      ++efficiencies;
    } else {
      EXPECT_TRUE(std::isnan(w.efficiency()));
    }
  }
  // Out-of-sample trades only inside their test windows.
  ASSERT_GT(wf.trades_size(), 0);
  for (const auto& t : wf.trades()) {
    const backtest::v1::WalkForwardWindow& w = wf.windows(t.window());
    EXPECT_GE(t.entry_time(), w.test_start());
    EXPECT_LT(t.exit_time(), w.test_end());
  }
  // The stitched equity ends where the test runs chained end, and lies in the test windows.
  ASSERT_GT(wf.equity_values_size(), 0);
  EXPECT_NEAR(wf.equity_values(wf.equity_values_size() - 1), level, level * 1e-9);
  EXPECT_GE(wf.equity_times(0), wf.windows(0).test_start());
  if (efficiencies > 0) EXPECT_DOUBLE_EQ(wf.efficiency(), efficiency_sum / efficiencies);

  // Anchored: every train window starts at the first bar and grows by the test windows.
  r.mutable_walk_forward()->set_mode("anchored");
  ASSERT_TRUE(Run(r, &started).ok());
  ASSERT_TRUE(PollUntil([&] { return Status(started.sweep_id()) == "finished"; }, 120));
  const backtest::v1::WalkForward anchored = Get(started.sweep_id()).walk_forward();
  ASSERT_EQ(anchored.windows_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(anchored.windows(i).train_start(), t0);
    EXPECT_EQ(anchored.windows(i).train_end(), t0 + 60 * (1000 + 500 * i));
    EXPECT_EQ(anchored.windows(i).test_start(), wf.windows(i).test_start());
    EXPECT_EQ(anchored.windows(i).test_end(), wf.windows(i).test_end());
  }
  // Windows that do not fit fail the sweep naming walk_forward.
  r.mutable_walk_forward()->set_train_bars(2800);
  ASSERT_TRUE(Run(r, &started).ok());
  ASSERT_TRUE(PollUntil([&] { return Status(started.sweep_id()) == "failed"; }, 120));
  backtest::v1::Job job;
  ASSERT_TRUE(server_.GetJob(started.sweep_id(), &job).ok());
  EXPECT_THAT(job.error(), HasSubstr("walk_forward"));
}

TEST_F(SweepServiceTest, ValidationNamesTheFieldAndTheLimitRefusesWithTheCount) {
  backtest::v1::RunSweepResponse out;
  auto refused = [&](const backtest::v1::RunSweepRequest& r, const std::string& what) {
    grpc::Status s = Run(r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
    EXPECT_THAT(s.error_message(), HasSubstr(what));
  };
  backtest::v1::RunSweepRequest r = SmallSweep();
  r.mutable_ranges(0)->set_name("symbols");
  refused(r, "ranges[0].name");
  r = SmallSweep();
  r.set_method("annealing");
  refused(r, "method");
  r = SmallSweep();
  r.set_constraints(0, "fast_period << slow_period");
  refused(r, "constraints[0]");
  r = SmallSweep();
  r.mutable_objective()->set_stat("luck");
  refused(r, "objective.stat");
  r = SmallSweep();
  (*r.mutable_params())["rr"].set_number_value(-1);
  refused(r, "rr");
  r = SmallSweep();
  r.mutable_walk_forward()->set_test_bars(100);
  refused(r, "walk_forward.train_bars");
  r.mutable_walk_forward()->set_train_bars(100);
  r.mutable_walk_forward()->set_mode("sideways");
  refused(r, "walk_forward.mode");
  r = SmallSweep();
  r.mutable_ranges(0)->set_stop(3000);  // 2,996 fast values × 3 slow ones, all fast < slow
  r.mutable_ranges(0)->set_step(1);
  r.clear_constraints();
  r.add_constraints("fast_period < slow_period");
  r.mutable_ranges(1)->clear_values();
  r.mutable_ranges(1)->set_start(3001);
  r.mutable_ranges(1)->set_stop(3003);
  refused(r, "would run 8988 combinations, more than the limit of 5000");
  // Nothing was stored.
  backtest::v1::ListJobsRequest list;
  backtest::v1::ListJobsResponse jobs;
  ASSERT_TRUE(server_.jobs().ListJobs(server_.Context().get(), list, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
}

TEST_F(SweepServiceTest, CancelStopsTheSweepAndKeepsItsRows) {
  backtest::v1::RunSweepResponse started;
  ASSERT_TRUE(Run(LongSweep(), &started).ok());
  const std::string id = started.sweep_id();
  ASSERT_EQ(started.combinations(), 99 * 30);
  ASSERT_TRUE(PollUntil([&] { return Get(id).rows_done() > 0; }, 120));
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  backtest::v1::CancelJobResponse cancelled;
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  // Every worker stops at its next block of bars; the runner then ends the job.
  EXPECT_TRUE(PollUntil([&] { return Status(id) == "cancelled"; }, 1.0))
      << Status(id) << " after "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count() << " s";
  ASSERT_TRUE(PollUntil([&] { return Status(id) == "cancelled"; }, 30));
  backtest::v1::Sweep sweep = Get(id);
  EXPECT_GT(sweep.rows_done(), 0);
  EXPECT_LT(sweep.rows_done(), sweep.combinations());
  backtest::v1::Job job;
  ASSERT_TRUE(server_.GetJob(id, &job).ok());
  EXPECT_EQ(job.pid(), 0);
}

TEST_F(SweepServiceTest, ASweepCutByTheServersEndResumesWithItsRowsKept) {
  backtest::v1::RunSweepResponse started;
  ASSERT_TRUE(Run(LongSweep(), &started).ok());
  const std::string id = started.sweep_id();
  ASSERT_TRUE(PollUntil([&] { return Get(id).rows_done() > 0; }, 120));
  sweeps_.reset();
  server_.Restart();
  sweeps_ = backtest::v1::SweepService::NewStub(server_.channel());
  // Queued again at the start, it resumes with the rows stored before: those are not run again
  // (the server refuses a row sent twice, failing the sweep), the others are.
  ASSERT_TRUE(PollUntil([&] { return Status(id) != "queued" && Status(id) != "running"; }, 120));
  backtest::v1::Job job;
  ASSERT_TRUE(server_.GetJob(id, &job).ok());
  ASSERT_EQ(job.status(), "finished") << job.error();
  const backtest::v1::Sweep sweep = Get(id);
  EXPECT_EQ(sweep.rows_done(), sweep.combinations());
  EXPECT_EQ(sweep.rows_failed(), 0);
  backtest::v1::ListSweepRowsRequest list;
  list.set_sweep_id(id);
  list.set_objective_only(true);
  list.set_page_size(10000);
  backtest::v1::ListSweepRowsResponse rows;
  ASSERT_TRUE(sweeps_->ListSweepRows(server_.Context().get(), list, &rows).ok());
  std::set<int> seen;
  for (const auto& r : rows.rows()) seen.insert(r.row());
  EXPECT_EQ(static_cast<int>(seen.size()), sweep.combinations());
  // Its log says what happened: the shutdown, the queueing again, the rows the runner skipped.
  backtest::v1::StreamJobLogRequest request;
  request.set_job_id(id);
  auto context = server_.Context("", 60);
  auto reader = server_.jobs().StreamJobLog(context.get(), request);
  backtest::v1::StreamJobLogResponse event;
  std::string log;
  while (reader->Read(&event)) {
    if (event.has_log()) absl::StrAppend(&log, event.log().text(), "\n");
  }
  EXPECT_THAT(log, HasSubstr("the sweep resumes"));
  EXPECT_THAT(log, ::testing::ContainsRegex(", [1-9][0-9]* stored before"));
}

TEST_F(SweepServiceTest, ASweepIsItsOwners) {
  auto db = db::Database::Open(server_.options().db_path);
  ASSERT_TRUE(db.ok()) << db.status();
  auto users = *db::UserStore::Create(db->get());
  auto ann = users->CreateUser("ann", false);
  ASSERT_TRUE(ann.ok());
  auto token = users->IssueToken(ann->id, "test");
  ASSERT_TRUE(token.ok());
  backtest::v1::RunSweepResponse started;
  ASSERT_TRUE(Run(SmallSweep(), &started).ok());  // the admin's
  backtest::v1::GetSweepRequest get;
  get.set_sweep_id(started.sweep_id());
  backtest::v1::GetSweepResponse out;
  EXPECT_EQ(sweeps_->GetSweep(server_.Context(token->token).get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  backtest::v1::OpenSweepRowRequest open;
  open.set_sweep_id(started.sweep_id());
  backtest::v1::OpenSweepRowResponse opened;
  EXPECT_EQ(sweeps_->OpenSweepRow(server_.Context(token->token).get(), open, &opened).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // An ordinary job is no sweep.
  const std::string job = server_.Submit({{"max_candles", "500"}});
  get.set_sweep_id(job);
  EXPECT_EQ(sweeps_->GetSweep(server_.Context().get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Without a token: UNAUTHENTICATED.
  grpc::ClientContext anonymous;
  EXPECT_EQ(sweeps_->GetSweep(&anonymous, get, &out).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace backtest
