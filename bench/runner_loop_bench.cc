// The run of a 100k-bar sma_cross job as backtest-runner runs it: engine::RunBacktest on a
// file:// CSV read back from the bar cache, with the runner's options (runner::OptionsForSpec),
// its observer (runner::PipeObserver: log lines and progress gathered into frames by an
// EventWriter) and, in the fresh-process case, the idle runner's Prefetch before the job.
// Timed as the runner's timeline probes time it: from "data loaded" (RunOptions::on_start) to
// RunBacktest's return. engine_bench's sma_cross case runs sample bars with a null observer.
//
//   build/bin/runner_loop_bench                              both cases
//   build/bin/runner_loop_bench --benchmark_filter=in_process
//
// Cases:
//   runner_loop/in_process      every run in this process (code, heap and caches warm);
//   runner_loop/fresh_process   every run in a process of its own (this binary, exec'd with
//                               --child), after runner::Prefetch as an idle runner does it: a
//                               job's first touch of the code and of its memory is timed too.
// The label gives the result digest and a hash of the event bytes the observer wrote (log lines
// and progress, numbered): two builds that run the same must show the same label.
//
// The CSV is tests/testing/minute_walk.h's random walk of one-minute bars, the kind of series
// bench/compare_backtrader's make_csv writes. It and the bar cache live in
// $TMPDIR/runner_loop_bench; BENCH_CSV=path runs on another file (e.g.
// build/compare-data/bars_100000.csv) instead.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/data/bar_cache.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "server/engine/util/sha256.h"
#include "server/runner/runner_session.h"
#include "tests/testing/minute_walk.h"

extern char** environ;

namespace backtest::bench {
namespace {

namespace v1 = runner::v1;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBars = 100'000;
constexpr char kSymbol[] = "BARS100000";

// The walk of tests/testing/minute_walk.h as a CSV, prices written exactly (4 decimals).
void WriteCsv(const std::string& path, int64_t bars) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  std::fputs("time,open,high,low,close,volume\n", f);
  auto price = [](int64_t ticks) {
    return absl::StrFormat("%d.%04d", ticks / testing::kTicksPerUnit, ticks % testing::kTicksPerUnit);
  };
  testing::ForEachMinuteBar(bars, 20261121 + static_cast<uint64_t>(bars), [&](const testing::TickBar& b) {
    std::fprintf(f, "%lld,%s,%s,%s,%s,%lld\n", static_cast<long long>(b.time), price(b.open).c_str(),
                 price(b.high).c_str(), price(b.low).c_str(), price(b.close).c_str(),
                 static_cast<long long>(b.volume));
  });
  std::fclose(f);
  std::filesystem::rename(tmp, path);
}

// The job's spec, as the server sends it for the 100k-bar CSV job (bar cache on, policy enforced).
v1::RunSpec JobSpec(const std::string& dir) {
  v1::RunSpec spec;
  spec.set_protocol_version(runner::kRunnerProtocolVersion);
  const std::string data = dir + "/data";
  const std::map<std::string, std::string> params = {
      {"strategy", "sma_cross"},      {"symbols", kSymbol},           {"timeframe", "M1"},
      {"start_date", "2000-01-01"},   {"end_date", "2100-01-01"},     {"data_source", "file://" + data},
      {"fast_period", "10"},          {"slow_period", "30"},          {"size", "1"},
      {"initial_equity", "10000"}};
  auto validated = engine::ValidateParams(params, 1'700'000'000);
  if (!validated.ok()) {
    std::fprintf(stderr, "runner_loop_bench: %s\n", std::string(validated.status().message()).c_str());
    std::exit(1);
  }
  for (const auto& [name, value] : *validated) (*spec.mutable_params())[name] = value;
  spec.mutable_bar_cache()->set_dir(dir + "/bar-cache");
  spec.mutable_bar_cache()->set_max_bytes(int64_t{1} << 30);
  spec.mutable_data_policy()->add_file_roots(data);
  return spec;
}

// The bench's directory with its CSV (written once; BENCH_CSV's copied) and its bar cache entry.
std::string Prepare() {
  const std::string dir =
      (std::filesystem::temp_directory_path() / "runner_loop_bench").string();
  const std::string csv = dir + "/data/" + kSymbol + "_M1.csv";
  std::filesystem::create_directories(dir + "/data");
  if (const char* from = std::getenv("BENCH_CSV"); from != nullptr) {
    std::filesystem::copy_file(from, csv, std::filesystem::copy_options::update_existing);
  } else if (!std::filesystem::exists(csv)) {
    WriteCsv(csv, kBars);
  }
  // The bar cache stores no CSV changed less than two seconds before it was parsed.
  struct stat st = {};
  ::stat(csv.c_str(), &st);
  const auto changed = std::chrono::system_clock::time_point(
      std::chrono::seconds(st.st_ctim.tv_sec) + std::chrono::nanoseconds(st.st_ctim.tv_nsec));
  const auto age = std::chrono::system_clock::now() - changed;
  if (age < std::chrono::milliseconds(2500)) std::this_thread::sleep_for(std::chrono::milliseconds(2500) - age);
  return dir;
}

// What one run gave: the timed part and what identifies its output.
struct RunOutcome {
  int64_t ns = 0;
  std::string digest;       // engine::ResultDigest of the result
  std::string events_hash;  // SHA-256 of the event frames the observer wrote
  int64_t trades = 0;
};

// One job's run as RunJob runs it: the observer's frames go to a memory file (hashed afterwards),
// on_start does what the runner's does once the digest's head is kept (its state read back from
// the bar cache), and the time runs from on_start to RunBacktest's return.
RunOutcome RunOnce(const v1::RunSpec& spec, const engine::ParamValues& params) {
  engine::RunOptions options;
  if (!runner::OptionsForSpec(spec, &options).ok()) std::abort();
  const int events_fd = memfd_create("runner_loop_bench_events", MFD_CLOEXEC);
  runner::EventWriter writer(events_fd);
  runner::PipeObserver observer(writer);
  Clock::time_point started;
  engine::ResultDigester digester;
  options.on_start = [&](const engine::RunResult& r) {
    started = Clock::now();
    const std::string key = engine::ResultDigester::HeadKey(r);
    const auto state = key.empty() ? std::nullopt : options.bar_cache->FindNote(key);
    if (!state || !digester.BeginFrom(*state)) {
      digester.Begin(r);
      if (!key.empty()) options.bar_cache->StoreNote(key, digester.HeadState());
    }
  };
  auto result = engine::RunBacktest(params, options, observer);
  const auto ended = Clock::now();
  if (!result.ok()) {
    std::fprintf(stderr, "runner_loop_bench: %s\n", result.status().ToString().c_str());
    std::exit(1);
  }
  writer.Flush();
  RunOutcome out;
  out.ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ended - started).count();
  out.digest = digester.Finish(*result);
  out.trades = static_cast<int64_t>(result->trades.size());
  const off_t size = ::lseek(events_fd, 0, SEEK_END);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (::pread(events_fd, bytes.data(), bytes.size(), 0) != size) std::abort();
  ::close(events_fd);
  engine::Sha256 hash;
  hash.Update(bytes.data(), bytes.size());
  out.events_hash = hash.HexDigest();
  return out;
}

void SetOutcome(benchmark::State& state, const RunOutcome& last) {
  state.SetLabel(absl::StrCat("digest ", last.digest.substr(0, 12), " events ",
                              last.events_hash.substr(0, 12), " trades ", last.trades));
  state.counters["bars_per_second"] = benchmark::Counter(
      static_cast<double>(kBars) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void InProcess(benchmark::State& state) {
  const std::string dir = Prepare();
  const v1::RunSpec spec = JobSpec(dir);
  const engine::ParamValues params(spec.params().begin(), spec.params().end());
  runner::Prefetch(spec);  // as the idle runner before its job: the heap readied
  RunOutcome last = RunOnce(spec, params);  // parses the CSV into the bar cache, keeps the head
  for (auto _ : state) {
    last = RunOnce(spec, params);
    state.SetIterationTime(static_cast<double>(last.ns) * 1e-9);
  }
  SetOutcome(state, last);
}

std::string self_path;

// Runs this binary with --child DIR and reads back the line it prints.
RunOutcome RunChild(const std::string& dir) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) std::abort();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> args = {self_path, "--child", dir};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Symbols bound at start (the runner is linked statically: nothing is bound lazily in a job).
  std::string bind_now = "LD_BIND_NOW=1";
  std::vector<char*> envp = {bind_now.data()};
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, self_path.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) std::abort();
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunOutcome r;
  char digest[65] = {}, events[65] = {};
  long long ns = 0, trades = 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(text.c_str(), "%lld %64s %64s %lld", &ns, digest, events, &trades) != 4) {
    std::fprintf(stderr, "runner_loop_bench: the child failed: %s\n", text.c_str());
    std::exit(1);
  }
  r.ns = ns;
  r.digest = digest;
  r.events_hash = events;
  r.trades = trades;
  return r;
}

void FreshProcess(benchmark::State& state) {
  const std::string dir = Prepare();
  RunOutcome last = RunChild(dir);  // the bar cache entry and the digest's head, once
  for (auto _ : state) {
    last = RunChild(dir);
    state.SetIterationTime(static_cast<double>(last.ns) * 1e-9);
  }
  SetOutcome(state, last);
}

// --child DIR: what a warm runner does for one job (Prefetch while idle, then the run); prints
// the run's time and outcome.
int Child(const std::string& dir) {
  const v1::RunSpec spec = JobSpec(dir);
  runner::Prefetch(spec);
  const RunOutcome r = RunOnce(spec, engine::ParamValues(spec.params().begin(), spec.params().end()));
  std::printf("%lld %s %s %lld\n", static_cast<long long>(r.ns), r.digest.c_str(),
              r.events_hash.c_str(), static_cast<long long>(r.trades));
  std::fflush(stdout);
  ::_exit(0);  // as the runner: no teardown
}

}  // namespace
}  // namespace backtest::bench

int main(int argc, char** argv) {
  namespace bench = backtest::bench;
  if (argc == 3 && std::strcmp(argv[1], "--child") == 0) return bench::Child(argv[2]);
  bench::self_path = std::filesystem::canonical("/proc/self/exe").string();
  benchmark::RegisterBenchmark("runner_loop/in_process", bench::InProcess)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0);
  benchmark::RegisterBenchmark("runner_loop/fresh_process", bench::FreshProcess)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(60);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
