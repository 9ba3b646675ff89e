// Strategies from the strategy folder as jobs, in-process: the folder described in the sandbox at
// start, its strategies' parameters in ListParams and validation, a job of an SDK strategy run by
// the SDK's Python runner in the sandbox (its log streamed, its result stored, its source hash in
// its log), a cancel that stops it, and a folder added while the server runs picked up.
// bubblewrap must be installed (scripts/install-deps.sh); build/venv holds the SDK (make build).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "backtest/v1/strategy_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/jobs/strategy_catalog.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

namespace fs = std::filesystem;
using ::backtest::testing::BuildPython;
using ::backtest::testing::PollUntil;
using ::backtest::testing::SourceDir;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;

// An SDK strategy; ON_BAR_EXTRA runs on every bar (a slow strategy for the cancel).
constexpr char kMyCross[] = R"(
"""SMA crossover: long above, short below."""
import time

from backtestd import Float, Int, Strategy


class MyCross(Strategy):
    fast_period = Int(10, min=1, help="Fast SMA length")
    slow_period = Int(30, min=2, help="Slow SMA length")
    size = Float(1, min=0, min_exclusive=True, alias="SIZE", help="Units per position")

    def on_start(self):
        print("hello from", type(self).__name__)
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        ON_BAR_EXTRA
        if self.cross.value > 0:
            self.buy(self.size, reason="cross_up")
        elif self.cross.value < 0:
            self.sell(self.size, reason="cross_down")
)";

class StrategyJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = server_.dir().File("strategies");
    chmod(server_.dir().path().c_str(), 0755);
    WriteStrategy("my_cross", "pass");
    WriteStrategy("slow_cross", "time.sleep(0.01)");
    server_.options().workers = workers_;
    server_.options().cancel_grace_ms = 500;
    server_.options().strategy_dir = folder_;
    server_.options().python = BuildPython();
    server_.options().data_access.roots = {SourceDir() + "/tests/golden"};
    server_.Start();
  }

  void WriteStrategy(const std::string& name, const std::string& on_bar_extra) {
    const std::string dir = folder_ + "/" + name;
    fs::create_directories(dir);
    chmod(folder_.c_str(), 0755);
    chmod(dir.c_str(), 0755);
    std::string text = kMyCross;
    text.replace(text.find("ON_BAR_EXTRA"), 12, on_bar_extra);
    // Written whole under another name, then renamed: a scan never sees half a file.
    std::ofstream(dir + "/.strategy.py.tmp") << text;
    chmod((dir + "/.strategy.py.tmp").c_str(), 0644);
    fs::rename(dir + "/.strategy.py.tmp", dir + "/strategy.py");
  }

  grpc::Status ListParams(const std::string& strategy, backtest::v1::ListParamsResponse* out) {
    backtest::v1::ListParamsRequest request;
    request.set_strategy(strategy);
    return server_.jobs().ListParams(server_.Context().get(), request, out);
  }

  absl::StatusOr<std::string> Submit(const std::map<std::string, std::string>& params) {
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
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

  std::vector<backtest::v1::StreamJobLogResponse> Stream(const std::string& id) {
    backtest::v1::StreamJobLogRequest request;
    request.set_job_id(id);
    auto context = server_.Context("", 300);
    auto reader = server_.jobs().StreamJobLog(context.get(), request);
    std::vector<backtest::v1::StreamJobLogResponse> events;
    backtest::v1::StreamJobLogResponse event;
    while (reader->Read(&event)) events.push_back(event);
    EXPECT_TRUE(reader->Finish().ok());
    return events;
  }

  // Waits until the job has finished or failed (false after 120 s).
  bool WaitEnded(const std::string& id) {
    return PollUntil([&] {
      std::string s = Get(id).status();
      return s == "finished" || s == "failed";
    }, 120);
  }

  // The source hash the job's row records.
  std::string StoredSourceHash(const std::string& id) {
    SQLite::Database db(server_.options().db_path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT strategy_source_hash FROM jobs WHERE id = ?");
    q.bind(1, id);
    return q.executeStep() ? q.getColumn(0).getString() : "(no job)";
  }

  TestServer server_;
  std::string folder_;
  int workers_ = 1;
};

std::map<std::string, std::string> Quick(const std::string& strategy) {
  return {{"strategy", strategy},
          {"symbols", "EURUSD"},
          {"timeframe", "H1"},
          {"start_date", "2022-01-01"},
          {"end_date", "2022-04-01"}};
}

TEST_F(StrategyJobsTest, FolderStrategiesJoinListParamsAndValidation) {
  backtest::v1::ListParamsResponse all;
  ASSERT_TRUE(ListParams("", &all).ok());
  ASSERT_EQ(all.params(0).name(), "strategy");
  EXPECT_THAT(all.params(0).choices(), ::testing::ElementsAre("sr_breakout", "sma_cross",
                                                              "my_cross", "slow_cross"));
  backtest::v1::ListParamsResponse mine;
  ASSERT_TRUE(ListParams("my_cross", &mine).ok());
  std::map<std::string, backtest::v1::ParamDefinition> by_name;
  for (const auto& p : mine.params()) by_name[p.name()] = p;
  ASSERT_TRUE(by_name.contains("size"));
  EXPECT_EQ(by_name["size"].alias(), "SIZE");
  EXPECT_EQ(by_name["size"].group(), "my_cross");
  EXPECT_EQ(by_name["size"].strategy(), "my_cross");
  EXPECT_TRUE(by_name["size"].min_exclusive());
  EXPECT_EQ(by_name["fast_period"].strategy(), "my_cross");
  EXPECT_FALSE(by_name.contains("rr"));  // sr_breakout's
  EXPECT_TRUE(by_name.contains("symbols"));
  EXPECT_EQ(ListParams("nope", &mine).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto params = Quick("my_cross");
  params["SIZE"] = "0";
  auto refused = Submit(params);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "size: must be > 0, got \"0\"");
}

TEST_F(StrategyJobsTest, AnSdkStrategyRunsAsAJobInTheSandbox) {
  auto params = Quick("my_cross");
  params["fast_period"] = "5";
  auto id = Submit(params);
  ASSERT_TRUE(id.ok()) << id.status();
  auto events = Stream(*id);
  ASSERT_FALSE(events.empty());
  backtest::v1::Job job = Get(*id);
  ASSERT_EQ(job.status(), "finished") << job.DebugString();
  const std::string hash = jobs::SourceHash(folder_ + "/my_cross").value();
  bool hash_logged = false, hello = false;
  for (const auto& e : events) {
    if (!e.has_log()) continue;
    hash_logged |= e.log().source() == "server" &&
                   e.log().text() == "strategy my_cross (sdk), source " + hash;
    hello |= e.log().source() == "stdout" && e.log().text() == "hello from MyCross";
  }
  EXPECT_TRUE(hash_logged);
  EXPECT_TRUE(hello);
  EXPECT_EQ(StoredSourceHash(*id), hash);
  EXPECT_EQ(job.strategy_source_hash(), hash);

  backtest::v1::GetResultRequest request;
  request.set_job_id(*id);
  backtest::v1::GetResultResponse result;
  grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(result.trades_size(), 0);
  EXPECT_EQ(result.stats().trades(), result.trades_size());
}

TEST_F(StrategyJobsTest, ACancelStopsAStrategysRunner) {
  auto params = Quick("slow_cross");
  params["start_date"] = "2015-01-01";
  params["end_date"] = "2022-01-01";
  auto id = Submit(params);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(PollUntil([&] { return Get(*id).progress().fraction() > 0; }, 60))
      << Get(*id).DebugString();
  backtest::v1::CancelJobRequest request;
  request.set_job_id(*id);
  backtest::v1::CancelJobResponse response;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), request, &response).ok());
  ASSERT_TRUE(PollUntil([&] { return Get(*id).status() == "cancelled"; }, 60))
      << Get(*id).DebugString();
}

TEST_F(StrategyJobsTest, AFolderAddedWhileTheServerRunsIsPickedUp) {
  WriteStrategy("added_cross", "pass");
  backtest::v1::ListParamsResponse listed;
  EXPECT_TRUE(PollUntil([&] {
    listed.Clear();
    return ListParams("added_cross", &listed).ok();
  }, 60));
  auto id = Submit(Quick("added_cross"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitEnded(*id));
  EXPECT_EQ(Get(*id).status(), "finished") << Get(*id).error();
}

// Waits until the folder's scan has picked up `name`.
#define WAIT_LISTED(name)                                                   \
  ASSERT_TRUE(PollUntil([&] {                                               \
    backtest::v1::ListParamsResponse listed;                                \
    return ListParams(name, &listed).ok();                                  \
  }, 60))

TEST_F(StrategyJobsTest, AnExceptionInTheStrategyFailsItsJobWithTheLastFrame) {
  WriteStrategy("raising", "1 / 0");
  WAIT_LISTED("raising");
  auto id = Submit(Quick("raising"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitEnded(*id));
  backtest::v1::Job job = Get(*id);
  EXPECT_EQ(job.status(), "failed");
  EXPECT_THAT(job.error(), HasSubstr("ZeroDivisionError"));
  EXPECT_THAT(job.error(), HasSubstr("on_bar"));
}

// A job runs the code it was submitted with: a folder changed before the job starts fails it.
TEST_F(StrategyJobsTest, AStrategyChangedAfterSubmissionFailsItsJob) {
  auto slow = Quick("slow_cross");
  slow["start_date"] = "2015-01-01";
  slow["end_date"] = "2022-01-01";
  auto busy = Submit(slow);  // holds the one worker
  ASSERT_TRUE(busy.ok()) << busy.status();
  ASSERT_TRUE(PollUntil([&] { return Get(*busy).status() == "running"; }, 60));
  auto id = Submit(Quick("my_cross"));
  ASSERT_TRUE(id.ok()) << id.status();
  const std::string submitted = StoredSourceHash(*id);
  EXPECT_EQ(submitted, jobs::SourceHash(folder_ + "/my_cross").value());
  WriteStrategy("my_cross", "x = 1");
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(*busy);
  backtest::v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  ASSERT_TRUE(WaitEnded(*id));
  backtest::v1::Job job = Get(*id);
  EXPECT_EQ(job.status(), "failed");
  EXPECT_THAT(job.error(), HasSubstr("source hash"));
}

// The job's file data (a data root of its data policy) is visible in the sandbox where it is.
TEST_F(StrategyJobsTest, AnSdkStrategyReadsTheJobsFileData) {
  auto id = Submit({{"strategy", "my_cross"},
                    {"symbols", "XAGUSD"},
                    {"timeframe", "H1"},
                    {"start_date", "2023-01-01"},
                    {"end_date", "2023-03-01"},
                    {"data_source", "file://" + SourceDir() + "/tests/golden"}});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitEnded(*id));
  backtest::v1::Job job = Get(*id);
  ASSERT_EQ(job.status(), "finished") << job.error();
  backtest::v1::GetResultRequest request;
  request.set_job_id(*id);
  backtest::v1::GetResultResponse result;
  grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(result.stats().bars(), 900);
  EXPECT_GT(result.trades_size(), 0);
}

// The closed trades of examples/strategies/sr_bot run as its users run it, under plain backtrader
// (tests/adapters/plain_backtrader.py): entry and exit time (epoch seconds), prices and pnl.
std::vector<std::vector<double>> PlainBacktraderTrades(const std::string& args_json,
                                                      const std::string& data_dir) {
  const std::string command = absl::StrCat(
      "PYTHONDONTWRITEBYTECODE=1 '", SourceDir(), "/build/venv/bin/python' '", SourceDir(),
      "/tests/adapters/plain_backtrader.py' '", SourceDir(), "/examples/strategies/sr_bot' '",
      args_json, "' '{\"BACKTEST_FETCH_CSV_URL\": \"file://", data_dir, "\"}'");
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  for (size_t n; pipe != nullptr && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    out.append(buffer, n);
  }
  EXPECT_TRUE(pipe != nullptr && pclose(pipe) == 0) << command << "\n" << out;
  const nlohmann::json plain = nlohmann::json::parse(out.substr(out.rfind("{\"trades\"")));
  auto epoch = [](const std::string& text) {
    absl::Time t;
    std::string error;
    EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%S", text, absl::UTCTimeZone(), &t, &error))
        << text << ": " << error;
    return static_cast<double>(absl::ToUnixSeconds(t));
  };
  std::vector<std::vector<double>> trades;
  for (const auto& t : plain["trades"]) {
    trades.push_back({epoch(t["entry_time"]), t["entry_price"], epoch(t["exit_time"]),
                      t["exit_price"], t["pnlcomm"]});
  }
  return trades;
}

// The example backtrader bot, its manifest serving the job's data over HTTP (serve = "http"), runs
// as a job in the sandbox, which refuses it every network socket: the adapter answers its fetch in
// its own process. Its trades are those plain backtrader makes on the same CSV.
TEST_F(StrategyJobsTest, TheExampleBacktraderBotRunsAsAJobInTheSandbox) {
  fs::copy(SourceDir() + "/examples/strategies/sr_bot", folder_ + "/sr_bot",
           fs::copy_options::recursive);
  for (const auto& entry : fs::recursive_directory_iterator(folder_ + "/sr_bot")) {
    chmod(entry.path().c_str(), entry.is_directory() ? 0755 : 0644);
  }
  chmod((folder_ + "/sr_bot").c_str(), 0755);
  WAIT_LISTED("sr_bot");
  const std::string data_dir = SourceDir() + "/tests/golden";
  auto id = Submit({{"strategy", "sr_bot"},
                    {"symbols", "XAGUSD"},
                    {"timeframe", "H1"},
                    {"start_date", "2023-01-01"},
                    {"data_source", "file://" + data_dir}});
  ASSERT_TRUE(id.ok()) << id.status();
  auto events = Stream(*id);
  backtest::v1::Job job = Get(*id);
  ASSERT_EQ(job.status(), "finished") << job.error();
  bool fetched = false;
  for (const auto& e : events) {
    fetched |= e.has_log() && e.log().source() == "stdout" &&
               e.log().text() == "XAGUSD H1: 900 bars from http://backtestd-data.invalid";
  }
  EXPECT_TRUE(fetched);

  backtest::v1::GetResultRequest request;
  request.set_job_id(*id);
  backtest::v1::GetResultResponse result;
  grpc::Status s = server_.jobs().GetResult(server_.Context().get(), request, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(result.candles_size(), 900);
  std::vector<std::vector<double>> trades;
  for (const auto& t : result.trades()) {
    trades.push_back({t.entry_time(), t.entry_price(), t.exit_time(), t.exit_price(), t.pnl()});
  }
  const auto plain = PlainBacktraderTrades(R"({"start_date": "2023-01-01"})", data_dir);
  ASSERT_GE(plain.size(), 3u);
  EXPECT_EQ(trades, plain);
}

// The same bot fetching its CSV with requests (urllib3) instead of urllib: the adapter's data
// address answers it in the sandbox too, and the trades are the same.
TEST_F(StrategyJobsTest, ABotFetchingItsDataWithRequestsRunsInTheSandbox) {
  fs::copy(SourceDir() + "/examples/strategies/sr_bot", folder_ + "/requests_bot",
           fs::copy_options::recursive);
  const std::string main_py = folder_ + "/requests_bot/main.py";
  std::ifstream in(main_py);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const std::string urlopen =
      "        with urllib.request.urlopen(f\"{base.rstrip('/')}/ohlc?{query}\", timeout=300) as r:\n"
      "            return r.read().decode(\"utf-8\")\n";
  const size_t at = text.find(urlopen);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, urlopen.size(),
               "        import requests\n"
               "        r = requests.get(f\"{base.rstrip('/')}/ohlc?{query}\", timeout=300)\n"
               "        r.raise_for_status()\n"
               "        print(f\"fetched with requests {requests.__version__}\", flush=True)\n"
               "        return r.text\n");
  std::ofstream(main_py) << text;
  for (const auto& entry : fs::recursive_directory_iterator(folder_ + "/requests_bot")) {
    chmod(entry.path().c_str(), entry.is_directory() ? 0755 : 0644);
  }
  chmod((folder_ + "/requests_bot").c_str(), 0755);
  WAIT_LISTED("requests_bot");
  const std::string data_dir = SourceDir() + "/tests/golden";
  auto id = Submit({{"strategy", "requests_bot"},
                    {"symbols", "XAGUSD"},
                    {"timeframe", "H1"},
                    {"start_date", "2023-01-01"},
                    {"data_source", "file://" + data_dir}});
  ASSERT_TRUE(id.ok()) << id.status();
  auto events = Stream(*id);
  backtest::v1::Job job = Get(*id);
  ASSERT_EQ(job.status(), "finished") << job.error();
  bool with_requests = false, fetched = false;
  for (const auto& e : events) {
    if (!e.has_log() || e.log().source() != "stdout") continue;
    with_requests |= absl::StartsWith(e.log().text(), "fetched with requests ");
    fetched |= e.log().text() == "XAGUSD H1: 900 bars from http://backtestd-data.invalid";
  }
  EXPECT_TRUE(with_requests);
  EXPECT_TRUE(fetched);
  backtest::v1::GetResultRequest request;
  request.set_job_id(*id);
  backtest::v1::GetResultResponse result;
  ASSERT_TRUE(server_.jobs().GetResult(server_.Context().get(), request, &result).ok());
  std::vector<std::vector<double>> trades;
  for (const auto& t : result.trades()) {
    trades.push_back({t.entry_time(), t.entry_price(), t.exit_time(), t.exit_price(), t.pnl()});
  }
  EXPECT_EQ(trades, PlainBacktraderTrades(R"({"start_date": "2023-01-01"})", data_dir));
}

// The pids of this process's children that are idle Python runners (a sandbox around
// `python -m backtestd.runner`: the worker's warm one).
std::vector<int> WarmPythonRunners() {
  std::vector<int> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    const size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    int ppid = 0;
    fields >> state >> ppid;
    if (ppid != getpid()) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), {});
    if (args.find("backtestd.runner") != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

// The same server with idle warm runners instead of fork servers (python_fork_server off).
class StrategyJobsIdleRunnerTest : public StrategyJobsTest {
 protected:
  void SetUp() override {
    server_.options().python_fork_server = false;
    StrategyJobsTest::SetUp();
  }
};

// Fork servers off: after a job of a folder strategy, the worker keeps a Python runner warm in
// that job's sandbox: the next job of the strategy runs in it (the process started before that
// job was submitted); a job of another strategy does not, and ends it.
TEST_F(StrategyJobsIdleRunnerTest, AWarmPythonRunnerRunsTheNextJobOfTheSameStrategy) {
  // Runs a job to its end; the pid of its runner (the job's log says it; the row keeps it only
  // while the job runs).
  auto runner_pid = [&](const std::map<std::string, std::string>& params) {
    auto id = Submit(params);
    EXPECT_TRUE(id.ok()) << id.status();
    int pid = 0;
    for (const auto& e : Stream(*id)) {
      if (e.has_log() && e.log().source() == "server") {
        (void)sscanf(e.log().text().c_str(), "runner started (pid %d)", &pid);
      }
    }
    backtest::v1::Job job = Get(*id);
    EXPECT_EQ(job.status(), "finished") << job.error();
    return pid;
  };
  EXPECT_TRUE(WarmPythonRunners().empty());
  EXPECT_GT(runner_pid(Quick("my_cross")), 0);
  std::vector<int> warm;
  ASSERT_TRUE(PollUntil([&] { return (warm = WarmPythonRunners()).size() == 1; }, 30));
  EXPECT_EQ(runner_pid(Quick("my_cross")), warm[0]);
  std::vector<int> next;
  ASSERT_TRUE(PollUntil([&] { return (next = WarmPythonRunners()).size() == 1; }, 30));
  EXPECT_NE(next[0], warm[0]);

  auto short_slow = Quick("slow_cross");
  short_slow["end_date"] = "2022-01-08";
  const int other = runner_pid(short_slow);
  EXPECT_GT(other, 0);
  EXPECT_NE(other, next[0]);
  ASSERT_TRUE(PollUntil([&] {
    auto now = WarmPythonRunners();
    return now.size() == 1 && now[0] != next[0];  // slow_cross's; my_cross's was ended
  }, 30));
}

// Fork servers (the default): the first job of a strategy on a worker starts its fork server,
// which forks that job's runner and every later job's of the same sandbox (the same pid, the
// sandbox's); a job of another strategy gets a fork server of its own, and ends the first.
TEST_F(StrategyJobsTest, AForkServerForksEveryJobOfTheSameStrategy) {
  auto runner_pid = [&](const std::map<std::string, std::string>& params) {
    auto id = Submit(params);
    EXPECT_TRUE(id.ok()) << id.status();
    int pid = 0;
    for (const auto& e : Stream(*id)) {
      if (e.has_log() && e.log().source() == "server") {
        (void)sscanf(e.log().text().c_str(), "runner started (pid %d)", &pid);
      }
    }
    backtest::v1::Job job = Get(*id);
    EXPECT_EQ(job.status(), "finished") << job.error();
    return pid;
  };
  EXPECT_TRUE(WarmPythonRunners().empty());
  const int first = runner_pid(Quick("my_cross"));
  EXPECT_GT(first, 0);
  EXPECT_EQ(WarmPythonRunners(), std::vector<int>{first});  // it stays, between jobs too
  for (int i = 0; i < 3; ++i) {
    auto params = Quick("my_cross");
    params["fast_period"] = std::to_string(5 + i);
    EXPECT_EQ(runner_pid(params), first);
  }
  EXPECT_EQ(WarmPythonRunners(), std::vector<int>{first});

  auto short_slow = Quick("slow_cross");
  short_slow["end_date"] = "2022-01-08";
  const int other = runner_pid(short_slow);
  EXPECT_GT(other, 0);
  EXPECT_NE(other, first);
  ASSERT_TRUE(PollUntil([&] { return WarmPythonRunners() == std::vector<int>{other}; }, 30));
}

// What one job of a fork server leaves cannot reach the next: its processes, its /tmp files, its
// module state; and no job reaches into the fork server (its memory, its descriptors). The job
// logs what it finds; "FOUND" would be a leak.
constexpr char kSnoop[] = R"(import glob
import os
import sys
import time

import backtestd
from backtestd import Bool, Strategy


class Snoop(Strategy):
    leave = Bool(False)

    def on_start(self):
        found = []
        if getattr(backtestd, "left_behind", None):
            found.append("module state " + backtestd.left_behind)
        # Entries that hold the sandbox's own mounts are not a job's: with the build under /tmp
        # (a CI clone there), its read-only binds put /tmp/<first part> in the sandbox's /tmp.
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        left = [e for e in os.listdir("/tmp")
                if not any(m == "/tmp/" + e or m.startswith("/tmp/" + e + "/") for m in mounts)]
        if left:
            found.append("tmp " + ",".join(left))
        others = [p for p in os.listdir("/proc") if p.isdigit()
                  and int(p) not in (1, os.getpid(), os.getppid())]
        if others:
            found.append("processes " + ",".join(others))
        for what in ("mem", "environ", "fd/0"):
            try:
                open(f"/proc/{os.getppid()}/{what}", "rb").read(1)
                found.append("fork server's " + what)
            except OSError as e:
                self.log(f"fork server's {what}: {type(e).__name__}")
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.shmget(0, 4096, 0o1600) != -1:  # IPC_PRIVATE, IPC_CREAT | 0600
            found.append("a SysV shared memory segment")
        else:
            self.log(f"shmget: errno {ctypes.get_errno()}")
        self.log("FOUND " + "; ".join(found) if found else "nothing left")
        if self.leave:
            backtestd.left_behind = "secret-of-the-first-job"
            with open("/tmp/secret", "w") as f:
                f.write("secret-of-the-first-job")
            if os.fork() == 0:  # a process left running, its stdout closed so the job can end
                os.close(1)
                os.close(2)
                os.close(3)
                os.setsid()
                time.sleep(600)
                os._exit(0)

    def on_bar(self, bar):
        pass
)";

TEST_F(StrategyJobsTest, AForkServersJobLeavesNothingForTheNext) {
  const std::string dir = folder_ + "/snoop";
  fs::create_directories(dir);
  chmod(dir.c_str(), 0755);
  std::ofstream(dir + "/.strategy.py.tmp") << kSnoop;
  chmod((dir + "/.strategy.py.tmp").c_str(), 0644);
  fs::rename(dir + "/.strategy.py.tmp", dir + "/strategy.py");
  WAIT_LISTED("snoop");
  auto run = [&](bool leave) {
    auto params = Quick("snoop");
    params["end_date"] = "2022-01-08";
    params["leave"] = leave ? "true" : "false";
    auto id = Submit(params);
    EXPECT_TRUE(id.ok()) << id.status();
    std::vector<std::string> lines;
    int pid = 0;
    for (const auto& e : Stream(*id)) {
      if (!e.has_log()) continue;
      if (e.log().source() == "server") {
        (void)sscanf(e.log().text().c_str(), "runner started (pid %d)", &pid);
      } else {
        lines.push_back(e.log().text());
      }
    }
    EXPECT_EQ(Get(*id).status(), "finished") << Get(*id).error();
    return std::make_pair(pid, lines);
  };
  auto [first_pid, first] = run(true);
  EXPECT_THAT(first, ::testing::Contains("nothing left"));
  auto [second_pid, second] = run(false);
  EXPECT_EQ(second_pid, first_pid);  // the same fork server forked both
  EXPECT_THAT(second, ::testing::Contains("nothing left"));
  for (const std::string& what : {"mem", "environ", "fd/0"}) {
    EXPECT_THAT(second, ::testing::Contains(::testing::StartsWith("fork server's " + what + ": ")));
  }
  EXPECT_THAT(second, ::testing::Contains("shmget: errno 1"));  // EPERM: the filter
  for (const std::string& line : second) EXPECT_THAT(line, ::testing::Not(HasSubstr("FOUND")));
}

// Two workers, each with its own sandbox user (Sandbox::WorkerUid).
class StrategyJobsTwoWorkersTest : public StrategyJobsTest {
 protected:
  void SetUp() override {
    workers_ = 2;
    StrategyJobsTest::SetUp();
  }
};

// A job that fills its sandbox user's process limit (64) and holds it does not stop an SDK job
// running meanwhile on the other worker: RLIMIT_NPROC counts per uid, and each worker's
// sandboxes run as a uid of their own.
TEST_F(StrategyJobsTwoWorkersTest, AForkBombInOneJobDoesNotStopAConcurrentSdkJob) {
  const std::string dir = folder_ + "/bomb";
  fs::create_directories(dir);
  chmod(dir.c_str(), 0755);
  std::ofstream(dir + "/.strategy.py.tmp") << R"(import os
import time

from backtestd import Strategy


class Bomb(Strategy):
    def on_start(self):
        children = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
                children += 1
            except OSError:
                break
        print(f"process limit reached with {children} children, uid {os.getuid()}", flush=True)
        time.sleep(600)

    def on_bar(self, bar):
        pass
)";
  chmod((dir + "/.strategy.py.tmp").c_str(), 0644);
  fs::rename(dir + "/.strategy.py.tmp", dir + "/strategy.py");
  WAIT_LISTED("bomb");
  auto bomb = Submit(Quick("bomb"));
  ASSERT_TRUE(bomb.ok()) << bomb.status();
  std::string full;
  ASSERT_TRUE(PollUntil([&] {
    const backtest::v1::Job job = Get(*bomb);
    full = job.stdout_tail();
    return full.find("process limit reached") != std::string::npos || job.status() == "failed";
  }, 60)) << Get(*bomb).error();
  ASSERT_THAT(full, HasSubstr("process limit reached")) << Get(*bomb).error();
  // Meanwhile, on the other worker, with its own user: an SDK job starts and finishes.
  auto id = Submit(Quick("my_cross"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitEnded(*id));
  const backtest::v1::Job job = Get(*id);
  EXPECT_EQ(job.status(), "finished") << job.error();
  EXPECT_EQ(Get(*bomb).status(), "running");
  // The two ran as different users.
  int bomb_uid = -1;
  (void)sscanf(full.substr(full.find("uid ")).c_str(), "uid %d", &bomb_uid);
  EXPECT_GE(bomb_uid, 1'900'000'000);
  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(*bomb);
  backtest::v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server_.jobs().CancelJob(server_.Context().get(), cancel, &cancelled).ok());
  ASSERT_TRUE(PollUntil([&] { return Get(*bomb).status() == "cancelled"; }, 60));
}

TEST_F(StrategyJobsTest, StrategyServiceListsAndDescribesEveryStrategy) {
  auto stub = backtest::v1::StrategyService::NewStub(server_.channel());
  backtest::v1::ListStrategiesResponse list;
  ASSERT_TRUE(stub->ListStrategies(server_.Context().get(), {}, &list).ok());
  std::vector<std::string> names;
  for (const auto& s : list.strategies()) names.push_back(s.name() + ":" + s.kind());
  EXPECT_THAT(names, ::testing::ElementsAre("sr_breakout:builtin", "sma_cross:builtin",
                                            "my_cross:sdk", "slow_cross:sdk"));

  backtest::v1::GetStrategyRequest request;
  request.set_name("my_cross");
  backtest::v1::GetStrategyResponse got;
  ASSERT_TRUE(stub->GetStrategy(server_.Context().get(), request, &got).ok());
  const backtest::v1::Strategy& mine = got.strategy();
  EXPECT_EQ(mine.description(), "SMA crossover: long above, short below.");
  EXPECT_EQ(mine.source_hash(), jobs::SourceHash(folder_ + "/my_cross").value());
  EXPECT_FALSE(mine.sdk_version().empty());
  EXPECT_EQ(mine.entry(), "strategy.py:MyCross");
  std::vector<std::string> params;
  for (const auto& p : mine.parameters()) params.push_back(p.name());
  EXPECT_THAT(params, ::testing::ElementsAre("fast_period", "slow_period", "size"));

  request.set_name("sma_cross");
  ASSERT_TRUE(stub->GetStrategy(server_.Context().get(), request, &got).ok());
  EXPECT_EQ(got.strategy().kind(), "builtin");
  EXPECT_TRUE(got.strategy().source_hash().empty());
  EXPECT_EQ(got.strategy().parameters_size(), 3);  // fast_period, slow_period, size

  request.set_name("nope");
  EXPECT_EQ(stub->GetStrategy(server_.Context().get(), request, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Job.params types a folder strategy's own parameters by its declaration (numbers, booleans),
// as it does the built-ins', not as text.
TEST_F(StrategyJobsTest, JobParamsAreTypedByTheFolderStrategysDeclarations) {
  const std::string dir = folder_ + "/typed";
  fs::create_directories(dir);
  chmod(dir.c_str(), 0755);
  std::ofstream(dir + "/.strategy.py.tmp") << R"(from backtestd import Bool, Choice, Float, Int, Strategy, Text


class Typed(Strategy):
    use_filter = Bool(False)
    risk_scale = Float(1.0, min=0)
    lookback_bars = Int(5, min=1)
    mode_name = Choice("a", choices=["a", "b"])
    label = Text("x")

    def on_bar(self, bar):
        pass
)";
  chmod((dir + "/.strategy.py.tmp").c_str(), 0644);
  fs::rename(dir + "/.strategy.py.tmp", dir + "/strategy.py");
  WAIT_LISTED("typed");
  std::map<std::string, std::string> params = Quick("typed");
  params.insert({{"use_filter", "true"}, {"risk_scale", "1.5"}, {"lookback_bars", "7"},
                 {"mode_name", "b"}, {"label", "12"}});
  auto id = Submit(params);
  ASSERT_TRUE(id.ok()) << id.status();
  const backtest::v1::Job job = Get(*id);
  const auto& p = job.params();
  ASSERT_TRUE(p.contains("use_filter"));
  EXPECT_EQ(p.at("use_filter").kind_case(), google::protobuf::Value::kBoolValue);
  EXPECT_TRUE(p.at("use_filter").bool_value());
  EXPECT_EQ(p.at("risk_scale").kind_case(), google::protobuf::Value::kNumberValue);
  EXPECT_EQ(p.at("risk_scale").number_value(), 1.5);
  EXPECT_EQ(p.at("lookback_bars").number_value(), 7);
  EXPECT_EQ(p.at("mode_name").string_value(), "b");
  EXPECT_EQ(p.at("label").kind_case(), google::protobuf::Value::kStringValue);  // Text: "12"
  EXPECT_EQ(p.at("label").string_value(), "12");
  EXPECT_EQ(p.at("initial_equity").kind_case(), google::protobuf::Value::kNumberValue);
  ASSERT_TRUE(WaitEnded(*id));
  EXPECT_EQ(Get(*id).status(), "finished") << Get(*id).error();
}

// A folder that does not load is listed with why (file and line), GetStrategy answers it, and a
// job of it is refused FAILED_PRECONDITION with that error; fixed, it runs.
TEST_F(StrategyJobsTest, AStrategyThatDoesNotLoadIsListedWithItsErrorAndRefused) {
  auto write = [&](const std::string& name, const std::string& file, const std::string& text) {
    const std::string dir = folder_ + "/" + name;
    fs::create_directories(dir);
    chmod(dir.c_str(), 0755);
    std::ofstream(dir + "/." + file + ".tmp") << text;
    chmod((dir + "/." + file + ".tmp").c_str(), 0644);
    fs::rename(dir + "/." + file + ".tmp", dir + "/" + file);
  };
  write("syntax", "strategy.py", "from backtestd import Strategy\n\n\nclass X(Strategy)\n    pass\n");
  write("imports", "strategy.py", "from backtestd import Strategy\nimport talib_not_here\n");
  write("bad_manifest", "strategy.toml",
        "kind = \"backtrader\"\nentry = \"main:backtesting\"\n\n[[parameters]]\nname = \"rr\"\n"
        "type = \"decimal\"\ndefault = \"2\"\n");
  write("bad_manifest", "main.py", "def backtesting(**kw):\n    pass\n");
  auto stub = backtest::v1::StrategyService::NewStub(server_.channel());
  std::map<std::string, backtest::v1::Strategy> listed;
  ASSERT_TRUE(PollUntil([&] {
    backtest::v1::ListStrategiesResponse list;
    if (!stub->ListStrategies(server_.Context().get(), {}, &list).ok()) return false;
    listed.clear();
    for (const auto& s : list.strategies()) listed[s.name()] = s;
    return listed.count("syntax") && listed.count("imports") && listed.count("bad_manifest");
  }, 60));
  EXPECT_EQ(listed["syntax"].kind(), "sdk");
  EXPECT_EQ(listed["syntax"].error(), "strategy.py:4: SyntaxError: expected ':'");
  EXPECT_EQ(listed["syntax"].source_hash(), jobs::SourceHash(folder_ + "/syntax").value());
  EXPECT_EQ(listed["syntax"].parameters_size(), 0);
  EXPECT_EQ(listed["imports"].error(),
            "strategy.py:2 in <module>: ModuleNotFoundError: No module named 'talib_not_here'");
  EXPECT_EQ(listed["bad_manifest"].kind(), "backtrader");
  EXPECT_THAT(listed["bad_manifest"].error(),
              ::testing::StartsWith("strategy.toml: parameters[0] (rr): type: must be one of"));
  EXPECT_TRUE(listed["my_cross"].error().empty());
  std::vector<std::string> order;
  for (const auto& [name, s] : listed) order.push_back(name);
  backtest::v1::ListStrategiesResponse list;
  ASSERT_TRUE(stub->ListStrategies(server_.Context().get(), {}, &list).ok());
  std::vector<std::string> names;
  for (const auto& s : list.strategies()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::ElementsAre("sr_breakout", "sma_cross", "bad_manifest", "imports",
                                            "my_cross", "slow_cross", "syntax"));

  backtest::v1::GetStrategyRequest request;
  request.set_name("imports");
  backtest::v1::GetStrategyResponse got;
  ASSERT_TRUE(stub->GetStrategy(server_.Context().get(), request, &got).ok());
  EXPECT_EQ(got.strategy().error(), listed["imports"].error());

  auto refused = Submit(Quick("imports"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "strategy imports cannot run: strategy.py:2 in <module>: ModuleNotFoundError: No "
            "module named 'talib_not_here'");
  auto by_alias = Submit({{"STRATEGY", "syntax"}});
  EXPECT_EQ(by_alias.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(by_alias.status().message(), HasSubstr("strategy.py:4: SyntaxError"));

  // Fixed: described again, listed without an error, and it runs.
  WriteStrategy("imports", "pass");
  ASSERT_TRUE(PollUntil([&] {
    return stub->GetStrategy(server_.Context().get(), request, &got).ok() &&
           got.strategy().error().empty() && got.strategy().parameters_size() > 0;
  }, 60));
  auto id = Submit(Quick("imports"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitEnded(*id));
  EXPECT_EQ(Get(*id).status(), "finished") << Get(*id).error();
}

}  // namespace
}  // namespace backtest
