// The reconciler: a running job whose stored heartbeat goes stale is failed and its runner
// killed; a job whose runner keeps sending heartbeats is left alone however long it runs.
#include <signal.h>

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"
#include "tests/testing/silent_data_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::testing::HasSubstr;

class StaleJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 1;
    // Only the reconciler may end the job: the worker's own silence check is far away.
    server_.options().heartbeat_timeout_ms = 600000;
    server_.options().stale_job_ms = 1500;
    server_.options().data_access.allowed_networks = {"127.0.0.1"};
    server_.Start();
  }

  backtest::v1::Job Get(const std::string& id) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    backtest::v1::GetJobResponse response;
    grpc::Status s = server_.jobs().GetJob(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job();
  }

  std::string SubmitFetchingFrom(const std::string& url) {
    backtest::v1::RunBacktestRequest request;
    const std::map<std::string, std::string> params = {
        {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"start_date", "2022-01-01"},
        {"end_date", "2022-02-01"}, {"data_source", url}};
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job_id();
  }

  testing::TestServer server_;
  testing::SilentDataServer data_;
};

TEST_F(StaleJobTest, AStoppedRunnerIsKilledAndItsJobFailedAsStale) {
  const std::string id = SubmitFetchingFrom(data_.url());
  ASSERT_TRUE(PollUntil([&] { return Get(id).status() == "running" && Get(id).pid() > 0; }, 30));
  const int pid = static_cast<int>(Get(id).pid());
  // Alive and heard from for three times the stale limit: not stale.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3 * 1500);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(Get(id).status(), "running") << Get(id).error();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(PollUntil([&] { return Get(id).status() != "running"; }, 30)) << "still running";
  const backtest::v1::Job job = Get(id);
  EXPECT_EQ(job.status(), "failed");
  EXPECT_THAT(job.error(), HasSubstr("stale"));
  // The runner was killed (and reaped): its pid is gone.
  EXPECT_TRUE(PollUntil([&] { return kill(pid, 0) != 0; }, 10)) << "runner " << pid << " lives";
}

}  // namespace
}  // namespace backtest
