// The job service measured end to end: a real backtestd in-process on 127.0.0.1 with real runner
// processes, driven over gRPC.
//
//   GetResult          the whole result of a 100k-bar sma_cross job, per point, packed and packed
//                      with decimal columns.
//   SubmitToFinished   RunBacktest of a 10k-bar sma_cross, then StreamJobLog until the job ends;
//                      p50/p99 of that latency (targets: 15 ms / 50 ms); batched:1 asks the
//                      stream for batched log lines.
//   SlurmSubmitToFinished  the same job through the Slurm backend on the cluster of SLURM_CONF
//                      (skipped without one): p50 (target: 150 ms) and the digest as local.
//   SlurmCancelToStepGone  CancelJob of a running Slurm job until its step has left squeue
//                      (target: 2 s) and until the job reads cancelled; arg 1: cancelled in its
//                      bar loop, 0: while it loads its data.
//   SdkSubmitToFinished  the same for a 10k-bar job of an SDK strategy (the SMA cross on the
//                      SDK) from the strategy folder, in the sandbox: fork servers against none
//                      (a fresh interpreter per job), alternated job by job; and jobs back to
//                      back, fork servers against the idle warm runner per job of before, in
//                      alternated blocks (target: p50 <= 60 ms).
//   Fanout/1000        1,000 subscribers on one job (callback client, no thread per stream): all
//                      get every event; the process's peak RSS before and after.
//   TracedJob          a traced sr_breakout job (trace rows stored through the job path): rows/s.
//   ExplainReplayed    Explain of a bar of an untraced 100k-bar sr_breakout job: replayed (a bar
//                      of a block not asked before each time) and cached (the same bar again);
//                      p50/p99 (targets: p50 <= 50 ms replayed, <= 5 ms cached).
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "backtest/v1/backtest_service.grpc.pb.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "benchmark/benchmark.h"
#include "server/server.h"

namespace backtest {
namespace {

using Clock = std::chrono::steady_clock;

long PeakRssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

class BenchServer {
 public:
  // `configure` adjusts the options before the server starts (its dir() exists by then).
  explicit BenchServer(const std::function<void(BenchServer&, ServerOptions&)>& configure = {}) {
    std::string pattern = (std::filesystem::temp_directory_path() / "backtestd-bench-XXXXXX");
    dir_ = mkdtemp(pattern.data());
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.db_path = dir_ + "/backtest.db";
    const char* bin = std::getenv("BACKTEST_BIN_DIR");
    options.runner_path = std::string(bin ? bin : BACKTEST_BIN_DIR_DEFAULT) + "/backtest-runner";
    options.queue_size = 10000;
    if (configure) configure(*this, options);
    auto server = Server::Start(options);
    if (!server.ok()) {
      fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
      abort();
    }
    server_ = *std::move(server);
    std::ifstream token_file(server_->token_file());
    std::getline(token_file, token_);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(512 << 20);
    channel_ = grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(),
                                         args);
    stub_ = backtest::v1::BacktestService::NewStub(channel_);
  }
  ~BenchServer() {
    stub_.reset();
    channel_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Authorize(grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Token " + token_);
  }

  std::string Submit(const std::map<std::string, std::string>& params) {
    backtest::v1::RunBacktestRequest request;
    for (const auto& [k, v] : params) (*request.mutable_params())[k].set_string_value(v);
    backtest::v1::RunBacktestResponse response;
    grpc::ClientContext context;
    Authorize(&context);
    grpc::Status s = stub_->RunBacktest(&context, request, &response);
    if (!s.ok()) {
      fprintf(stderr, "RunBacktest: %s\n", s.error_message().c_str());
      abort();
    }
    return response.job_id();
  }

  // Follows the job's log to its end; returns the number of events.
  int Follow(const std::string& id, std::string* final_status, bool batch_log_lines = false) {
    backtest::v1::StreamJobLogRequest request;
    request.set_job_id(id);
    request.set_batch_log_lines(batch_log_lines);
    grpc::ClientContext context;
    Authorize(&context);
    auto reader = stub_->StreamJobLog(&context, request);
    backtest::v1::StreamJobLogResponse event;
    int n = 0;
    while (reader->Read(&event)) {
      ++n;
      if (event.has_status()) *final_status = event.status().status();
    }
    reader->Finish();
    return n;
  }

  backtest::v1::BacktestService::Stub& stub() { return *stub_; }
  const std::string& dir() const { return dir_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

 private:
  std::string dir_;
  std::unique_ptr<Server> server_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<backtest::v1::BacktestService::Stub> stub_;
};

// sma_cross on about 10,000 H1 bars of sample data.
const std::map<std::string, std::string> k10kBars = {
    {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"timeframe", "H1"},
    {"start_date", "2020-01-01"}, {"end_date", "2021-08-10"}};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// sma_cross on 100,800 M1 bars of sample data (a job of issue 15's size, on sample data).
const std::map<std::string, std::string> k100kBars = {
    {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"timeframe", "M1"},
    {"start_date", "2020-01-01"}, {"end_date", "2020-05-19"}};

// GetResult of one finished 100k-bar job, the whole result, in the layout of arg 0 (1: packed,
// 2: packed with decimal columns, 3: those and packed trades): the server's work and a C++
// client's, without a Python client's receiving (docs/benchmarks.md).
void BM_GetResult(benchmark::State& state) {
  BenchServer server;
  std::string status;
  const std::string id = server.Submit(k100kBars);
  server.Follow(id, &status);
  if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
  backtest::v1::GetResultRequest request;
  request.set_job_id(id);
  if (state.range(0) != 0) request.set_layout(backtest::v1::RESULT_LAYOUT_PACKED);
  request.set_decimal_columns(state.range(0) >= 2);
  request.set_packed_trades(state.range(0) == 3);
  std::vector<double> ms;
  size_t bytes = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    backtest::v1::GetResultResponse response;
    grpc::ClientContext context;
    server.Authorize(&context);
    grpc::Status s = server.stub().GetResult(&context, request, &response);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
    bytes = response.ByteSizeLong();
  }
  state.counters["p50_ms"] = Percentile(ms, 0.50);
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}
BENCHMARK(BM_GetResult)
    ->ArgName("packed")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Arg(3)
    ->Iterations(50)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Arg 1: the stream asks for batched log lines (StreamJobLogRequest.batch_log_lines).
void BM_SubmitToFinished(benchmark::State& state) {
  const bool batched = state.range(0) != 0;
  BenchServer server;
  std::string status;
  server.Follow(server.Submit(k10kBars), &status);  // warm the page cache and the runner binary
  std::vector<double> ms;
  for (auto _ : state) {
    auto t0 = Clock::now();
    server.Follow(server.Submit(k10kBars), &status, batched);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
  }
  state.counters["p50_ms"] = Percentile(ms, 0.50);
  state.counters["p99_ms"] = Percentile(ms, 0.99);
}
BENCHMARK(BM_SubmitToFinished)
    ->ArgName("batched")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(200)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The same job, its end seen by polling GetJob every millisecond instead of receiving its ~970
// log events: how long the job itself takes from submission to its stored end.
void BM_SubmitToFinishedPolling(benchmark::State& state) {
  BenchServer server;
  std::string status;
  server.Follow(server.Submit(k10kBars), &status);  // warm the page cache and the runner binary
  std::vector<double> ms;
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::string id = server.Submit(k10kBars);
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    while (true) {
      backtest::v1::GetJobResponse job;
      grpc::ClientContext context;
      server.Authorize(&context);
      server.stub().GetJob(&context, request, &job);
      status = job.job().status();
      if (status != "queued" && status != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
  }
  state.counters["p50_ms"] = Percentile(ms, 0.50);
  state.counters["p99_ms"] = Percentile(ms, 0.99);
}
BENCHMARK(BM_SubmitToFinishedPolling)
    ->Iterations(200)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The result digest of a finished job (GetResult's, candles left out).
std::string DigestOf(BenchServer& server, const std::string& id) {
  backtest::v1::GetResultRequest request;
  request.set_job_id(id);
  request.set_max_candles(1);
  backtest::v1::GetResultResponse response;
  grpc::ClientContext context;
  server.Authorize(&context);
  grpc::Status s = server.stub().GetResult(&context, request, &response);
  return s.ok() ? response.digest() : "GetResult: " + s.error_message();
}

// The same 10k-bar job through the Slurm backend (docs/runner-backends.md), each a job step of
// its own through srun on the cluster of SLURM_CONF (tests/slurm/cluster.sh start DIR prints it;
// skipped without one): submit -> finished, and its digest against the local backend's
// (target: p50 <= 150 ms, the same digest).
void BM_SlurmSubmitToFinished(benchmark::State& state) {
  if (std::getenv("SLURM_CONF") == nullptr) {
    state.SkipWithError("no cluster: SLURM_CONF is not set (tests/slurm/cluster.sh start DIR)");
    return;
  }
  std::string local_digest;
  {
    BenchServer local;
    std::string status;
    const std::string id = local.Submit(k10kBars);
    local.Follow(id, &status);
    local_digest = DigestOf(local, id);
  }
  BenchServer server([](BenchServer&, ServerOptions& options) {
    options.runner_backend = "slurm";
  });
  std::string status;
  server.Follow(server.Submit(k10kBars), &status);  // the first step pays for the node's caches
  std::vector<double> ms;
  std::string last;
  for (auto _ : state) {
    auto t0 = Clock::now();
    last = server.Submit(k10kBars);
    server.Follow(last, &status, /*batch_log_lines=*/true);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
  }
  const std::string digest = DigestOf(server, last);
  if (digest != local_digest) {
    state.SkipWithError(("digest " + digest + " differs from the local run's " + local_digest).c_str());
  }
  state.SetLabel("digest " + digest.substr(0, 12) + "… as local");
  state.counters["p50_ms"] = Percentile(ms, 0.50);
  state.counters["p99_ms"] = Percentile(ms, 0.99);
}
BENCHMARK(BM_SlurmSubmitToFinished)
    ->Iterations(50)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The job's step's state in the cluster's queue ("" once it has left).
std::string StepState(const std::string& job_id) {
  FILE* pipe = ::popen(("squeue -h -o %T -n backtestd-" + job_id + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buf[256];
  for (size_t n; (n = ::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  ::pclose(pipe);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// A cancel of a running Slurm job (a long traced sr_breakout) until its step has left the
// cluster's queue (issue 17: within 2 s) and until the job reads cancelled. Arg 1: cancelled in
// its bar loop (the runner stops at its next bar); 0: as soon as its step runs, while the runner
// still makes its data (the cancel waits for the bars, or the grace period's terminate).
void BM_SlurmCancelToStepGone(benchmark::State& state) {
  if (std::getenv("SLURM_CONF") == nullptr) {
    state.SkipWithError("no cluster: SLURM_CONF is not set (tests/slurm/cluster.sh start DIR)");
    return;
  }
  const bool in_bars = state.range(0) == 1;
  BenchServer server([](BenchServer&, ServerOptions& options) {
    options.runner_backend = "slurm";
    options.workers = 1;
  });
  const std::map<std::string, std::string> long_job = {
      {"strategy", "sr_breakout"}, {"symbols", "EURUSD"}, {"timeframe", "M1"},
      {"start_date", "1990-01-01"}, {"end_date", "2026-01-01"}, {"trace_enabled", "true"}};
  auto job = [&](const std::string& id) {
    backtest::v1::GetJobRequest request;
    request.set_job_id(id);
    backtest::v1::GetJobResponse response;
    grpc::ClientContext context;
    server.Authorize(&context);
    server.stub().GetJob(&context, request, &response);
    return response.job();
  };
  std::vector<double> gone_ms, cancelled_ms;
  for (auto _ : state) {
    const std::string id = server.Submit(long_job);
    while (StepState(id) != "RUNNING" ||
           (in_bars && job(id).progress().bars_done() == 0)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto t0 = Clock::now();
    backtest::v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    backtest::v1::CancelJobResponse cancelled;
    grpc::ClientContext context;
    server.Authorize(&context);
    server.stub().CancelJob(&context, cancel, &cancelled);
    double gone = 0, ended = 0;
    while (gone == 0 || ended == 0) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (gone == 0 && StepState(id).empty()) gone = ms;
      if (ended == 0 && job(id).status() == "cancelled") ended = ms;
      if (ms > 120000) {
        state.SkipWithError(("job " + id + " not cancelled and gone after 120 s").c_str());
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    gone_ms.push_back(gone);
    cancelled_ms.push_back(ended);
  }
  state.counters["gone_p50_ms"] = Percentile(gone_ms, 0.50);
  state.counters["gone_max_ms"] = *std::max_element(gone_ms.begin(), gone_ms.end());
  state.counters["cancelled_p50_ms"] = Percentile(cancelled_ms, 0.50);
}
BENCHMARK(BM_SlurmCancelToStepGone)
    ->Arg(1)
    ->Arg(0)
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The SMA cross (10/30, one position) on the SDK, as tests/sdk/strategies.py's SmaCross.
constexpr char kSdkSmaCross[] = R"(from backtestd import Float, Int, Strategy


class SdkSmaCross(Strategy):
    fast_period = Int(10, min=1)
    slow_period = Int(30, min=2)
    size = Float(1, min=0, min_exclusive=True)

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        c = self.cross.value
        if c > 0:
            self.buy(self.size, reason="cross_up")
        elif c < 0:
            self.sell(self.size, reason="cross_down")
)";

// A server whose strategy folder holds sdk_sma_cross (readable by the sandbox's user), its Python
// the build's venv (the default), its warm Python runners on or off, and those a fork server or
// an idle runner per job.
void WithSdkStrategy(BenchServer& server, ServerOptions& options, bool warm,
                     bool fork_server = true) {
  const std::string folder = server.dir() + "/strategies";
  std::filesystem::create_directories(folder + "/sdk_sma_cross");
  std::ofstream(folder + "/sdk_sma_cross/strategy.py") << kSdkSmaCross;
  for (const std::string& path : {server.dir(), folder, folder + "/sdk_sma_cross"}) {
    chmod(path.c_str(), 0755);
  }
  chmod((folder + "/sdk_sma_cross/strategy.py").c_str(), 0644);
  options.strategy_dir = folder;
  options.warm_python_runners = warm;
  options.python_fork_server = fork_server;
}

// alternated:1 — two servers, fork servers (the default) and no warm runners at all (an
// interpreter per job), their jobs alternated A B A B: p50/p99 of each.
// alternated:0 — jobs back to back (each submitted as soon as the previous one finished): fork
// servers against the idle warm runner of before (one per job, started when the previous job's
// result arrives), in blocks of 10 jobs per server, the blocks alternated; the first job of each
// block is left out (it found its runner warmed during the other server's block).
void BM_SdkSubmitToFinished(benchmark::State& state) {
  const bool alternate = state.range(0) != 0;
  BenchServer forking([](BenchServer& s, ServerOptions& o) { WithSdkStrategy(s, o, true); });
  BenchServer other([&](BenchServer& s, ServerOptions& o) {
    WithSdkStrategy(s, o, /*warm=*/!alternate, /*fork_server=*/false);
  });
  std::map<std::string, std::string> params = k10kBars;
  params["strategy"] = "sdk_sma_cross";
  std::string status;
  for (BenchServer* server : {&forking, &other}) {
    server->Follow(server->Submit(params), &status);  // the page cache; the first warm runner
    if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
  }
  std::vector<double> forking_ms, other_ms;
  const int block = alternate ? 1 : 10;
  for (auto _ : state) {
    for (auto [server, ms] : {std::pair{&forking, &forking_ms}, std::pair{&other, &other_ms}}) {
      for (int i = 0; i < block; ++i) {
        auto t0 = Clock::now();
        server->Follow(server->Submit(params), &status);
        if (alternate || i > 0) {
          ms->push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
      }
    }
  }
  state.counters["fork_p50_ms"] = Percentile(forking_ms, 0.50);
  state.counters["fork_p99_ms"] = Percentile(forking_ms, 0.99);
  const std::string name = alternate ? "cold" : "idle";
  state.counters[name + "_p50_ms"] = Percentile(other_ms, 0.50);
  state.counters[name + "_p99_ms"] = Percentile(other_ms, 0.99);
}
BENCHMARK(BM_SdkSubmitToFinished)
    ->ArgName("alternated")
    ->Arg(1)
    ->Iterations(100)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_SdkSubmitToFinished)
    ->ArgName("alternated")
    ->Arg(0)
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One subscriber of the fan-out: reads every event, counts them, checks their order.
class Subscriber : public grpc::ClientReadReactor<backtest::v1::StreamJobLogResponse> {
 public:
  Subscriber(BenchServer& server, const std::string& id, std::atomic<int>& done,
             std::condition_variable& cv)
      : done_(done), cv_(cv) {
    request_.set_job_id(id);
    server.Authorize(&context_);
    server.stub().async()->StreamJobLog(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    in_order_ &= event_.seq() == last_seq_ + 1;
    last_seq_ = event_.seq();
    ++events_;
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& s) override {
    ok_ = s.ok();
    ++done_;
    cv_.notify_all();
  }
  int events() const { return events_; }
  bool good() const { return ok_ && in_order_; }

 private:
  grpc::ClientContext context_;
  backtest::v1::StreamJobLogRequest request_;
  backtest::v1::StreamJobLogResponse event_;
  int events_ = 0;
  int64_t last_seq_ = 0;
  bool in_order_ = true;
  bool ok_ = false;
  std::atomic<int>& done_;
  std::condition_variable& cv_;
};

void BM_Fanout(benchmark::State& state) {
  BenchServer server;
  const int n = static_cast<int>(state.range(0));
  long rss_before = PeakRssKb();
  int events = 0, good = 0;
  for (auto _ : state) {
    // A job on about 100k M5 bars, traced, so it runs long enough for everyone to attach.
    std::string id = server.Submit({{"strategy", "sr_breakout"}, {"symbols", "EURUSD"},
                                    {"timeframe", "M5"}, {"start_date", "2019-01-01"},
                                    {"end_date", "2020-06-01"}});
    std::atomic<int> done{0};
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    for (int i = 0; i < n; ++i) {
      subscribers.push_back(std::make_unique<Subscriber>(server, id, done, cv));
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done.load() == n; });
    events = subscribers[0]->events();
    good = 0;
    for (const auto& s : subscribers) good += s->good() && s->events() == events;
  }
  state.counters["subscribers_ok"] = good;
  state.counters["events_each"] = events;
  state.counters["peak_rss_mb_before"] = rss_before / 1024.0;
  state.counters["peak_rss_mb_after"] = PeakRssKb() / 1024.0;
}
BENCHMARK(BM_Fanout)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// A traced job end to end: the runner streams trace batches, the job path stores them, a
// subscriber with include_trace receives them. Rows/s over the whole job's wall time.
void BM_TracedJob(benchmark::State& state) {
  BenchServer server;
  int64_t rows = 0;
  for (auto _ : state) {
    std::string id = server.Submit({{"strategy", "sr_breakout"}, {"symbols", "EURUSD"},
                                    {"timeframe", "M5"}, {"start_date", "2019-01-01"},
                                    {"end_date", "2019-07-01"}, {"trace_enabled", "true"}});
    backtest::v1::StreamJobLogRequest request;
    request.set_job_id(id);
    request.set_include_trace(true);
    grpc::ClientContext context;
    server.Authorize(&context);
    auto reader = server.stub().StreamJobLog(&context, request);
    backtest::v1::StreamJobLogResponse event;
    while (reader->Read(&event)) {
      if (event.has_trace()) rows += event.trace().rows_size();
    }
    reader->Finish();
  }
  state.counters["trace_rows"] = static_cast<double>(rows);
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows),
                                                    benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TracedJob)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// Arg 0: every Explain asks a bar of a block not replayed before (a replay in a runner each
// time); arg 1: the same bar again (the replay's cache).
void BM_ExplainReplayed(benchmark::State& state) {
  const bool cached = state.range(0) != 0;
  BenchServer server;
  std::map<std::string, std::string> params = k100kBars;
  params["strategy"] = "sr_breakout";
  std::string status;
  const std::string id = server.Submit(params);
  server.Follow(id, &status);
  if (status != "finished") state.SkipWithError(("job ended " + status).c_str());
  auto traces = backtest::v1::TraceService::NewStub(server.channel());
  auto explain = [&](int bar) {
    backtest::v1::ExplainRequest request;
    request.set_job_id(id);
    request.set_bar_index(bar);
    backtest::v1::ExplainResponse response;
    grpc::ClientContext context;
    server.Authorize(&context);
    grpc::Status s = traces->Explain(&context, request, &response);
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
    if (!response.replayed()) state.SkipWithError("the answer was not replayed");
  };
  explain(50'000);  // warm the page cache and the runner binary
  std::vector<double> ms;
  int i = 0;
  for (auto _ : state) {
    // Blocks of 64 bars: 1,571 of them, visited 613 apart (coprime) so none is asked twice.
    const int bar = cached ? 50'000 : static_cast<int>((++i * 613L * 64) % 100'000);
    auto t0 = Clock::now();
    explain(bar);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  state.counters["p50_ms"] = Percentile(ms, 0.50);
  state.counters["p99_ms"] = Percentile(ms, 0.99);
}
BENCHMARK(BM_ExplainReplayed)
    ->ArgName("cached")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(60)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace backtest

BENCHMARK_MAIN();
