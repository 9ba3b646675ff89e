// CompareRuns in-process over a real channel, on jobs run by real runners: the stats are
// GetResult's side by side with their differences, the differing parameters are those submitted,
// each curve on the common axis carries the job's own equity at its own times, a long axis is
// downsampled to max_points, and bad input, foreign jobs and unfinished jobs are refused naming
// the field.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "backtest/v1/sweep_service.grpc.pb.h"
#include "db/database.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace v1 = backtest::v1;

using Params = std::map<std::string, std::string>;

Params SmaParams(const std::string& fast, const std::string& start) {
  return {{"strategy", "sma_cross"}, {"symbols", "EURUSD"},  {"timeframe", "H1"},
          {"fast_period", fast},     {"start_date", start}, {"end_date", "2022-04-01"}};
}

class CompareRunsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 2;
    server_.Start();
    auto db = db::Database::Open(server_.options().db_path);
    ASSERT_TRUE(db.ok()) << db.status();
    auto users = *db::UserStore::Create(db->get());
    auto ann = users->CreateUser("ann", false);
    ASSERT_TRUE(ann.ok()) << ann.status();
    ann_ = users->IssueToken(ann->id, "test")->token;
    auto bob = users->CreateUser("bob", false);
    ASSERT_TRUE(bob.ok()) << bob.status();
    bob_ = users->IssueToken(bob->id, "test")->token;
    // a and b differ in fast_period; c also starts a month later (its equity starts later).
    a_ = Submit(ann_, SmaParams("8", "2022-01-01"));
    b_ = Submit(ann_, SmaParams("12", "2022-01-01"));
    c_ = Submit(ann_, SmaParams("12", "2022-02-01"));
    bobs_ = Submit(bob_, SmaParams("8", "2022-01-01"));
    for (const std::string& id : {a_, b_, c_, bobs_}) {
      ASSERT_TRUE(PollUntil([&] { return Job(id).status() == "finished"; }, 120)) << id;
    }
  }

  std::string Submit(const std::string& token, const Params& params) {
    v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context(token).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job_id();
  }

  v1::Job Job(const std::string& id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::GetJobResponse response;
    server_.jobs().GetJob(server_.Context().get(), request, &response);
    return response.job();
  }

  v1::GetResultResponse Result(const std::string& id) {
    v1::GetResultRequest request;
    request.set_job_id(id);
    request.add_parts("equity,stats");
    v1::GetResultResponse response;
    grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  grpc::Status Compare(const std::string& token, std::vector<std::string> jobs,
                       v1::CompareRunsResponse* response, int max_points = 0) {
    v1::CompareRunsRequest request;
    for (std::string& j : jobs) request.add_jobs(std::move(j));
    request.set_max_points(max_points);
    return server_.jobs().CompareRuns(server_.Context(token).get(), request, response);
  }

  testing::TestServer server_;
  std::string ann_, bob_;
  std::string a_, b_, c_, bobs_;
};

const v1::StatComparison* Row(const v1::CompareRunsResponse& r, const std::string& name) {
  for (const auto& row : r.stats()) {
    if (row.name() == name) return &row;
  }
  return nullptr;
}

TEST_F(CompareRunsTest, StatsParamsAndEquityOfThreeJobs) {
  v1::CompareRunsResponse r;
  grpc::Status s = Compare(ann_, {a_ + "," + b_, c_}, &r, 20000);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(r.jobs_size(), 3);
  EXPECT_EQ(r.jobs(0).job_id(), a_);
  EXPECT_EQ(r.jobs(2).job_id(), c_);
  EXPECT_EQ(r.jobs(1).params().at("fast_period").number_value(), 12);

  const std::vector<std::string> ids = {a_, b_, c_};
  std::vector<v1::GetResultResponse> results;
  for (const std::string& id : ids) results.push_back(Result(id));
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(r.digests(i), results[i].digest());

  // The stats are GetResult's, and differences are taken from the first job.
  for (const char* name : {"return_pct", "sharpe", "trades", "equity_final", "max_drawdown_pct"}) {
    const v1::StatComparison* row = Row(r, name);
    ASSERT_NE(row, nullptr) << name;
    const auto* field = v1::Stats::descriptor()->FindFieldByName(name);
    for (int i = 0; i < 3; ++i) {
      const auto& stats = results[i].stats();
      const double want = field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE
                              ? stats.GetReflection()->GetDouble(stats, field)
                              : stats.GetReflection()->GetInt32(stats, field);
      EXPECT_EQ(row->values(i), want) << name << " " << i;
      EXPECT_EQ(row->differences(i), want - row->values(0)) << name << " " << i;
    }
  }
  ASSERT_NE(Row(r, "long_stats.trades"), nullptr);
  EXPECT_NE(Row(r, "return_pct")->values(0), Row(r, "return_pct")->values(1));

  // Exactly the parameters submitted differently differ.
  std::map<std::string, std::vector<std::string>> differing;
  for (const auto& p : r.differing_params()) differing[p.name()] = {p.values().begin(), p.values().end()};
  ASSERT_EQ(differing.size(), 2u) << r.ShortDebugString().substr(0, 2000);
  EXPECT_THAT(differing["fast_period"], ElementsAre("8", "12", "12"));
  EXPECT_THAT(differing["start_date"][0], HasSubstr("2022-01-01"));
  EXPECT_THAT(differing["start_date"][2], HasSubstr("2022-02-01"));

  // Under max_points the axis is the union of the jobs' times, and each curve holds its own job's
  // equity at each of its own times.
  const v1::AlignedEquity& eq = r.equity();
  ASSERT_EQ(eq.curves_size(), 3);
  EXPECT_EQ(eq.times_size(), eq.total_times());
  EXPECT_EQ(eq.total_times(), results[0].equity_size());  // a spans b and c
  for (int i = 0; i < 3; ++i) {
    const v1::AlignedCurve& curve = eq.curves(i);
    EXPECT_EQ(curve.job_id(), ids[i]);
    ASSERT_EQ(curve.values_size(), results[i].equity_size()) << i;
    EXPECT_EQ(eq.times(curve.first()), results[i].equity(0).time()) << i;
    for (int k = 0; k < curve.values_size(); ++k) {
      ASSERT_EQ(eq.times(curve.first() + k), results[i].equity(k).time()) << i << " " << k;
      ASSERT_EQ(curve.values(k), results[i].equity(k).value()) << i << " " << k;
    }
  }
  EXPECT_EQ(eq.curves(0).first(), 0);
  EXPECT_GT(eq.curves(2).first(), 0);
}

TEST_F(CompareRunsTest, ALongAxisIsDownsampledToMaxPoints) {
  v1::CompareRunsResponse full;
  ASSERT_TRUE(Compare(ann_, {a_, c_}, &full, 20000).ok());
  v1::CompareRunsResponse r;
  grpc::Status s = Compare(ann_, {a_, c_}, &r, 100);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.equity().times_size(), 100);
  EXPECT_EQ(r.equity().total_times(), full.equity().total_times());
  EXPECT_GT(r.equity().total_times(), 1000);
  EXPECT_EQ(r.equity().times(0), full.equity().times(0));
  EXPECT_EQ(r.equity().times(99), full.equity().times(full.equity().times_size() - 1));
  // Every kept time carries the value the full axis has at that time.
  std::map<double, double> a_full;
  for (int k = 0; k < full.equity().curves(0).values_size(); ++k) {
    a_full[full.equity().times(k)] = full.equity().curves(0).values(k);
  }
  for (int k = 0; k < r.equity().curves(0).values_size(); ++k) {
    EXPECT_EQ(r.equity().curves(0).values(k), a_full.at(r.equity().times(k))) << k;
  }
  // The default keeps 2,000.
  v1::CompareRunsResponse d;
  ASSERT_TRUE(Compare(ann_, {a_, c_}, &d).ok());
  EXPECT_EQ(d.equity().times_size(), std::min(2000, full.equity().total_times()));
}

TEST_F(CompareRunsTest, BadInputIsRefusedNamingTheField) {
  v1::CompareRunsResponse r;
  grpc::Status s = Compare(ann_, {a_}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs: compare 2 to 8 jobs, got 1"));

  std::vector<std::string> nine(9, a_);
  for (int i = 0; i < 9; ++i) nine[i] = std::string(31, '0') + std::to_string(i);
  s = Compare(ann_, nine, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("got 9"));

  s = Compare(ann_, {a_, b_, a_}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[2]"));
  EXPECT_THAT(s.error_message(), HasSubstr("twice"));

  s = Compare(ann_, {a_, b_}, &r, 1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("max_points"));

  s = Compare(ann_, {a_, "0123456789abcdef0123456789abcdef"}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[1]: job \"0123456789abcdef0123456789abcdef\" not found"));
}

TEST_F(CompareRunsTest, AnotherUsersJobDoesNotExistButStaffSeeBoth) {
  v1::CompareRunsResponse r;
  grpc::Status s = Compare(ann_, {a_, bobs_}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[1]"));
  s = Compare(bob_, {a_, bobs_}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[0]"));
  s = Compare("", {a_, bobs_}, &r);  // the staff token
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Same parameters, different owners: identical results and no differing parameter.
  EXPECT_EQ(r.digests(0), r.digests(1));
  EXPECT_EQ(r.differing_params_size(), 0);
  for (const auto& row : r.stats()) EXPECT_TRUE(row.same()) << row.name();
}

TEST_F(CompareRunsTest, AJobThatHasNotFinishedIsAFailedPrecondition) {
  Params slow = {{"strategy", "sr_breakout"}, {"symbols", "EURUSD,XAUUSD"}, {"timeframe", "M1"},
                 {"start_date", "2012-01-01"}, {"end_date", "2022-01-01"}};
  const std::string running = Submit(ann_, slow);
  v1::CompareRunsResponse r;
  grpc::Status s = Compare(ann_, {a_, running}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[1]: job " + running + " is "));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(running);
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context(ann_).get(), cancel, &cancelled).ok());
  ASSERT_TRUE(PollUntil([&] { return Job(running).status() == "cancelled"; }, 30));
  s = Compare(ann_, {a_, running}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("is cancelled; only finished jobs can be compared"));
}

TEST_F(CompareRunsTest, ASweepIsAFailedPreconditionAndItsOpenedRowsCompare) {
  auto sweeps = v1::SweepService::NewStub(server_.channel());
  v1::RunSweepRequest request;
  for (const auto& [k, v] : SmaParams("8", "2022-01-01")) {
    (*request.mutable_params())[k].set_string_value(v);
  }
  v1::SweepRange* range = request.add_ranges();
  range->set_name("fast_period");
  range->add_values()->set_number_value(6);
  range->add_values()->set_number_value(9);
  v1::RunSweepResponse run;
  grpc::Status s = sweeps->RunSweep(server_.Context(ann_).get(), request, &run);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(PollUntil([&] { return Job(run.sweep_id()).status() == "finished"; }, 120));
  v1::CompareRunsResponse r;
  s = Compare(ann_, {a_, run.sweep_id()}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("jobs[1]: job " + run.sweep_id() + " is a sweep"));
  // Its rows opened as jobs compare, and their differing parameter is the varied one.
  std::vector<std::string> opened;
  for (int row : {0, 1}) {
    v1::OpenSweepRowRequest open;
    open.set_sweep_id(run.sweep_id());
    open.set_row(row);
    v1::OpenSweepRowResponse job;
    s = sweeps->OpenSweepRow(server_.Context(ann_).get(), open, &job);
    ASSERT_TRUE(s.ok()) << s.error_message();
    opened.push_back(job.job_id());
  }
  for (const std::string& id : opened) {
    ASSERT_TRUE(PollUntil([&] { return Job(id).status() == "finished"; }, 120)) << id;
  }
  s = Compare(ann_, opened, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(r.differing_params_size(), 1);
  EXPECT_EQ(r.differing_params(0).name(), "fast_period");
  EXPECT_THAT(r.differing_params(0).values(), ElementsAre("6", "9"));
}

TEST_F(CompareRunsTest, NoTokenIsUnauthenticated) {
  v1::CompareRunsRequest request;
  request.add_jobs(a_ + "," + b_);
  v1::CompareRunsResponse response;
  grpc::ClientContext context;
  grpc::Status s = server_.jobs().CompareRuns(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace backtest
