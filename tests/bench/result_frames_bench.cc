// What a runner spends on a finished run besides the bar loop: converting the result to its wire
// form (runner::ToResultFrames, and serializing it as the runner's writer does) and hashing the
// rest of its digest (engine::ResultDigester::Finish, after a Begin). On a 100k-bar sma_cross run
// (fast 10, slow 30) of the sample data: ~3,800 trades, ~7,600 markers, the equity as pieces.
//
//   build/bin/result_frames_bench
//   build/bin/result_frames_bench --benchmark_filter=Digest --benchmark_repetitions=9
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backtest/runner/v1/runner.pb.h"
#include "bench/bench_data.h"
#include "server/engine/data/dataset_hash.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "server/engine/util/sha256.h"
#include "server/runner/result_conversion.h"

namespace backtest::bench {
namespace {

constexpr int64_t kBars = 100'000;

// The run every case converts or hashes, made once (the bar loop is not what is measured).
const engine::RunResult& Result() {
  static const engine::RunResult* result = [] {
    const engine::RunConfig config = BenchConfig("sma_cross", false, 1);
    const engine::MarketData data = SampleMarketData(config, kBars);
    engine::RunOptions options;
    options.compute_digest = false;  // the runner's digester computes it (below)
    MemorySinkObserver sink;
    auto r = engine::RunBacktest(config, data, options, sink);
    if (!r.ok()) {
      std::fprintf(stderr, "run failed: %s\n", std::string(r.status().message()).c_str());
      std::abort();
    }
    return new engine::RunResult(*std::move(r));
  }();
  return *result;
}

void AddCounters(benchmark::State& state) {
  const engine::RunResult& r = Result();
  state.counters["trades"] = static_cast<double>(r.trades.size());
  state.counters["markers"] = static_cast<double>(r.markers.size());
  state.counters["equity_points"] = static_cast<double>(r.equity.size());
}

// known: the server has the run's dataset (what a job on stored data sees), so the candles are
// referred to by their hash; else they go out in a dataset frame. cold: every iteration on
// memory the kernel has to fault in, as a runner's one conversion is.
void ResultFrames(benchmark::State& state, bool known, bool serialize, bool cold) {
  const engine::RunResult& r = Result();
  google::protobuf::RepeatedPtrField<runner::v1::KnownDataset> datasets_known;
  std::vector<std::string> hashes;
  if (known) {
    hashes.push_back(engine::DatasetHash(r.symbols[0].candles()));
    runner::v1::KnownDataset* k = datasets_known.Add();
    k->set_symbol(r.symbols[0].symbol);
    k->set_hash(hashes[0]);
  }
  std::string bytes;
  for (auto _ : state) {
    if (cold) {
      // As in a runner, which converts one result in a fresh process: the memory freed by the
      // last iteration goes back to the kernel, and this one's first touches fault pages in.
      state.PauseTiming();
      malloc_trim(0);
      state.ResumeTiming();
    }
    runner::v1::RunnerEvent e;
    std::vector<runner::v1::RunnerEvent> datasets;
    runner::ToResultFrames(r, datasets_known, &datasets, e.mutable_result(), hashes);
    if (serialize) {
      bytes.clear();
      for (const runner::v1::RunnerEvent& d : datasets) d.AppendToString(&bytes);
      e.AppendToString(&bytes);
    }
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(bytes);
  }
  AddCounters(state);
  // The bytes' hash, to compare two builds' output on this run at a glance.
  if (serialize) {
    engine::Sha256 h;
    h.Update(bytes);
    state.SetLabel(h.HexDigest().substr(0, 16));
  }
}

// Finish after a Begin: the Begin's state (the candles' hash) is restored outside the timing's
// weight (BeginFrom copies 112 bytes).
void DigestFinish(benchmark::State& state) {
  const engine::RunResult& r = Result();
  engine::ResultDigester head;
  head.Begin(r);
  const std::string begun = head.HeadState();
  std::string digest;
  for (auto _ : state) {
    engine::ResultDigester d;
    d.BeginFrom(begun);
    digest = d.Finish(r);
    benchmark::DoNotOptimize(digest);
  }
  AddCounters(state);
  state.SetLabel(digest.substr(0, 16));
}

// SHA-256 alone over as many bytes as DigestFinish hashes (markers, trades, equity: the stats
// and reasons are a few hundred bytes more), fed in blocks of the hash's gathering buffer: the
// floor that DigestFinish's own work adds to.
void Sha256Floor(benchmark::State& state) {
  const engine::RunResult& r = Result();
  size_t bytes = 8 + 16 * r.equity.size();
  for (const engine::Marker& m : r.markers) {
    bytes += 7 * 8 + m.symbol.size() + m.reason.size() + engine::OrderSideName(m.side).size() +
             engine::MarkerKindName(m.kind).size();
  }
  for (const engine::Trade& t : r.trades) {
    bytes += 17 * 8 + t.symbol.size() + engine::SideName(t.side).size() +
             engine::ExitReasonName(t.exit_reason).size();
  }
  const std::string block(engine::Sha256::kChunk, 'x');
  std::string digest;
  for (auto _ : state) {
    engine::Sha256 h;
    for (size_t done = 0; done < bytes; done += block.size()) {
      h.Update(block.data(), std::min(block.size(), bytes - done));
    }
    digest = h.HexDigest();
    benchmark::DoNotOptimize(digest);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}

BENCHMARK_CAPTURE(ResultFrames, known_dataset, true, false, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ResultFrames, known_dataset_serialized, true, true, false)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ResultFrames, known_dataset_serialized_cold, true, true, true)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(ResultFrames, new_dataset_serialized, false, true, false)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(DigestFinish)->Unit(benchmark::kMicrosecond);
BENCHMARK(Sha256Floor)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace backtest::bench

BENCHMARK_MAIN();
