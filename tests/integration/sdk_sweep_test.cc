// Sweeps of a strategy folder's SDK strategies through a real server (docs/sweeps.md): the
// sweep runs in the SDK's Python runner in the sandbox, its rows are each the single job's stats;
// a row opened as a job gives the trades of a normal job with those parameters; the walk-forward
// runs; cancel stops every worker and keeps the rows; a row cannot be opened once the folder's
// code has changed. bubblewrap must be installed (scripts/install-deps.sh); build/venv holds the
// SDK (make build).
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "backtest/v1/strategy_service.grpc.pb.h"
#include "backtest/v1/sweep_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

namespace fs = std::filesystem;
using ::backtest::testing::BuildPython;
using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;

// A vectorized SMA cross (signals(data): the engine runs its arrays without Python per bar).
constexpr char kVecCross[] = R"(
"""SMA crossover as arrays."""
from backtestd import Float, Int, Strategy, ta


class VecCross(Strategy):
    fast_period = Int(10, min=1)
    slow_period = Int(30, min=2)
    size = Float(1, min=0, min_exclusive=True)

    def signals(self, data):
        cross = ta.sma_cross(data.close, self.fast_period, self.slow_period)
        return {"entries": cross > 0, "short_entries": cross < 0, "size": self.size,
                "entry_reason": "cross_up", "short_entry_reason": "cross_down"}
)";

// A callback strategy slow enough to cancel in the middle of its sweep.
constexpr char kSlowCross[] = R"(
"""SMA crossover, slowly."""
import time

from backtestd import Int, Strategy


class SlowCross(Strategy):
    fast_period = Int(10, min=1)
    slow_period = Int(30, min=2)

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        time.sleep(0.0005)
        if self.cross.value > 0:
            self.buy(1)
        elif self.cross.value < 0:
            self.sell(1)
)";

class SdkSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = server_.dir().File("strategies");
    chmod(server_.dir().path().c_str(), 0755);
    WriteStrategy("vec_cross", kVecCross);
    WriteStrategy("slow_cross", kSlowCross);
    server_.options().workers = 1;
    server_.options().cancel_grace_ms = 500;
    server_.options().strategy_dir = folder_;
    server_.options().python = BuildPython();
    server_.Start();
    sweeps_ = backtest::v1::SweepService::NewStub(server_.channel());
  }

  void WriteStrategy(const std::string& name, const std::string& text) {
    const std::string dir = folder_ + "/" + name;
    fs::create_directories(dir);
    chmod(folder_.c_str(), 0755);
    chmod(dir.c_str(), 0755);
    // Written whole under another name, then renamed: a scan never sees half a file.
    std::ofstream(dir + "/.strategy.py.tmp") << text;
    chmod((dir + "/.strategy.py.tmp").c_str(), 0644);
    fs::rename(dir + "/.strategy.py.tmp", dir + "/strategy.py");
  }

  static std::map<std::string, std::string> Base(const std::string& strategy) {
    return {{"strategy", strategy}, {"symbols", "EURUSD"}, {"timeframe", "H1"},
            {"start_date", "2022-01-01"}, {"end_date", "2022-04-01"}};
  }

  // fast 3, 8, 13 × slow 21, 34 with fast < slow: six rows.
  backtest::v1::RunSweepRequest Sweep(const std::string& strategy) {
    backtest::v1::RunSweepRequest r;
    for (const auto& [k, v] : Base(strategy)) (*r.mutable_params())[k].set_string_value(v);
    auto* fast = r.add_ranges();
    fast->set_name("fast_period");
    fast->set_start(3);
    fast->set_stop(13);
    fast->set_step(5);
    auto* slow = r.add_ranges();
    slow->set_name("slow_period");
    slow->add_values()->set_number_value(21);
    slow->add_values()->set_number_value(34);
    r.add_constraints("fast_period < slow_period");
    r.mutable_objective()->set_stat("return_pct");
    return r;
  }

  std::string Status(const std::string& id) {
    backtest::v1::Job job;
    return server_.GetJob(id, &job).ok() ? job.status() : "?";
  }

  backtest::v1::Sweep Get(const std::string& id) {
    backtest::v1::GetSweepRequest r;
    r.set_sweep_id(id);
    backtest::v1::GetSweepResponse out;
    grpc::Status s = sweeps_->GetSweep(server_.Context().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.sweep();
  }

  backtest::v1::GetResultResponse Result(const std::string& job_id) {
    backtest::v1::GetResultRequest r;
    r.set_job_id(job_id);
    backtest::v1::GetResultResponse out;
    grpc::Status s = server_.jobs().GetResult(server_.Context().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status Open(const std::string& id, int row, backtest::v1::OpenSweepRowResponse* out) {
    backtest::v1::OpenSweepRowRequest open;
    open.set_sweep_id(id);
    open.set_row(row);
    return sweeps_->OpenSweepRow(server_.Context().get(), open, out);
  }

  TestServer server_;
  std::string folder_;
  std::unique_ptr<backtest::v1::SweepService::Stub> sweeps_;
};

TEST_F(SdkSweepTest, AnSdkStrategySweepsAndItsRowsOpenAsItsSingleJobs) {
  backtest::v1::RunSweepRequest request = Sweep("vec_cross");
  request.mutable_walk_forward()->set_train_bars(600);
  request.mutable_walk_forward()->set_test_bars(300);
  backtest::v1::RunSweepResponse started;
  grpc::Status s = sweeps_->RunSweep(server_.Context().get(), request, &started);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(started.combinations(), 6);
  const std::string id = started.sweep_id();
  ASSERT_TRUE(PollUntil([&] { return Status(id) != "queued" && Status(id) != "running"; }, 180));
  backtest::v1::Job job;
  ASSERT_TRUE(server_.GetJob(id, &job).ok());
  ASSERT_EQ(job.status(), "finished") << job.DebugString();
  EXPECT_EQ(job.kind(), "sweep");

  const backtest::v1::Sweep sweep = Get(id);
  EXPECT_EQ(sweep.rows_done(), 6);
  EXPECT_EQ(sweep.rows_failed(), 0);
  ASSERT_TRUE(sweep.has_best());
  // The walk-forward ran on the SDK strategy too: trades only inside their test windows.
  const backtest::v1::WalkForward& wf = sweep.walk_forward();
  ASSERT_GE(wf.windows_size(), 2);
  for (const auto& t : wf.trades()) {
    EXPECT_GE(t.entry_time(), wf.windows(t.window()).test_start());
    EXPECT_LT(t.exit_time(), wf.windows(t.window()).test_end());
  }

  backtest::v1::ListSweepRowsRequest list;
  list.set_sweep_id(id);
  backtest::v1::ListSweepRowsResponse rows;
  ASSERT_TRUE(sweeps_->ListSweepRows(server_.Context().get(), list, &rows).ok());
  ASSERT_EQ(rows.rows_size(), 6);
  google::protobuf::util::MessageDifferencer same;
  google::protobuf::util::DefaultFieldComparator nan_equal;
  nan_equal.set_treat_nan_as_equal(true);
  same.set_field_comparator(&nan_equal);
  std::set<double> returns;
  for (const auto& r : rows.rows()) returns.insert(r.stats().return_pct());
  EXPECT_GT(returns.size(), 1u);  // each row ran with its own values
  for (const backtest::v1::SweepRow& row : {rows.rows(0), rows.rows(5)}) {
    // Opened as a job: its full result has the row's stats, field for field.
    backtest::v1::OpenSweepRowResponse opened;
    s = Open(id, row.row(), &opened);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(PollUntil([&] { return Status(opened.job_id()) == "finished"; }, 120))
        << Status(opened.job_id());
    const backtest::v1::GetResultResponse from_row = Result(opened.job_id());
    EXPECT_TRUE(same.Compare(from_row.stats(), row.stats()))
        << from_row.stats().DebugString() << " vs " << row.stats().DebugString();
    EXPECT_GT(from_row.trades_size(), 0);
    // A normal job with the row's parameters: the same trades.
    auto params = Base("vec_cross");
    for (const auto& [name, value] : row.params()) params[name] = value;
    const std::string single = server_.Submit(params);
    ASSERT_TRUE(PollUntil([&] { return Status(single) == "finished"; }, 120)) << Status(single);
    const backtest::v1::GetResultResponse normal = Result(single);
    ASSERT_EQ(normal.trades_size(), from_row.trades_size());
    for (int t = 0; t < normal.trades_size(); ++t) {
      EXPECT_TRUE(same.Compare(normal.trades(t), from_row.trades(t))) << "trade " << t;
    }
    EXPECT_TRUE(same.Compare(normal.stats(), row.stats()));
  }

  // Once the folder's code changes, the rows are no longer its runs: opening one is refused.
  ASSERT_FALSE(job.strategy_source_hash().empty());
  WriteStrategy("vec_cross", std::string(kVecCross) + "\n# changed\n");
  auto strategies = backtest::v1::StrategyService::NewStub(server_.channel());
  ASSERT_TRUE(PollUntil([&] {  // the folder's scan has seen the change
    backtest::v1::ListStrategiesResponse list;
    if (!strategies->ListStrategies(server_.Context().get(), {}, &list).ok()) return false;
    for (const auto& st : list.strategies()) {
      if (st.name() == "vec_cross") return st.source_hash() != job.strategy_source_hash();
    }
    return false;
  }, 60));
  backtest::v1::OpenSweepRowResponse out;
  s = Open(id, rows.rows(2).row(), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("vec_cross changed since the sweep ran"));
}

TEST_F(SdkSweepTest, CancelStopsEveryWorkerAndKeepsTheRows) {
  backtest::v1::RunSweepRequest request = Sweep("slow_cross");
  request.mutable_ranges(0)->set_start(2);
  request.mutable_ranges(0)->set_stop(20);
  request.mutable_ranges(0)->set_step(1);
  backtest::v1::RunSweepResponse started;
  grpc::Status s = sweeps_->RunSweep(server_.Context().get(), request, &started);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string id = started.sweep_id();
  ASSERT_TRUE(PollUntil([&] { return Get(id).rows_done() > 0; }, 120)) << Status(id);
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  backtest::v1::CancelJobResponse cancelled;
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  EXPECT_TRUE(PollUntil([&] { return Status(id) == "cancelled"; }, 2.0))
      << Status(id) << " after "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count() << " s";
  ASSERT_TRUE(PollUntil([&] { return Status(id) == "cancelled"; }, 30));
  const backtest::v1::Sweep sweep = Get(id);
  EXPECT_GT(sweep.rows_done(), 0);
  EXPECT_LT(sweep.rows_done(), sweep.combinations());
}

}  // namespace
}  // namespace backtest
