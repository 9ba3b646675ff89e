// StreamJobLog's join of a job's stored history and its live events, over the real server
// in-process. No worker runs (workers = 0): jobs stay queued and the test alone commits their
// events, through the job's channel as a worker does, so it can place a commit exactly where a
// race would put one.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "db/job_store.h"
#include "server/jobs/job_channel.h"
#include "server/jobs/job_event.h"
#include "server/jobs/job_manager.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::TestServer;
using ::testing::ElementsAre;

class JobLogStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.options().workers = 0;
    server_.Start();
  }

  // A queued job (its status event is seq 1) and its live channel.
  std::shared_ptr<jobs::JobChannel> QueuedJob(std::string* id) {
    const std::map<std::string, std::string> params = {{"strategy", "sma_cross"},
                                                       {"symbols", "EURUSD"},
                                                       {"timeframe", "H1"},
                                                       {"start_date", "2022-01-01"},
                                                       {"end_date", "2022-02-01"}};
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    *id = response.job_id();
    return server_.server().jobs().FindChannel(*id);
  }

  // Stores and publishes one log line of `id` per text, as a job's worker does.
  void CommitLines(jobs::JobChannel& channel, const std::string& id,
                   const std::vector<std::string>& texts) {
    std::vector<jobs::JobEvent> events;
    for (const std::string& text : texts) {
      events.push_back(jobs::LogEvent(0, "stdout", "info", text));
    }
    auto conn = server_.server().jobs().pool().Acquire();
    db::JobStore store(conn->connection());
    absl::Status s = channel.Commit(std::move(events), [&](std::vector<jobs::JobEvent>& e) {
      return jobs::StoreEvents(store, id, {}, e);
    });
    EXPECT_TRUE(s.ok()) << s;
  }

  // The seqs a stream of `id` from `from_seq` sends, read until `last` arrives (the job is
  // queued: its stream does not end by itself), or the stream ends.
  std::vector<int64_t> SeqsUntil(const std::string& id, int64_t from_seq, int64_t last) {
    backtest::v1::StreamJobLogRequest request;
    request.set_job_id(id);
    request.set_from_seq(from_seq);
    auto context = server_.Context();
    auto reader = server_.jobs().StreamJobLog(context.get(), request);
    std::vector<int64_t> seqs;
    backtest::v1::StreamJobLogResponse event;
    while (reader->Read(&event)) {
      seqs.push_back(event.seq());
      if (event.seq() >= last) break;
    }
    context->TryCancel();
    (void)reader->Finish();
    return seqs;
  }

  TestServer server_;
};

// A commit that lands while the stream subscribes (the channel has registered the subscription,
// the stream has not yet learnt live_from) wakes the stream before it knows where the stored
// history ends. The stream must still send the history first: every event once, in order.
TEST_F(JobLogStreamTest, CommitWhileSubscribingKeepsTheHistory) {
  std::string id;
  auto channel = QueuedJob(&id);
  ASSERT_NE(channel, nullptr);
  CommitLines(*channel, id, {"stored 2", "stored 3", "stored 4"});
  jobs::JobChannel* raw = channel.get();
  channel->SetSubscribedHookForTesting([this, raw, id] { CommitLines(*raw, id, {"live 5"}); });
  EXPECT_THAT(SeqsUntil(id, 1, 5), ElementsAre(1, 2, 3, 4, 5));
}

// The same for a subscriber that resumes: it gets exactly the events from its from_seq on.
TEST_F(JobLogStreamTest, ResumeWhileACommitLandsGetsExactlyTheRest) {
  std::string id;
  auto channel = QueuedJob(&id);
  ASSERT_NE(channel, nullptr);
  CommitLines(*channel, id, {"stored 2", "stored 3", "stored 4"});
  jobs::JobChannel* raw = channel.get();
  channel->SetSubscribedHookForTesting([this, raw, id] { CommitLines(*raw, id, {"live 5"}); });
  EXPECT_THAT(SeqsUntil(id, 3, 5), ElementsAre(3, 4, 5));
}

}  // namespace
}  // namespace backtest
