// Explain and QueryTrace of bars without stored trace rows, through the real server and its
// runners: every bar of an untraced 10k-bar run, replayed, is explained exactly as the same run
// traced in full explains it (both built-in strategies); a replay whose data changed since the
// run fails naming the symbol; a replayed window is bounded; replays are cached and owner-scoped.
// The SDK case runs its strategy in the sandbox: bubblewrap and build/venv (make build).
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/user_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/trace_replay.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::BuildPython;
using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;
using Params = std::map<std::string, std::string>;

constexpr int kBars = 10000;
constexpr int kMaxWindow = 300;

class ExplainReplayTest : public ::testing::Test {
 protected:
  // More options before the server starts.
  virtual void Configure(ServerOptions&) {}

  void SetUp() override {
    server_.options().trace_replay.max_window_bars = kMaxWindow;
    server_.options().trace_max_rows = -1;
    Configure(server_.options());
    server_.Start();
    auto db = db::Database::Open(server_.options().db_path);
    ASSERT_TRUE(db.ok()) << db.status();
    auto users = *db::UserStore::Create(db->get());
    for (auto [name, token] : {std::pair{"ann", &ann_}, std::pair{"bob", &bob_}}) {
      auto user = users->CreateUser(name, false);
      ASSERT_TRUE(user.ok()) << user.status();
      *token = users->IssueToken(user->id, "test")->token;
      if (token == &ann_) ann_id_ = user->id;
    }
  }

  v1::Job Job(const std::string& id) {
    v1::Job job;
    EXPECT_TRUE(server_.GetJob(id, &job).ok());
    return job;
  }

  // Submits as `token` and waits for the job's end; its id.
  std::string Run(const std::string& token, const Params& params) {
    v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    v1::RunBacktestResponse response;
    grpc::Status s = server_.jobs().RunBacktest(server_.Context(token).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    const std::string id = response.job_id();
    EXPECT_TRUE(PollUntil([&] {
      const std::string status = Job(id).status();
      return status == "finished" || status == "failed" || status == "cancelled";
    }, 120));
    EXPECT_EQ(Job(id).status(), "finished") << Job(id).error();
    return id;
  }

  grpc::Status Explain(const std::string& token, const std::string& job, int bar,
                       v1::ExplainResponse* response) {
    v1::ExplainRequest request;
    request.set_job_id(job);
    request.set_bar_index(bar);
    return server_.traces().Explain(server_.Context(token).get(), request, response);
  }

  grpc::Status Window(const std::string& token, const std::string& job, int first, int last,
                      v1::QueryTraceResponse* response) {
    v1::QueryTraceRequest request;
    request.set_job_id(job);
    request.set_bar_index(first);
    request.set_bar_to(last);
    request.set_limit(1000);
    return server_.traces().QueryTrace(server_.Context(token).get(), request, response);
  }

  // For every bar: the untraced run's replayed explanation is the traced run's, seq numbers and
  // the replayed mark aside.
  void ExpectSameExplanations(Params params) {
    params["max_candles"] = std::to_string(kBars);
    params["trace_enabled"] = "false";
    const std::string untraced = Run(ann_, params);
    params["trace_enabled"] = "true";
    const std::string traced = Run(ann_, params);
    ASSERT_EQ(Job(traced).progress().bars_total(), kBars);
    const int64_t replays_before = server_.server().trace_replayer().replays();
    for (int bar = 0; bar < kBars; ++bar) {
      v1::ExplainResponse want, got;
      ASSERT_TRUE(Explain(ann_, traced, bar, &want).ok());
      grpc::Status s = Explain(ann_, untraced, bar, &got);
      ASSERT_TRUE(s.ok()) << "bar " << bar << ": " << s.error_message();
      ASSERT_FALSE(want.replayed());
      ASSERT_TRUE(want.traced()) << "bar " << bar << ": " << want.summary();
      ASSERT_TRUE(got.replayed()) << "bar " << bar;
      got.clear_replayed();
      for (v1::ExplainResponse* r : {&want, &got}) {
        for (auto& section : *r->mutable_sections()) {
          for (auto& item : *section.mutable_items()) item.clear_seq();
        }
      }
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, got))
          << "bar " << bar << "\ntraced:\n" << want.DebugString() << "\nreplayed:\n"
          << got.DebugString();
    }
    // Bars in blocks: far fewer replays than bars.
    const int64_t replays = server_.server().trace_replayer().replays() - replays_before;
    EXPECT_LE(replays, kBars / server_.options().trace_replay.block_bars + 1);
  }

  TestServer server_;
  std::string ann_, bob_;
  int64_t ann_id_ = 0;
};

TEST_F(ExplainReplayTest, EveryBarOfSrBreakoutAsTraced) {
  ExpectSameExplanations({{"strategy", "sr_breakout"}, {"symbols", "XAGUSD"},
                          {"timeframe", "H1"}, {"start_date", "2021-01-01"},
                          {"end_date", "2023-06-01"}});
}

TEST_F(ExplainReplayTest, EveryBarOfSmaCrossAsTraced) {
  ExpectSameExplanations({{"strategy", "sma_cross"}, {"symbols", "EURUSD"},
                          {"timeframe", "H1"}, {"start_date", "2021-01-01"},
                          {"end_date", "2023-06-01"}});
}

// An SMA cross on the SDK, from a strategy folder.
constexpr char kSdkCross[] = R"(from backtestd import Float, Int, Strategy


class SdkCross(Strategy):
    fast_period = Int(10, min=1)
    slow_period = Int(30, min=2)
    size = Float(1, min=0, min_exclusive=True)

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        if self.cross.value > 0:
            self.buy(self.size, reason="cross_up")
        elif self.cross.value < 0:
            self.sell(self.size, reason="cross_down")
)";

class ExplainReplaySdkTest : public ExplainReplayTest {
 protected:
  void Configure(ServerOptions& options) override {
    const std::filesystem::path folder = server_.dir().File("strategies");
    std::filesystem::create_directories(folder / "sdk_cross");
    for (const std::filesystem::path& dir : {std::filesystem::path(server_.dir().path()), folder,
                                             folder / "sdk_cross"}) {
      chmod(dir.c_str(), 0755);
    }
    std::ofstream(folder / "sdk_cross" / "strategy.py") << kSdkCross;
    chmod((folder / "sdk_cross" / "strategy.py").c_str(), 0644);
    options.strategy_dir = folder.string();
    options.python = BuildPython();
    // A Python runner per replay: bigger blocks, fewer replays.
    options.trace_replay.block_bars = 1000;
  }
};

TEST_F(ExplainReplaySdkTest, EveryBarOfAnSdkStrategyAsTraced) {
  ExpectSameExplanations({{"strategy", "sdk_cross"}, {"symbols", "EURUSD"},
                          {"timeframe", "H1"}, {"start_date", "2021-01-01"},
                          {"end_date", "2023-06-01"}});
}

TEST_F(ExplainReplayTest, SameBarTwiceIsOneReplayAndOwnersOnly) {
  const std::string job = Run(ann_, {{"strategy", "sr_breakout"}, {"max_candles", "2000"}});
  const int64_t before = server_.server().trace_replayer().replays();
  v1::ExplainResponse first, second;
  ASSERT_TRUE(Explain(ann_, job, 1234, &first).ok());
  ASSERT_TRUE(Explain(ann_, job, 1234, &second).ok());
  EXPECT_TRUE(first.replayed());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, second));
  EXPECT_EQ(server_.server().trace_replayer().replays() - before, 1);
  // By its time: the same bar, from the same replay.
  v1::ExplainRequest by_time;
  by_time.set_job_id(job);
  by_time.set_ts(std::to_string(static_cast<int64_t>(first.ts())));
  v1::ExplainResponse third;
  ASSERT_TRUE(server_.traces().Explain(server_.Context(ann_).get(), by_time, &third).ok());
  EXPECT_TRUE(third.replayed());
  EXPECT_EQ(third.bar_index(), 1234);
  EXPECT_EQ(third.summary(), first.summary());
  EXPECT_EQ(server_.server().trace_replayer().replays() - before, 1);

  // Another user: the job does not exist; staff may.
  v1::ExplainResponse other;
  EXPECT_EQ(Explain(bob_, job, 1234, &other).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::QueryTraceResponse rows;
  EXPECT_EQ(Window(bob_, job, 0, 10, &rows).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Explain(server_.admin_token(), job, 1234, &other).ok());
  EXPECT_TRUE(other.replayed());
}

class ExplainReplayLimitTest : public ExplainReplayTest {
 protected:
  void Configure(ServerOptions& options) override { options.trace_replay.per_user = 1; }
};

TEST_F(ExplainReplayLimitTest, ACallerHasAtMostPerUserReplaysUnderWay) {
  const std::string job = Run(ann_, {{"strategy", "sr_breakout"}, {"timeframe", "M1"},
                                     {"start_date", "2020-01-01"}, {"end_date", "2020-02-15"}});
  jobs::TraceReplayer& replayer = server_.server().trace_replayer();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<absl::Status> answers;
  auto answer = [&](absl::StatusOr<jobs::TraceRows> rows) {
    std::lock_guard lock(mu);
    answers.push_back(rows.status());
    cv.notify_all();
  };
  // The first replay takes a runner's run of ~100k bars; the second question, asked right after,
  // finds it under way and is refused at once.
  replayer.Rows({.job_id = job, .caller_id = ann_id_, .first_bar = 10, .last_bar = 10}, answer);
  replayer.Rows({.job_id = job, .caller_id = ann_id_, .first_bar = 9000, .last_bar = 9000}, answer);
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return answers.size() == 2; }));
  EXPECT_EQ(answers[0].code(), absl::StatusCode::kResourceExhausted) << answers[0];
  EXPECT_THAT(answers[0].message(), HasSubstr("replays"));
  EXPECT_TRUE(answers[1].ok()) << answers[1];
}

class ExplainReplayQuotaTest : public ExplainReplayTest {
 protected:
  void Configure(ServerOptions& options) override {
    options.quota.max_active_jobs_per_user = 1;
  }
};

TEST_F(ExplainReplayQuotaTest, ReplaysCountWithTheCallersJobs) {
  const Params params = {{"strategy", "sr_breakout"}, {"timeframe", "M1"},
                         {"start_date", "2020-01-01"}, {"end_date", "2020-02-15"}};
  const std::string job = Run(ann_, params);
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::Status> replayed;
  server_.server().trace_replayer().Rows(
      {.job_id = job, .caller_id = ann_id_, .first_bar = 10, .last_bar = 10},
      [&](absl::StatusOr<jobs::TraceRows> rows) {
        std::lock_guard lock(mu);
        replayed = rows.status();
        cv.notify_all();
      });
  // While the replay is under way, a submission is one too many.
  v1::RunBacktestRequest request;
  for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
  v1::RunBacktestResponse response;
  grpc::Status s = server_.jobs().RunBacktest(server_.Context(ann_).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return replayed.has_value(); }));
    EXPECT_TRUE(replayed->ok()) << *replayed;
  }
  // Answered, it counts no more.
  EXPECT_TRUE(server_.jobs().RunBacktest(server_.Context(ann_).get(), request, &response).ok());
}

TEST_F(ExplainReplayTest, WindowIsBounded) {
  const std::string job = Run(ann_, {{"strategy", "sma_cross"}, {"max_candles", "3000"}});
  v1::QueryTraceResponse rows;
  grpc::Status s = Window(ann_, job, 100, 100 + kMaxWindow, &rows);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("at most ", kMaxWindow, " bars")));

  ASSERT_TRUE(Window(ann_, job, 100, 100 + kMaxWindow - 1, &rows).ok());
  EXPECT_TRUE(rows.replayed());
  ASSERT_GT(rows.items_size(), 0);
  EXPECT_EQ(rows.items(0).bar_index(), 100);
  for (const v1::TraceRow& row : rows.items()) {
    EXPECT_GE(row.bar_index(), 100);
    EXPECT_LE(row.bar_index(), 100 + kMaxWindow - 1);
  }
  // A window past the run's end.
  s = Window(ann_, job, 3000, 3010, &rows);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(s.error_message(), HasSubstr("it has 3000 bars"));
  // bar_to without bar_index, or before it.
  v1::QueryTraceRequest request;
  request.set_job_id(job);
  request.set_bar_to(5);
  s = server_.traces().QueryTrace(server_.Context(ann_).get(), request, &rows);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("bar_to"));
}

TEST_F(ExplainReplayTest, ChangedDataIsNamed) {
  const std::filesystem::path dir =
      std::filesystem::path(server_.options().db_path).parent_path() / "data";
  std::filesystem::create_directories(dir);
  auto write = [&](double bump) {
    std::ofstream csv(dir / "EURUSD_H1.csv");
    csv << "time,open,high,low,close\n";
    for (int i = 0; i < 1500; ++i) {
      const double p = 1.1 + 0.01 * std::sin(i / 20.0) + (i == 1400 ? bump : 0);
      csv << 1'650'000'000 + 3600 * i << "," << p << "," << p + 0.002 << "," << p - 0.002 << ","
          << p + 0.0005 << "\n";
    }
  };
  write(0);
  const std::string job =
      Run(ann_, {{"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"timeframe", "H1"},
                 {"start_date", "2022-04-20"}, {"end_date", "2022-07-01"},
                 {"data_source", "file://" + dir.string()}});
  v1::ExplainResponse answer;
  ASSERT_TRUE(Explain(ann_, job, 50, &answer).ok());
  EXPECT_TRUE(answer.replayed());

  write(0.05);  // one close changed since the run
  const int64_t before = server_.server().trace_replayer().replays();
  grpc::Status s = Explain(ann_, job, 700, &answer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("data of EURUSD has changed since the run"));
  // The error is kept: asking again replays nothing.
  s = Explain(ann_, job, 800, &answer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(server_.server().trace_replayer().replays() - before, 1);
}

}  // namespace
}  // namespace backtest
