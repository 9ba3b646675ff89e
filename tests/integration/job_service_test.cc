// The job service end to end in-process: real server on 127.0.0.1, real runner processes. Each
// test runs with both runner backends (docs/runner-backends.md): local (a process of this
// machine) and slurm (a job step through srun on a one-node cluster of tests/slurm/cluster.sh,
// started once for the binary). The Slurm variants (names ending /slurm, and the SlurmNode tests)
// are a ctest entry of their own, integration_slurm (tests/integration/CMakeLists.txt).
#include <fcntl.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "backtest/runner/v1/runner.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/job_manager.h"
#include "tests/integration/test_server.h"
#include "tests/testing/silent_data_server.h"
#include "tests/testing/slurm_cluster.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::SlurmCluster;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;

// A small, quick run: sma_cross on a few months of sample H1 bars.
std::map<std::string, std::string> QuickParams() {
  return {{"strategy", "sma_cross"},
          {"symbols", "EURUSD"},
          {"timeframe", "H1"},
          {"start_date", "2022-01-01"},
          {"end_date", "2022-04-01"}};
}

// A traced run of a few hundred thousand bars: thousands of events, a few seconds.
std::map<std::string, std::string> TracedParams() {
  return {{"strategy", "sr_breakout"}, {"symbols", "EURUSD"},   {"timeframe", "M1"},
          {"start_date", "2019-01-01"}, {"end_date", "2020-01-01"}, {"trace_enabled", "true"}};
}

// A run that takes a while (it is cancelled or killed before it ends): sr_breakout traced on
// years of M1 bars.
std::map<std::string, std::string> SlowParams() {
  return {{"strategy", "sr_breakout"}, {"symbols", "EURUSD,XAUUSD,USDJPY"},
          {"timeframe", "M1"},         {"start_date", "2010-01-01"},
          {"end_date", "2022-01-01"},  {"trace_enabled", "true"}};
}

// The binary's cluster for the Slurm variants: started at its first use, stopped at exit (and by
// cluster.sh's watcher if the binary is killed). The error, for every test, when it did not start.
absl::StatusOr<SlurmCluster*> SharedCluster() {
  static const absl::StatusOr<std::unique_ptr<SlurmCluster>> cluster = SlurmCluster::Start();
  if (!cluster.ok()) return cluster.status();
  return cluster->get();
}

// The parameter is the runner backend: "local" or "slurm".
class JobServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    UseBackend();
    if (HasFatalFailure()) return;
    server_.options().workers = 1;
    server_.options().queue_size = 4;
    server_.options().cancel_grace_ms = 500;
    server_.options().heartbeat_timeout_ms = 5000;
    server_.Start();
  }

  // The server runs its runners with the test's backend; a Slurm test without its cluster fails.
  void UseBackend() {
    server_.options().runner_backend = GetParam();
    if (!slurm()) return;
    absl::StatusOr<SlurmCluster*> cluster = SharedCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *cluster;
  }
  bool slurm() const { return GetParam() == "slurm"; }

  // The pid of job `id`'s runner once it runs (0 until then): the local process, or the runner's
  // process on the cluster's node (this machine) for a Slurm step.
  int RunnerPid(const std::string& id) {
    return slurm() ? SlurmCluster::RunnerPidOnNode(id) : static_cast<int>(Get(id).pid());
  }

  absl::StatusOr<std::string> Submit(const std::map<std::string, std::string>& params,
                                     const std::string& preset = "") {
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    request.set_preset(preset);
    backtest::v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context().get(), request, &response);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return response.job_id();
  }

  backtest::v1::Job Get(const std::string& id) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    backtest::v1::GetJobResponse response;
    grpc::Status s = server_.jobs().GetJob(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job();
  }

  bool Ended(const std::string& id) {
    std::string s = Get(id).status();
    return s == "finished" || s == "failed" || s == "cancelled";
  }

  std::string WaitEnded(const std::string& id, double seconds = 120) {
    EXPECT_TRUE(PollUntil([&] { return Ended(id); }, seconds)) << Get(id).DebugString();
    return Get(id).status();
  }

  // Reads a whole stream; returns its events and final status.
  std::pair<std::vector<backtest::v1::StreamJobLogResponse>, grpc::Status> Stream(
      const std::string& id, int64_t from_seq = 0, bool include_trace = false,
      bool batch_log_lines = false) {
    backtest::v1::StreamJobLogRequest request;
    request.set_job_id(id);
    request.set_from_seq(from_seq);
    request.set_include_trace(include_trace);
    request.set_batch_log_lines(batch_log_lines);
    auto context = server_.Context("", 300);
    auto reader = server_.jobs().StreamJobLog(context.get(), request);
    std::vector<backtest::v1::StreamJobLogResponse> events;
    backtest::v1::StreamJobLogResponse event;
    while (reader->Read(&event)) events.push_back(event);
    return {events, reader->Finish()};
  }

  TestServer server_;
  SlurmCluster* cluster_ = nullptr;  // the Slurm variants'
};

std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Backends, JobServiceTest, ::testing::Values("local", "slurm"),
                         BackendName);

TEST_P(JobServiceTest, SubmitStreamFinishResult) {
  auto id = Submit(QuickParams());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(jobs::IsValidJobId(*id));
  auto [events, status] = Stream(*id);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(events.empty());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), int64_t(i + 1));
  EXPECT_EQ(events.front().status().status(), "queued");
  EXPECT_EQ(events.back().status().status(), "finished");
  bool saw_running = false, saw_progress = false;
  for (const auto& e : events) {
    saw_running |= e.has_status() && e.status().status() == "running";
    saw_progress |= e.has_progress();
  }
  EXPECT_TRUE(saw_running);
  EXPECT_TRUE(saw_progress);

  backtest::v1::Job job = Get(*id);
  EXPECT_EQ(job.status(), "finished");
  EXPECT_EQ(job.result_url(), "/api/jobs/" + *id + "/result/");
  EXPECT_EQ(job.progress().fraction(), 1.0);
  EXPECT_EQ(job.params().at("strategy").string_value(), "sma_cross");
  EXPECT_EQ(job.pid(), 0);
  EXPECT_THAT(job.runner(), ::testing::MatchesRegex(slurm() ? "slurm job [0-9]+ step 0 on node localhost"
                                                            : "local pid [0-9]+"));

  backtest::v1::GetResultRequest request;
  request.set_job_id(*id);
  backtest::v1::GetResultResponse result;
  grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(result.symbol(), "EURUSD");
  EXPECT_GT(result.candles_size(), 1000);
  EXPECT_EQ(result.total_candles(), result.candles_size());
  EXPECT_GT(result.trades_size(), 0);
  EXPECT_EQ(result.stats().trades(), result.trades_size());
  EXPECT_EQ(result.digest().size(), 64u);

  // max_candles returns the last N.
  request.set_max_candles(100);
  backtest::v1::GetResultResponse tail;
  ASSERT_TRUE(server_.jobs().GetResult(server_.Context().get(), request, &tail).ok());
  ASSERT_EQ(tail.candles_size(), 100);
  EXPECT_EQ(tail.candles(99).time(), result.candles(result.candles_size() - 1).time());
  EXPECT_EQ(tail.trades_size(), result.trades_size());
}

// Results are stored as columns (format 2); a result stored by an earlier version (format 1, a
// message per candle and point) answers the same, whole and cut to the last N candles.
// A result stored before the API's times became doubles and its counts int32 (docs/api.md): a
// format-1 frame as the int64 backtest.v1 messages wrote it (these bytes were encoded with those
// protos) reads back with the same values.
TEST_P(JobServiceTest, AResultStoredWithTheInt64MessagesReadsBack) {
  auto id = Submit(QuickParams());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(WaitEnded(*id), "finished");
  const std::string frame = absl::HexStringToBytes(
      "22cb030a0b73725f627265616b6f757412bc010a06584147555344123308a8b9838d06110000000000803740"
      "190000000000c03740210000000000403740290000000000a03740310000000000005940123308b8d5838d06"
      "110000000000c03740190000000000003840210000000000803740290000000000e037403100000000000059"
      "401a0f08b8d5838d06110000000000a03740222e0a0658414755534410a8b9838d0618b8d5838d0621000000"
      "00008037402a07737570706f7274320661637469766529fca9f1d24d62503f1a2d0a0658414755534410b8d5"
      "838d061a036275792205656e747279290000000000c037403206726574657374380122530801120658414755"
      "53441a046c6f6e6720b8d5838d06290000000000c0374030b8d5838d06390000000000e03740410000000000"
      "00004059000000000000d03f6a0b656e645f6f665f646174618001018801012a0f08b8d5838d061100000001"
      "84d79741322608a8b9838d0610b8d5838d0618901c200261000000000000f87f9001a038980101ea01020801"
      "5240616261626162616261626162616261626162616261626162616261626162616261626162616261626162"
      "61626162616261626162616261626162616261626162");
  {
    SQLite::Database db(server_.dir().File("var/backtest.db"), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    SQLite::Statement store(db, "UPDATE results SET format = 1, data = ? WHERE job_id = ?");
    store.bind(1, frame.data(), static_cast<int>(frame.size()));
    store.bind(2, *id);
    ASSERT_EQ(store.exec(), 1);
  }
  auto result = [&](int32_t max_candles) {
    backtest::v1::GetResultRequest request;
    request.set_job_id(*id);
    request.set_max_candles(max_candles);
    backtest::v1::GetResultResponse response;
    grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  };
  backtest::v1::GetResultResponse r = result(0);
  EXPECT_EQ(r.symbol(), "XAGUSD");
  EXPECT_EQ(r.total_candles(), 2);
  ASSERT_EQ(r.candles_size(), 2);
  EXPECT_EQ(r.candles(0).time(), 1637932200.0);
  EXPECT_EQ(r.candles(1).time(), 1637935800.0);
  EXPECT_EQ(r.candles(1).close(), 23.875);
  ASSERT_EQ(r.ema_size(), 1);
  EXPECT_EQ(r.ema(0).time(), 1637935800.0);
  ASSERT_EQ(r.equity_size(), 1);
  EXPECT_EQ(r.equity(0).value(), 100000000.25);
  ASSERT_EQ(r.zones_size(), 1);
  EXPECT_EQ(r.zones(0).start(), 1637932200.0);
  EXPECT_EQ(r.zones(0).end(), 1637935800.0);
  ASSERT_EQ(r.markers_size(), 1);
  EXPECT_EQ(r.markers(0).time(), 1637935800.0);
  EXPECT_EQ(r.markers(0).trade_id(), 1);
  ASSERT_EQ(r.trades_size(), 1);
  const backtest::v1::Trade& t = r.trades(0);
  EXPECT_EQ(t.id(), 1);
  EXPECT_EQ(t.entry_time(), 1637935800.0);
  EXPECT_EQ(t.exit_time(), 1637935800.0);
  EXPECT_EQ(t.entry_bar(), 1);
  EXPECT_EQ(t.exit_bar(), 1);
  EXPECT_EQ(t.exit_reason(), "end_of_data");
  const backtest::v1::Stats& st = r.stats();
  EXPECT_EQ(st.start(), 1637932200.0);
  EXPECT_EQ(st.end(), 1637935800.0);
  EXPECT_EQ(st.duration_seconds(), 3600.0);
  EXPECT_EQ(st.avg_drawdown_duration_seconds(), 7200.0);
  EXPECT_EQ(st.bars(), 2);
  EXPECT_EQ(st.trades(), 1);
  EXPECT_EQ(st.long_stats().trades(), 1);
  EXPECT_TRUE(std::isnan(st.sharpe()));
  std::string digest;
  for (int i = 0; i < 32; ++i) digest += "ab";
  EXPECT_EQ(r.digest(), digest);
  // The last candle only: the EMA, equity and zones from its time on.
  r = result(1);
  ASSERT_EQ(r.candles_size(), 1);
  EXPECT_EQ(r.candles(0).time(), 1637935800.0);
  EXPECT_EQ(r.zones_size(), 1);
  EXPECT_EQ(r.ema_size(), 1);
}

// A batched stream's lines, one event per line as the plain stream sends them.
std::vector<backtest::v1::StreamJobLogResponse> Unbatched(
    const std::vector<backtest::v1::StreamJobLogResponse>& events, int* batches) {
  std::vector<backtest::v1::StreamJobLogResponse> out;
  for (const auto& e : events) {
    EXPECT_FALSE(e.has_log()) << "a batched stream sends lines in batches only";
    if (!e.has_log_batch()) {
      out.push_back(e);
      continue;
    }
    ++*batches;
    EXPECT_GT(e.log_batch().lines_size(), 0);
    EXPECT_EQ(e.time().SerializeAsString(), e.log_batch().lines(0).time().SerializeAsString());
    for (int i = 0; i < e.log_batch().lines_size(); ++i) {
      backtest::v1::StreamJobLogResponse one;
      one.set_seq(e.seq() + i);
      *one.mutable_time() = e.log_batch().lines(i).time();
      *one.mutable_log() = e.log_batch().lines(i);
      one.mutable_log()->clear_time();
      out.push_back(std::move(one));
    }
  }
  return out;
}

// batch_log_lines: the same events, seqs and times, the log lines in a few messages; resuming in
// the middle of a batch gives exactly the rest; trace events left out (include_trace off) end a
// batch, so a batch's lines always have consecutive seqs. Live (subscribed while the job runs)
// and replayed (after it ended) alike.
TEST_P(JobServiceTest, BatchedLogLinesAreTheSameEventsInFewerMessages) {
  const std::map<std::string, std::string> traced = {
      {"strategy", "sr_breakout"}, {"symbols", "EURUSD"}, {"timeframe", "H1"},
      {"start_date", "2020-01-01"}, {"end_date", "2021-06-01"}, {"trace_enabled", "true"}};
  for (const auto& params : {QuickParams(), traced}) {
    auto id = Submit(params);
    ASSERT_TRUE(id.ok()) << id.status();
    auto [live, live_status] = Stream(*id, 0, false, true);  // subscribed from the start
    ASSERT_TRUE(live_status.ok()) << live_status.error_message();
    auto [plain, plain_status] = Stream(*id);
    ASSERT_TRUE(plain_status.ok());
    ASSERT_GT(plain.size(), 20u);
    auto [replayed, replayed_status] = Stream(*id, 0, false, true);
    ASSERT_TRUE(replayed_status.ok());
    for (const auto* batched : {&live, &replayed}) {
      int batches = 0;
      auto lines = Unbatched(*batched, &batches);
      ASSERT_EQ(lines.size(), plain.size());
      for (size_t i = 0; i < plain.size(); ++i) {
        ASSERT_EQ(lines[i].SerializeAsString(), plain[i].SerializeAsString()) << i;
      }
      const auto log_lines = std::count_if(plain.begin(), plain.end(),
                                           [](const auto& e) { return e.has_log(); });
      EXPECT_LT(batched->size(), plain.size());
      EXPECT_GT(batches, 0);
      EXPECT_LT(2 * batches, log_lines);
    }
    // Resume from every seq in a stretch of lines: exactly the rest.
    for (int64_t from = plain.size() / 2; from < static_cast<int64_t>(plain.size() / 2) + 5;
         ++from) {
      auto [rest, rest_status] = Stream(*id, plain[from].seq(), false, true);
      ASSERT_TRUE(rest_status.ok());
      int batches = 0;
      auto lines = Unbatched(rest, &batches);
      ASSERT_EQ(lines.size(), plain.size() - from);
      for (size_t i = 0; i < lines.size(); ++i) {
        ASSERT_EQ(lines[i].SerializeAsString(), plain[from + i].SerializeAsString());
      }
    }
  }
}

TEST_P(JobServiceTest, ResumeFromAMiddleSeqGivesExactlyTheRest) {
  auto id = Submit(QuickParams());
  ASSERT_TRUE(id.ok());
  WaitEnded(*id);
  auto [all, status] = Stream(*id);
  ASSERT_TRUE(status.ok());
  ASSERT_GT(all.size(), 4u);
  int64_t middle = all[all.size() / 2].seq();
  auto [rest, status2] = Stream(*id, middle);
  ASSERT_TRUE(status2.ok());
  ASSERT_EQ(rest.size(), all.size() - all.size() / 2);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].SerializeAsString(), all[all.size() / 2 + i].SerializeAsString());
  }
  auto [none, status3] = Stream(*id, all.back().seq() + 1);
  EXPECT_TRUE(status3.ok());
  EXPECT_TRUE(none.empty());
}

TEST_P(JobServiceTest, HundredConcurrentSubscribersGetEveryEventInOrder) {
  // A slow job ahead keeps the next one queued while the subscribers attach.
  auto blocker = Submit(SlowParams());
  ASSERT_TRUE(blocker.ok());
  auto id = Submit(QuickParams());
  ASSERT_TRUE(id.ok());
  constexpr int kSubscribers = 100;
  std::vector<std::vector<int64_t>> seqs(kSubscribers);
  std::vector<grpc::Status> statuses(kSubscribers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSubscribers; ++i) {
    threads.emplace_back([&, i] {
      auto [events, status] = Stream(*id, 0, /*include_trace=*/false);
      for (const auto& e : events) seqs[i].push_back(e.seq());
      statuses[i] = status;
    });
  }
  ASSERT_TRUE(PollUntil([&] {
    auto channel = server_.server().jobs().FindChannel(*id);
    return channel == nullptr || channel->subscriber_count() >= 10;
  }));
  // Let the job run: cancel the blocker.
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(*blocker);
  backtest::v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  for (auto& t : threads) t.join();
  auto [reference, status] = Stream(*id);
  ASSERT_TRUE(status.ok());
  std::vector<int64_t> expected;
  for (const auto& e : reference) expected.push_back(e.seq());
  EXPECT_EQ(reference.back().status().status(), "finished");
  for (int i = 0; i < kSubscribers; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(seqs[i], expected) << "subscriber " << i;
  }
}

TEST_P(JobServiceTest, InvalidParametersAreRejectedAndNothingIsStored) {
  auto id = Submit({{"rr", "-1"}});
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("rr: must be > 0"));
  id = Submit({{"no_such_param", "1"}});
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("no_such_param"));
  backtest::v1::ListJobsResponse list;
  ASSERT_TRUE(server_.jobs().ListJobs(server_.Context().get(), {}, &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);
}

TEST_P(JobServiceTest, UnknownAndMalformedIdsAreNotFound) {
  for (const std::string& id : std::vector<std::string>{"0123456789abcdef0123456789abcdef", "../../etc/passwd", "",
                               "' OR 1=1 --", std::string(5000, 'a')}) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    backtest::v1::GetJobResponse response;
    EXPECT_EQ(server_.jobs().GetJob(server_.Context().get(), request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << id;
    auto [events, status] = Stream(id);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_P(JobServiceTest, CancelQueuedAndRunningJobsAndNotFinishedOnes) {
  auto running = Submit(SlowParams());
  auto queued = Submit(QuickParams());
  ASSERT_TRUE(running.ok() && queued.ok());
  ASSERT_TRUE(PollUntil([&] { return Get(*running).status() == "running"; }));
  EXPECT_EQ(Get(*queued).status(), "queued");

  backtest::v1::CancelJobRequest request;
  backtest::v1::CancelJobResponse response;
  request.set_job_id(*queued);
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), request, &response).ok());
  EXPECT_EQ(response.job().status(), "cancelled");

  request.set_job_id(*running);
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), request, &response).ok());
  EXPECT_EQ(WaitEnded(*running, 30), "cancelled");
  if (slurm()) {  // its step has left the cluster
    EXPECT_TRUE(PollUntil([&] { return cluster_->StepState(*running).empty(); }))
        << cluster_->StepState(*running);
  }
  auto [events, status] = Stream(*running);
  EXPECT_TRUE(status.ok());
  EXPECT_GT(events.size(), 2u);  // the partial log is kept
  EXPECT_EQ(events.back().status().status(), "cancelled");

  // Ended jobs cannot be cancelled; their result is not there either.
  EXPECT_EQ(server_.jobs().CancelJob(server_.Context().get(), request, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  backtest::v1::GetResultRequest result_request;
  result_request.set_job_id(*running);
  backtest::v1::GetResultResponse result;
  EXPECT_EQ(server_.jobs().GetResult(server_.Context().get(), result_request, &result).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_P(JobServiceTest, ARunnerKilledWithSigkillFailsTheJobAndTheServerStaysUp) {
  auto id = Submit(SlowParams());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(PollUntil([&] { return RunnerPid(*id) > 0; }));
  ASSERT_EQ(::kill(RunnerPid(*id), SIGKILL), 0);
  EXPECT_EQ(WaitEnded(*id, 30), "failed");
  // Through srun, the step's failure as srun says it ("srun: error: localhost: task 0: Killed").
  EXPECT_THAT(Get(*id).error(),
              slurm() ? HasSubstr("the Slurm step failed (srun: error: localhost: task 0: Killed)")
                      : HasSubstr("SIGKILL"));
  auto next = Submit(QuickParams());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(WaitEnded(*next), "finished");
}

// The runner processes this test process (the in-process server) has started and not reaped.
std::set<int> RunnerChildren() {
  std::set<int> pids;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    int pid = 0;
    while (children >> pid) {
      std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
      std::string argv0;
      std::getline(cmdline, argv0, '\0');
      if (argv0.ends_with("backtest-runner")) pids.insert(pid);
    }
  }
  return pids;
}

// Whether `pid` has finished dying: a zombie waiting to be reaped, or reaped already.
bool IsZombieOrGone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');  // the state follows the command name in parentheses
  return paren == std::string::npos || line.compare(paren + 1, 3, " Z ") == 0;
}

// Warm runners are the local backend's (a Slurm job is a step of its own: SlurmJobServiceTest).
class LocalJobServiceTest : public JobServiceTest {};
INSTANTIATE_TEST_SUITE_P(Backends, LocalJobServiceTest, ::testing::Values("local"), BackendName);

TEST_P(LocalJobServiceTest, AWarmRunnerWaitsForTheNextJobAndOneKilledMeanwhileIsReplaced) {
  auto first = Submit(QuickParams());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(WaitEnded(*first), "finished");
  // The worker keeps one runner started and waiting for its spec (job 1's own runner may still be
  // exiting when the job is seen finished: wait until the only child is another one).
  const auto only_child_other_than = [](int pid) {
    const auto children = RunnerChildren();
    return children.size() == 1 && *children.begin() != pid;
  };
  const int first_pid = Get(*first).pid();
  ASSERT_TRUE(PollUntil([&] { return only_child_other_than(first_pid); }))
      << RunnerChildren().size();
  const int idle = *RunnerChildren().begin();
  auto second = Submit(QuickParams());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(WaitEnded(*second), "finished");
  auto [events, status] = Stream(*second);
  ASSERT_TRUE(status.ok());
  bool ran_in_idle = false;
  for (const auto& e : events) {
    ran_in_idle |= e.has_log() &&
                   e.log().text() == "runner started (pid " + std::to_string(idle) + ")";
  }
  EXPECT_TRUE(ran_in_idle) << "job 2 did not run in the waiting runner " << idle;
  // Killed while idle: the next job gets a fresh runner and finishes all the same.
  ASSERT_TRUE(PollUntil([&] { return only_child_other_than(idle); }));
  const int killed = *RunnerChildren().begin();
  ASSERT_EQ(::kill(killed, SIGKILL), 0);
  // Idle means dead by the time job 3 comes: kill() returns before the kernel has torn the
  // process down, and until it is a zombie the worker cannot see it gone (a race seen under load).
  ASSERT_TRUE(PollUntil([&] { return IsZombieOrGone(killed); }));
  auto third = Submit(QuickParams());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(WaitEnded(*third), "finished");
  auto [events3, status3] = Stream(*third);
  ASSERT_TRUE(status3.ok());
  for (const auto& e : events3) {
    EXPECT_NE(e.log().text(), "runner started (pid " + std::to_string(killed) + ")");
  }
}

TEST_P(JobServiceTest, AQueueOverItsBoundIsResourceExhausted) {
  auto running = Submit(SlowParams());
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(PollUntil([&] { return Get(*running).status() == "running"; }));
  std::vector<std::string> queued;
  for (int i = 0; i < 4; ++i) {
    auto id = Submit(QuickParams());
    ASSERT_TRUE(id.ok()) << id.status();
    queued.push_back(*id);
  }
  auto refused = Submit(QuickParams());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  backtest::v1::ListJobsResponse list;
  ASSERT_TRUE(server_.jobs().ListJobs(server_.Context().get(), {}, &list).ok());
  EXPECT_EQ(list.jobs_size(), 5);  // the refused one was not stored
  EXPECT_EQ(list.jobs(0).job_id(), queued.back());  // newest first
}

TEST_P(JobServiceTest, ListJobsPagesNewestFirstAndFiltersByStatus) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = Submit(QuickParams());
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
    WaitEnded(*id);
  }
  backtest::v1::ListJobsRequest request;
  request.set_page_size(2);
  backtest::v1::ListJobsResponse page1, page2;
  ASSERT_TRUE(server_.jobs().ListJobs(server_.Context().get(), request, &page1).ok());
  ASSERT_EQ(page1.jobs_size(), 2);
  EXPECT_EQ(page1.jobs(0).job_id(), ids[2]);
  request.set_page_token(page1.next_page_token());
  ASSERT_TRUE(server_.jobs().ListJobs(server_.Context().get(), request, &page2).ok());
  ASSERT_EQ(page2.jobs_size(), 1);
  EXPECT_EQ(page2.jobs(0).job_id(), ids[0]);
  EXPECT_TRUE(page2.next_page_token().empty());

  request.Clear();
  request.set_status("running");
  backtest::v1::ListJobsResponse running;
  ASSERT_TRUE(server_.jobs().ListJobs(server_.Context().get(), request, &running).ok());
  EXPECT_EQ(running.jobs_size(), 0);
  request.set_status("bogus");
  EXPECT_EQ(server_.jobs().ListJobs(server_.Context().get(), request, &running).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.Clear();
  request.set_page_token("not-a-token");
  EXPECT_EQ(server_.jobs().ListJobs(server_.Context().get(), request, &running).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(JobServiceTest, RestartFailsRunningJobsAndRunsQueuedOnes) {
  auto running = Submit(SlowParams());
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(PollUntil([&] { return Get(*running).status() == "running"; }));
  auto queued = Submit(QuickParams());
  ASSERT_TRUE(queued.ok());
  server_.Restart();
  EXPECT_EQ(Get(*running).status(), "failed");
  EXPECT_THAT(Get(*running).error(), HasSubstr("interrupted"));
  if (slurm()) {  // none left running on the cluster
    EXPECT_TRUE(PollUntil([&] { return cluster_->StepState(*running).empty(); }))
        << cluster_->StepState(*running);
  }
  EXPECT_EQ(WaitEnded(*queued), "finished");
}

TEST_P(JobServiceTest, ARunnerThatStopsRespondingIsKilledAndItsJobFailed) {
  server_.Stop();
  server_.options().heartbeat_timeout_ms = 1500;
  server_.Start();
  auto id = Submit(SlowParams());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(PollUntil([&] { return RunnerPid(*id) > 0; }));
  int pid = RunnerPid(*id);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);  // alive but silent: no heartbeat, no output
  EXPECT_EQ(WaitEnded(*id, 30), "failed");
  EXPECT_THAT(Get(*id).error(), HasSubstr("stopped responding"));
}

// A runner whose stdout lines come as log events (as under srun, where the events are its
// stdout): a Python script that reads its spec, then sends its hello, `lines` log events of
// source stdout and a failed end, hand-encoded frames on its --events-fd.
std::string ChattyRunner(const testing::TempDir& dir, int lines) {
  const std::string path = dir.File("chatty-runner");
  std::ofstream out(path);
  out << R"(#!/usr/bin/env python3
import os, struct, sys
fd = int(sys.argv[sys.argv.index("--events-fd") + 1]) if "--events-fd" in sys.argv else 3
def read(n):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk: sys.exit(1)
        data += chunk
    return data
read(struct.unpack("<I", read(4))[0])  # the ServerMessage with its spec
def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7f | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload
seq = 0
def frame(event):
    global seq
    seq += 1
    event += varint(15 << 3) + varint(seq)
    return struct.pack("<I", len(event)) + event
frames = [frame(field(9, b"" + field(2, b"chatty-runner")))]
line = field(1, field(1, b"info") + field(2, b"a line of output") + field(3, b"stdout"))
frames += [frame(line) for _ in range()" << lines << R"()]
frames.append(frame(field(10, b"" + field(2, b"internal") + field(3, b"printed"))))
view = memoryview(b"".join(frames))
while view:
    view = view[os.write(fd, view):]
)";
  out.close();
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

// A runner's stdout lines sent as log events (srun's one stream) count against the job's output
// limit as its stdout read from a pipe does (JobOutputTest): the first 100,000 lines (the
// default limit) are kept, the rest dropped and said so.
TEST_P(JobServiceTest, StdoutLinesSentAsEventsCountAgainstTheJobsOutputLimit) {
  server_.Stop();
  server_.options().runner_path = ChattyRunner(server_.dir(), 100'250);
  server_.Start();
  auto id = Submit(QuickParams());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(WaitEnded(*id), "failed");
  auto [events, status] = Stream(*id);
  ASSERT_TRUE(status.ok()) << status.error_message();
  int stdout_lines = 0;
  std::string dropped;
  for (const auto& e : events) {
    if (e.has_log() && e.log().source() == "stdout") ++stdout_lines;
    if (e.has_log() && e.log().source() == "server" && e.log().text().find("were dropped") !=
                                                          std::string::npos) {
      dropped = e.log().text();
    }
  }
  EXPECT_EQ(stdout_lines, 100'000);
  EXPECT_THAT(dropped, HasSubstr("were dropped: 250 more lines"));
}

// Slurm only: no runner waits between jobs (each job is a step of its own), and every step has
// left the cluster and the node when its job has ended.
class SlurmJobServiceTest : public JobServiceTest {};
INSTANTIATE_TEST_SUITE_P(Backends, SlurmJobServiceTest, ::testing::Values("slurm"), BackendName);

TEST_P(SlurmJobServiceTest, EachJobIsAStepOfItsOwnAndNoneIsLeftBehind) {
  std::set<std::string> steps;
  for (int i = 0; i < 2; ++i) {
    auto id = Submit(QuickParams());
    ASSERT_TRUE(id.ok()) << id.status();
    ASSERT_EQ(WaitEnded(*id), "finished") << Get(*id).error();
    const std::string runner = Get(*id).runner();
    EXPECT_THAT(runner, ::testing::MatchesRegex("slurm job [0-9]+ step 0 on node localhost"));
    steps.insert(runner);
    EXPECT_TRUE(PollUntil([&] { return cluster_->StepState(*id).empty(); }))
        << cluster_->StepState(*id);
    EXPECT_EQ(SlurmCluster::RunnerPidOnNode(*id), 0);
    EXPECT_TRUE(RunnerChildren().empty()) << "a backtest-runner of the server's own";
  }
  EXPECT_EQ(steps.size(), 2u);  // two Slurm jobs
}

// A cancel past its grace period terminates the run: srun, sent SIGTERM, kills its step's runner
// and ends with it. A runner still fetching its data (from a server that never answers) acts on
// no cancel, so only that kill stops it; the step must leave the cluster all the same, and not
// run on unseen until the data timeout.
TEST_P(SlurmJobServiceTest, ACancelledJobWaitingForItsDataLeavesNoStepOnTheCluster) {
  server_.Stop();
  server_.options().data_access.allowed_networks = {"127.0.0.1"};
  server_.Start();
  testing::SilentDataServer data;
  std::map<std::string, std::string> waiting = QuickParams();
  waiting["data_source"] = data.url();
  auto id = Submit(waiting);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(PollUntil([&] { return SlurmCluster::RunnerPidOnNode(*id) > 0; }));
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(*id);
  backtest::v1::CancelJobResponse response;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &response).ok());
  EXPECT_EQ(WaitEnded(*id, 30), "cancelled");
  EXPECT_TRUE(PollUntil([&] { return cluster_->StepState(*id).empty(); }))
      << cluster_->StepState(*id) << "\n" << cluster_->LogTails();
  EXPECT_TRUE(PollUntil([&] { return SlurmCluster::RunnerPidOnNode(*id) == 0; }))
      << "its runner still runs on the node";
}

// A job whose step waits for the cluster's CPUs (srun pending while another allocation holds
// them all): the silence is the scheduler's, not a stuck runner's, so neither the silence
// timeout nor the stale-job reconciler stops it; once the CPUs are free it runs to its end.
TEST_P(SlurmJobServiceTest, AJobWaitingForTheClustersCpusRunsOnceTheyAreFree) {
  server_.Stop();
  server_.options().heartbeat_timeout_ms = 1500;
  server_.options().stale_job_ms = 1500;
  server_.Start();
  const std::string cpus = std::to_string(std::thread::hardware_concurrency());
  testing::CommandOutput held = testing::RunCommand(
      "salloc --no-shell --job-name=hold --nodes=1 --ntasks=1 --cpus-per-task=" + cpus);
  ASSERT_EQ(held.status, 0) << held.output;
  absl::Cleanup release = [] { testing::RunCommand("scancel --name=hold"); };
  auto id = Submit(QuickParams());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(PollUntil([&] { return cluster_->StepState(*id) == "PENDING"; }))
      << cluster_->StepState(*id);
  // Three times the silence timeout and the stale limit: still running, still waiting.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3 * 1500);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(Get(*id).status(), "running") << Get(*id).error();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(cluster_->StepState(*id), "PENDING");
  std::move(release).Invoke();
  EXPECT_EQ(WaitEnded(*id), "finished") << Get(*id).error();
  auto [events, status] = Stream(*id);
  bool said_waiting = false;
  for (const auto& e : events) {
    said_waiting |= e.has_log() && e.log().text().find("waits for the cluster") != std::string::npos;
  }
  EXPECT_TRUE(said_waiting) << "its log does not say it waited";
}

// The node's slurmd killed with SIGKILL while a job runs on it: its step lives on until
// slurmctld, hearing nothing from the node, sets it down and ends the step; srun says which node
// failed, and the job fails naming it. With slurmd back, the node takes jobs again (the cluster
// returns it to service) and the killed step's runner is gone from it. A cluster of its own,
// whose controller waits 2 s rather than 300 for a silent node (it still takes ~20 s here), and a
// job that runs until stopped (its data server never answers).
class SlurmNodeTest : public JobServiceTest {
 protected:
  void SetUp() override {
    auto cluster = SlurmCluster::Start(/*slurmd_timeout_s=*/2);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    own_cluster_ = *std::move(cluster);
    cluster_ = own_cluster_.get();
    server_.options().runner_backend = "slurm";
    server_.options().workers = 1;
    server_.options().data_access.allowed_networks = {"127.0.0.1"};
    server_.Start();
  }
  void TearDown() override {
    server_.Stop();  // before its cluster goes
    own_cluster_.reset();
  }

  std::unique_ptr<SlurmCluster> own_cluster_;
  testing::SilentDataServer data_;
};
INSTANTIATE_TEST_SUITE_P(Backends, SlurmNodeTest, ::testing::Values("slurm"), BackendName);

TEST_P(SlurmNodeTest, SlurmdKilledMidJobFailsTheJobNamingTheNodeAndTheNextRunsWhenItIsBack) {
  std::map<std::string, std::string> waiting = QuickParams();
  waiting["data_source"] = data_.url();
  auto id = Submit(waiting);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(PollUntil([&] { return SlurmCluster::RunnerPidOnNode(*id) > 0; }));
  ASSERT_TRUE(cluster_->KillSlurmd());
  EXPECT_EQ(WaitEnded(*id, 180), "failed");
  EXPECT_THAT(Get(*id).error(),
              HasSubstr("the Slurm step failed (srun: error: Node failure on localhost)"));
  EXPECT_EQ(cluster_->NodeState(), "down*");
  ASSERT_TRUE(cluster_->StartSlurmd().ok());
  auto next = Submit(QuickParams());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(WaitEnded(*next), "finished") << Get(*next).error();
  // slurmd, back, cancels the step of the failed node: SIGTERM, which a runner waiting for its
  // data does not act on, then SIGKILL after Slurm's KillWait (30 s).
  EXPECT_TRUE(PollUntil([&] { return SlurmCluster::RunnerPidOnNode(*id) == 0; }, 90))
      << "the killed step's runner still runs on the node\n"
      << cluster_->LogTails();
}

class SlowSubscriberTest : public JobServiceTest {
 protected:
  void SetUp() override {
    UseBackend();
    if (HasFatalFailure()) return;
    server_.options().workers = 1;
    server_.options().subscriber_buffer = 32;
    server_.Start();
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, SlowSubscriberTest, ::testing::Values("local", "slurm"),
                         BackendName);

TEST_P(SlowSubscriberTest, ANonReadingSubscriberIsCutOffAndCanResumeWhileOthersGetEverything) {
  auto blocker = Submit(SlowParams());
  ASSERT_TRUE(blocker.ok());
  auto id = Submit(TracedParams());  // thousands of large trace events
  ASSERT_TRUE(id.ok());
  // The stalled subscriber attaches while the job is queued and never reads.
  backtest::v1::StreamJobLogRequest request;
  request.set_job_id(*id);
  request.set_include_trace(true);
  auto stalled_context = server_.Context("", 300);
  auto stalled = server_.jobs().StreamJobLog(stalled_context.get(), request);
  ASSERT_TRUE(PollUntil([&] {
    auto channel = server_.server().jobs().FindChannel(*id);
    return channel != nullptr && channel->subscriber_count() == 1;
  }));
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(*blocker);
  backtest::v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  // The job is not held back by it.
  EXPECT_EQ(WaitEnded(*id, 120), "finished");
  auto [all, status] = Stream(*id, 0, /*include_trace=*/true);
  ASSERT_TRUE(status.ok());
  // Now it reads: what it still gets ends with RESOURCE_EXHAUSTED naming where to resume.
  std::vector<int64_t> got;
  backtest::v1::StreamJobLogResponse event;
  while (stalled->Read(&event)) got.push_back(event.seq());
  grpc::Status cut = stalled->Finish();
  ASSERT_EQ(cut.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << cut.error_message();
  EXPECT_THAT(cut.error_message(), HasSubstr("from_seq="));
  int64_t resume = std::stoll(cut.error_message().substr(cut.error_message().find("from_seq=") + 9));
  EXPECT_EQ(resume, got.empty() ? 1 : got.back() + 1);
  auto [rest, status2] = Stream(*id, resume, /*include_trace=*/true);
  ASSERT_TRUE(status2.ok());
  for (const auto& e : rest) got.push_back(e.seq());
  std::vector<int64_t> expected;
  for (const auto& e : all) expected.push_back(e.seq());
  EXPECT_EQ(got, expected);
}

class JobLimitsTest : public JobServiceTest {
 protected:
  void SetUp() override {
    UseBackend();
    if (HasFatalFailure()) return;
    server_.options().workers = 1;
    server_.options().memory_mb = 160;
    server_.Start();
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, JobLimitsTest, ::testing::Values("local", "slurm"), BackendName);

TEST_P(JobLimitsTest, AJobOverItsMemoryLimitFailsWithAClearReason) {
  // Twelve years of M1 bars for three symbols need far more than 160 MB.
  auto id = Submit(SlowParams());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(WaitEnded(*id, 60), "failed");
  EXPECT_THAT(Get(*id).error(), HasSubstr("memory"));
}

}  // namespace
}  // namespace backtest

namespace backtest {
namespace {

TEST(RunnerProcessTest, EventPipesHoldAMegabyteWhileTheUsersPipeAllowanceLasts) {
  EXPECT_EQ(jobs::EventPipeBytes(1), 1 << 20);
  EXPECT_EQ(jobs::EventPipeBytes(16), 1 << 20);   // 32 pipes: 32 MB
  EXPECT_EQ(jobs::EventPipeBytes(17), 512 << 10);
  EXPECT_EQ(jobs::EventPipeBytes(256), 64 << 10);  // never below the kernel's default
  auto runner = jobs::RunnerProcess::SpawnIdle(testing::BinDir() + "/backtest-runner",
                                               {.event_pipe_bytes = 1 << 20});
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_EQ(fcntl(runner->events_fd(), F_GETPIPE_SZ), 1 << 20);
  runner->Signal(SIGKILL);
  runner->Wait();
}

}  // namespace
}  // namespace backtest
