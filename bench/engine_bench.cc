// Engine benchmarks, declared as a table and registered by one runner.
//
//   build/bin/engine_bench                       all cases
//   build/bin/engine_bench --benchmark_filter=sma_cross
//
// Counters: bars_per_second (or rows_per_second for CSV ingest), trace_rows.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "bench_data.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/engine.h"

namespace backtest::bench {
namespace {

struct RunCase {
  const char* name;
  const char* strategy;
  bool trace;
  int64_t sampling;
  int64_t bars;
};

// The engine's speed targets (docs/benchmarks.md): sma_cross ≥ 50M bars/s, sr_breakout ≥ 10M
// bars/s, sr_breakout traced at sampling 1 ≥ 1M bars/s.
constexpr RunCase kRunCases[] = {
    {"sma_cross/trace_off", "sma_cross", false, 1, 1'000'000},
    {"sr_breakout/trace_off", "sr_breakout", false, 1, 1'000'000},
    {"sr_breakout/trace_on_sampling_1", "sr_breakout", true, 1, 1'000'000},
    {"sr_breakout/trace_on_sampling_10", "sr_breakout", true, 10, 1'000'000},
};

void RunBacktestCase(benchmark::State& state, const RunCase& c) {
  engine::RunConfig config = BenchConfig(c.strategy, c.trace, c.sampling);
  engine::MarketData data = SampleMarketData(config, c.bars);
  engine::RunOptions options;
  options.compute_digest = false;
  options.trace_max_rows = -1;  // no cut-off: measure the full trace cost
  int64_t rows = 0;
  for (auto _ : state) {
    MemorySinkObserver sink;
    auto result = engine::RunBacktest(config, data, options, sink);
    if (!result.ok()) {
      state.SkipWithError(std::string(result.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(result->stats.equity_final);
    rows = sink.rows;
  }
  const auto bars = static_cast<double>(c.bars);
  state.counters["bars_per_second"] =
      benchmark::Counter(bars * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["trace_rows"] = static_cast<double>(rows);
}

void CsvIngest(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const std::string path =
      (std::filesystem::temp_directory_path() / "engine_bench_ingest.csv").string();
  {
    engine::RunConfig config = BenchConfig("sma_cross", false, 1);
    engine::MarketData data = SampleMarketData(config, rows);
    const engine::BarSeries& b = *data.symbols[0].bars;
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("time,open,high,low,close,volume\n", f);
    for (size_t i = 0; i < b.size(); ++i) {
      std::fprintf(f, "%lld,%.4f,%.4f,%.4f,%.4f,%.0f\n", static_cast<long long>(b.time[i]),
                   b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i]);
    }
    std::fclose(f);
  }
  (void)engine::ReadCsvFile(path);  // warm the page cache
  for (auto _ : state) {
    auto bars = engine::ReadCsvFile(path);
    if (!bars.ok()) {
      state.SkipWithError(std::string(bars.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(bars->close.back());
  }
  state.counters["rows_per_second"] = benchmark::Counter(
      static_cast<double>(rows) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace backtest::bench

int main(int argc, char** argv) {
  for (const auto& c : backtest::bench::kRunCases) {
    benchmark::RegisterBenchmark(c.name, backtest::bench::RunBacktestCase, c)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0);
  }
  benchmark::RegisterBenchmark("csv_ingest", backtest::bench::CsvIngest)
      ->Arg(1'000'000)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
