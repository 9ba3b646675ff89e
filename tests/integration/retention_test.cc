// Retention in the running server: ended jobs past the per-user count or older than keep-days
// disappear from every API with all they stored, the newest stay whole, and the server keeps
// serving.
#include <atomic>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;

const std::map<std::string, std::string> kSmallRun = {
    {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"data_source", "sample://"},
    {"start_date", "2022-01-01"}, {"end_date", "2022-02-01"}};

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 1;
    server_.options().now_ms = [this] { return now_ms_.load(); };
    server_.options().retention.interval = std::chrono::milliseconds(50);
  }

  // Submits a run and waits for its end.
  std::string RunToEnd() {
    const std::string id = server_.Submit(kSmallRun);
    EXPECT_TRUE(PollUntil([&] { return Status(id) == "finished"; })) << Status(id);
    return id;
  }

  std::string Status(const std::string& id) {
    backtest::v1::Job job;
    grpc::Status s = server_.GetJob(id, &job);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) return "gone";
    return s.ok() ? job.status() : s.error_message();
  }

  grpc::Status Result(const std::string& id) {
    backtest::v1::GetResultRequest request;
    request.set_job_id(id);
    backtest::v1::GetResultResponse response;
    return server_.jobs().GetResult(server_.Context().get(), request, &response);
  }

  std::atomic<int64_t> now_ms_{1700000000000};
  TestServer server_;
};

TEST_F(RetentionTest, AUserKeepsTheirNewestEndedJobs) {
  server_.options().retention.policy.max_jobs_per_owner = 2;
  server_.Start();
  const std::string first = RunToEnd();
  const std::string second = RunToEnd();
  const std::string third = RunToEnd();

  ASSERT_TRUE(PollUntil([&] { return Status(first) == "gone"; })) << Status(first);
  EXPECT_EQ(Result(first).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Status(second), "finished");
  EXPECT_EQ(Status(third), "finished");
  EXPECT_TRUE(Result(third).ok());
  // The server goes on taking jobs.
  const std::string fourth = RunToEnd();
  ASSERT_TRUE(PollUntil([&] { return Status(second) == "gone"; })) << Status(second);
  EXPECT_TRUE(Result(fourth).ok());
}

TEST_F(RetentionTest, EndedJobsOlderThanKeepDaysGo) {
  server_.options().retention.policy.keep_days = 30;
  server_.Start();
  const std::string old_job = RunToEnd();
  now_ms_ += 20 * kDayMs;
  const std::string young_job = RunToEnd();
  now_ms_ += 11 * kDayMs;  // the first ended 31 days ago, the second 11

  ASSERT_TRUE(PollUntil([&] { return Status(old_job) == "gone"; })) << Status(old_job);
  EXPECT_EQ(Status(young_job), "finished");
  EXPECT_TRUE(Result(young_job).ok());
}

}  // namespace
}  // namespace backtest
