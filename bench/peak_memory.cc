// Peak memory of a 1M-bar sr_breakout run: generates the bars, runs, prints the peak RSS
// (getrusage ru_maxrss) as JSON. Target: ≤ 150 MB.
//
//   build/bin/engine-peak-memory [bars] [trace: 0|1]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

#include "bench_data.h"
#include "server/engine/engine.h"

int main(int argc, char** argv) {
  const int64_t bars = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  const bool trace = argc > 2 && argv[2][0] == '1';
  auto config = backtest::bench::BenchConfig("sr_breakout", trace, 1);
  backtest::bench::MemorySinkObserver sink;
  backtest::engine::RunOptions options;
  auto result = [&] {
    auto data = backtest::bench::SampleMarketData(config, bars);
    return backtest::engine::RunBacktest(config, data, options, sink);
  }();
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"bars\": %lld, \"trace\": %s, \"trades\": %lld, \"trace_rows\": %lld, "
      "\"peak_rss_mb\": %.1f}\n",
      static_cast<long long>(bars), trace ? "true" : "false",
      static_cast<long long>(result->stats.trades), static_cast<long long>(sink.rows),
      static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
