// Per-user quotas through the real server: a user over the concurrency limit or the submission
// rate gets RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail, and nothing is stored for the
// refused call (users apart: tests/unit/jobs/submit_quota_test.cc); a user's own limits
// (`backtestd user limits`) apply from their next submission while the server runs.
#include <string>

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "db/database.h"
#include "db/user_store.h"
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

  // Sets `name`'s own limits in the database, as `backtestd user limits` does from another process.
  void SetLimits(const std::string& name, db::UserLimits limits) {
    auto db = db::Database::Open(server_.options().db_path);
    ASSERT_TRUE(db.ok()) << db.status();
    auto users = db::UserStore::Create(db->get());
    ASSERT_TRUE(users.ok()) << users.status();
    ASSERT_TRUE((*users)->SetLimits(name, limits).ok());
  }

  // A new user's token.
  std::string NewUser(const std::string& name) {
    auto db = db::Database::Open(server_.options().db_path);
    EXPECT_TRUE(db.ok()) << db.status();
    auto users = db::UserStore::Create(db->get());
    EXPECT_TRUE(users.ok()) << users.status();
    auto user = (*users)->CreateUser(name, /*is_staff=*/false);
    EXPECT_TRUE(user.ok()) << user.status();
    auto token = (*users)->IssueToken(user->id, "test");
    EXPECT_TRUE(token.ok()) << token.status();
    return token->token;
  }

  void Cancel(const std::string& id) {
    backtest::v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    backtest::v1::CancelJobResponse cancelled;
    EXPECT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
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

TEST_F(QuotaTest, AUsersOwnLimitAppliesFromTheirNextSubmissionAndOthersKeepTheServers) {
  server_.options().workers = 1;
  server_.Start();  // no server-wide limit
  const std::string bob = NewUser("bob");
  std::string running, queued, refused;
  ASSERT_TRUE(Submit(kLongRun, &running).ok());

  SetLimits("admin", {.max_active_jobs = 1});
  grpc::Status s = Submit(kSmallRun, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("the most allowed per user (1)"));
  EXPECT_EQ(RetryDelayMs(s), 1000);
  // Bob has no limit of his own, and the server none.
  std::string bob_jobs[2];
  for (std::string& id : bob_jobs) EXPECT_TRUE(Submit(kLongRun, &id, bob).ok());

  SetLimits("admin", {});  // back to the server's: none
  EXPECT_TRUE(Submit(kSmallRun, &queued).ok());
  for (const std::string& id : {running, queued, bob_jobs[0], bob_jobs[1]}) Cancel(id);
}

TEST_F(QuotaTest, AUsersOwnZeroLiftsTheServersLimitAndOwnRateReplacesTheServers) {
  server_.options().workers = 1;
  server_.options().quota.max_active_jobs_per_user = 1;
  server_.options().quota.submissions_per_minute = 100;
  server_.Start();
  SetLimits("admin", {.max_active_jobs = 0, .submissions_per_minute = 2});
  std::string ids[3];
  ASSERT_TRUE(Submit(kLongRun, &ids[0]).ok());
  ASSERT_TRUE(Submit(kLongRun, &ids[1]).ok());  // past the server's 1: the user's own is none
  grpc::Status s = Submit(kSmallRun, &ids[2]);  // the user's own rate: 2 a minute
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 2 per minute per user"));
  for (int i = 0; i < 2; ++i) Cancel(ids[i]);
}

}  // namespace
}  // namespace backtest
