// BacktestService's ownership rules in-process over a real channel: a job, its log and its result
// are visible to its owner and to staff only; to anyone else they do not exist (NOT_FOUND, the
// same answer as for an unknown id); ListJobs lists a user's own jobs, staff see all; a preset
// named in RunBacktest is the caller's own.
#include <map>
#include <string>

#include "db/database.h"
#include "db/preset_store.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kUnknownJob[] = "0123456789abcdef0123456789abcdef";

class BacktestServiceOwnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 1;
    server_.Start();
    auto db = db::Database::Open(server_.options().db_path);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    users_ = *db::UserStore::Create(db_.get());
    ann_ = AddUser("ann", false);
    bob_ = AddUser("bob", false);
    staff_ = AddUser("sue", true);
    ann_job_ = Submit(ann_);
    bob_job_ = Submit(bob_);
    for (const std::string& id : {ann_job_, bob_job_}) {
      ASSERT_TRUE(PollUntil([&] { return Status(staff_, id) == "finished"; }, 120)) << id;
    }
  }

  std::string AddUser(const std::string& name, bool staff) {
    auto user = users_->CreateUser(name, staff);
    EXPECT_TRUE(user.ok()) << user.status();
    ids_[name] = user->id;
    auto token = users_->IssueToken(user->id, "test");
    EXPECT_TRUE(token.ok()) << token.status();
    return token->token;
  }

  std::string Submit(const std::string& token, const std::string& preset = "") {
    backtest::v1::RunBacktestRequest request;
    const std::map<std::string, std::string> params = {{"strategy", "sma_cross"},
                                                       {"symbols", "EURUSD"},
                                                       {"start_date", "2022-01-03"},
                                                       {"end_date", "2022-02-01"}};
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    request.set_preset(preset);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context(token).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job_id();
  }

  grpc::Status GetJob(const std::string& token, const std::string& id,
                      backtest::v1::GetJobResponse* response) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    return server_.jobs().GetJob(server_.Context(token).get(), request, response);
  }

  std::string Status(const std::string& token, const std::string& id) {
    backtest::v1::GetJobResponse response;
    return GetJob(token, id, &response).ok() ? response.job().status() : "";
  }

  grpc::Status GetResult(const std::string& token, const std::string& id) {
    backtest::v1::GetResultRequest request;
    request.set_job_id(id);
    request.set_max_candles(5);
    backtest::v1::GetResultResponse response;
    return server_.jobs().GetResult(server_.Context(token).get(), request, &response);
  }

  grpc::Status Cancel(const std::string& token, const std::string& id) {
    backtest::v1::CancelJobRequest request;
    request.set_job_id(id);
    backtest::v1::CancelJobResponse response;
    return server_.jobs().CancelJob(server_.Context(token).get(), request, &response);
  }

  // The stream's end status and how many events came before it.
  std::pair<grpc::Status, int> Stream(const std::string& token, const std::string& id) {
    backtest::v1::StreamJobLogRequest request;
    request.set_job_id(id);
    auto context = server_.Context(token);
    auto reader = server_.jobs().StreamJobLog(context.get(), request);
    backtest::v1::StreamJobLogResponse event;
    int events = 0;
    while (reader->Read(&event)) ++events;
    return {reader->Finish(), events};
  }

  std::vector<std::string> List(const std::string& token) {
    backtest::v1::ListJobsRequest request;
    request.set_page_size(100);
    backtest::v1::ListJobsResponse response;
    grpc::Status s = server_.jobs().ListJobs(server_.Context(token).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> ids;
    for (const auto& job : response.jobs()) ids.push_back(job.job_id());
    return ids;
  }

  testing::TestServer server_;
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<db::UserStore> users_;
  std::map<std::string, int64_t> ids_;
  std::string ann_, bob_, staff_;
  std::string ann_job_, bob_job_;
};

TEST_F(BacktestServiceOwnerTest, OwnersAndStaffSeeAJobAndItsResultAndLog) {
  for (const std::string& token : {ann_, staff_}) {
    backtest::v1::GetJobResponse job;
    ASSERT_TRUE(GetJob(token, ann_job_, &job).ok());
    EXPECT_EQ(job.job().status(), "finished");
    EXPECT_TRUE(GetResult(token, ann_job_).ok());
    auto [status, events] = Stream(token, ann_job_);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_GT(events, 0);
  }
}

TEST_F(BacktestServiceOwnerTest, ToAnyoneElseAJobDoesNotExist) {
  // Bob asking for Ann's job gets what he gets for a job that was never made, word for word.
  backtest::v1::GetJobResponse job;
  const grpc::Status foreign = GetJob(bob_, ann_job_, &job);
  const grpc::Status unknown = GetJob(bob_, kUnknownJob, &job);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(foreign.error_message(), absl::StrReplaceAll(unknown.error_message(),
                                                         {{kUnknownJob, ann_job_}}));
  EXPECT_EQ(GetResult(bob_, ann_job_).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Cancel(bob_, ann_job_).error_code(), grpc::StatusCode::NOT_FOUND);
  auto [status, events] = Stream(bob_, ann_job_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(events, 0);
  // Nothing of Ann's job changed for Bob's tries: it is still finished, its result still there.
  EXPECT_EQ(Status(ann_, ann_job_), "finished");
  EXPECT_TRUE(GetResult(ann_, ann_job_).ok());
}

TEST_F(BacktestServiceOwnerTest, ListJobsListsOwnJobsAndStaffSeeAll) {
  EXPECT_THAT(List(ann_), UnorderedElementsAre(ann_job_));
  EXPECT_THAT(List(bob_), UnorderedElementsAre(bob_job_));
  const std::vector<std::string> all = List(staff_);
  EXPECT_THAT(all, ::testing::IsSupersetOf({ann_job_, bob_job_}));
}

TEST_F(BacktestServiceOwnerTest, OwnerAndStaffBothSeeThatAFinishedJobCannotBeCancelled) {
  // A finished job cannot be cancelled, by its owner or by staff: FAILED_PRECONDITION, not
  // NOT_FOUND, because both may see it.
  EXPECT_EQ(Cancel(ann_, ann_job_).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Cancel(staff_, ann_job_).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(BacktestServiceOwnerTest, APresetNamedInRunBacktestIsTheCallersOwn) {
  {
    auto presets = db::PresetStore::Create(db_.get());
    ASSERT_TRUE(presets.ok()) << presets.status();
    ASSERT_TRUE((*presets)->Upsert(ids_["ann"], "mine", {{"rr", "3"}}).ok());
  }
  backtest::v1::RunBacktestRequest request;
  request.set_preset("mine");
  backtest::v1::RunBacktestResponse response;
  grpc::Status s = server_.jobs().RunBacktest(server_.Context(bob_).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("no preset named \"mine\""));
  EXPECT_THAT(List(bob_), UnorderedElementsAre(bob_job_));  // nothing queued
  const std::string ann_second = Submit(ann_, "mine");
  ASSERT_FALSE(ann_second.empty());
  backtest::v1::GetJobResponse job;
  ASSERT_TRUE(GetJob(ann_, ann_second, &job).ok());
  EXPECT_EQ(job.job().preset(), "mine");
}

}  // namespace
}  // namespace backtest
