// Per-user quotas through the real server: a user over the concurrency limit or the submission
// rate gets RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail, and nothing is stored for the
// refused call (users apart: tests/unit/jobs/submit_quota_test.cc).
#include <string>

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;

const std::map<std::string, std::string> kSmallRun = {
    {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"data_source", "sample://"},
    {"start_date", "2022-01-01"}, {"end_date", "2022-02-01"}};
// Minute bars over decades: still running when the next submission comes.
const std::map<std::string, std::string> kLongRun = {
    {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"timeframe", "M1"},
    {"start_date", "2000-01-01"}, {"end_date", "2026-01-01"}};

// The retry delay of a refused call's google.rpc.RetryInfo detail, in ms; -1 when it has none.
int64_t RetryDelayMs(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return -1;
  EXPECT_EQ(details.code(), status.error_code());
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) {
      return info.retry_delay().seconds() * 1000 + info.retry_delay().nanos() / 1000000;
    }
  }
  return -1;
}

class QuotaTest : public ::testing::Test {
 protected:
  grpc::Status Submit(const std::map<std::string, std::string>& params, std::string* id,
                      const std::string& token = "") {
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context(token).get(), request, &response);
    *id = response.job_id();
    return s;
  }

  int JobCount() {
    backtest::v1::ListJobsRequest request;
    request.set_page_size(100);
    backtest::v1::ListJobsResponse response;
    EXPECT_TRUE(server_.jobs().ListJobs(server_.Context().get(), request, &response).ok());
    return response.jobs_size();
  }

  TestServer server_;
};

TEST_F(QuotaTest, AUserAtTheConcurrencyLimitIsToldWhenToRetry) {
  server_.options().workers = 1;
  server_.options().quota.max_active_jobs_per_user = 2;
  server_.Start();
  std::string running, queued, refused;
  ASSERT_TRUE(Submit(kLongRun, &running).ok());
  ASSERT_TRUE(Submit(kLongRun, &queued).ok());

  grpc::Status s = Submit(kSmallRun, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("the most allowed per user (2)"));
  EXPECT_EQ(RetryDelayMs(s), 1000);
  EXPECT_TRUE(refused.empty());
  EXPECT_EQ(JobCount(), 2);  // nothing stored for the refused call

  // When one of them ends, the user may submit again.
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(queued);
  backtest::v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  std::string admitted;
  EXPECT_TRUE(Submit(kSmallRun, &admitted).ok());
  cancel.set_job_id(running);
  EXPECT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
}

TEST_F(QuotaTest, SubmissionsPastTheRateAreRefusedWithTheWaitForTheNextToken) {
  server_.options().quota.submissions_per_minute = 3;
  server_.Start();
  std::string id;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Submit(kSmallRun, &id).ok()) << i;
  grpc::Status s = Submit(kSmallRun, &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 3 per minute per user"));
  // A token every 20 s; the burst was taken within the last moments.
  const int64_t delay = RetryDelayMs(s);
  EXPECT_GT(delay, 15000);
  EXPECT_LE(delay, 20000);
  EXPECT_EQ(JobCount(), 3);
}

}  // namespace
}  // namespace backtest
