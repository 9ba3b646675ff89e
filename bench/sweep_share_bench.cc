// sweep-share-bench: the sweep floors' two grids run on the engine as a sweep's runner runs
// them (the data loaded once, a thread per core, no markers, trace or digest), with the indicator
// series shared between combinations (engine::SharedSeries) and without, alternated A B A B;
// wall times and whether every combination's stats are the same both ways (docs/benchmarks.md,
// "Sweeps: indicator work shared").
//
//   build/bin/sweep-share-bench [--rounds 3] [--bars 100000]
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_data.h"
#include "server/engine/engine.h"
#include "server/engine/shared_series.h"

namespace {

namespace engine = backtest::engine;

struct Grid {
  std::string strategy;
  std::vector<engine::RunConfig> configs;
};

// The stats' bits, for "the same both ways".
uint64_t StatsBits(const engine::Stats& s) {
  uint64_t h = 1469598103934665603ull;
  for (double v : {s.equity_final, s.sharpe, s.sortino, s.max_drawdown_pct, s.return_ann_pct,
                   s.volatility_ann_pct, s.profit_factor, s.sqn, s.exposure_pct}) {
    h = (h ^ std::bit_cast<uint64_t>(v)) * 1099511628211ull;
  }
  return (h ^ static_cast<uint64_t>(s.trades)) * 1099511628211ull;
}

// Runs every config on `data` with `threads` threads; the wall seconds, each run's stats bits.
double RunGrid(const Grid& grid, const engine::MarketData& data, bool share, int threads,
               std::vector<uint64_t>* bits) {
  const auto start = std::chrono::steady_clock::now();
  engine::SharedSeries shared(data);
  engine::RunOptions options;
  options.markers = false;
  options.compute_digest = false;
  options.max_log_lines = 0;
  if (share) options.shared_series = &shared;
  bits->assign(grid.configs.size(), 0);
  std::atomic<size_t> next{0};
  auto work = [&] {
    engine::NullObserver quiet;
    for (size_t k; (k = next.fetch_add(1)) < grid.configs.size();) {
      auto result = engine::RunBacktest(grid.configs[k], data, options, quiet);
      if (!result.ok()) {
        std::fprintf(stderr, "%s\n", std::string(result.status().message()).c_str());
        std::exit(1);
      }
      (*bits)[k] = StatsBits(result->stats);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

engine::RunConfig With(engine::RunConfig c, const std::map<std::string, double>& values) {
  for (const auto& [name, v] : values) {
    if (name == "fast_period") c.fast_period = static_cast<int64_t>(v);
    if (name == "slow_period") c.slow_period = static_cast<int64_t>(v);
    if (name == "breakout_lookback_period") c.breakout_lookback_period = static_cast<int64_t>(v);
    if (name == "breakout_min_strength_atr") c.breakout_min_strength_atr = v;
    if (name == "rr") c.rr = v;
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  int64_t bars = 100'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--bars") == 0) bars = std::atoll(argv[i + 1]);
  }
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The floors' grids (bench/sweep_bench): 10,000 sma_cross, 1,000 sr_breakout combinations.
  Grid sma{"sma_cross", {}}, sr{"sr_breakout", {}};
  const engine::RunConfig sma_base = backtest::bench::BenchConfig("sma_cross", false, 1);
  for (int f = 5; f <= 104; ++f) {
    for (int s = 110; s <= 209; ++s) {
      sma.configs.push_back(With(sma_base, {{"fast_period", f}, {"slow_period", s}}));
    }
  }
  const engine::RunConfig sr_base = backtest::bench::BenchConfig("sr_breakout", false, 1);
  for (int l = 20; l <= 110; l += 10) {
    for (int m = 1; m <= 10; ++m) {
      for (int r = 0; r < 10; ++r) {
        sr.configs.push_back(With(sr_base, {{"breakout_lookback_period", l},
                                            {"breakout_min_strength_atr", m / 10.0},
                                            {"rr", 1 + 0.25 * r}}));
      }
    }
  }
  bool same = true;
  for (Grid* grid : {&sma, &sr}) {
    const engine::MarketData data =
        backtest::bench::SampleMarketData(grid->configs[0], bars);
    std::vector<double> own, shared;
    std::vector<uint64_t> own_bits, shared_bits;
    for (int r = 0; r < rounds; ++r) {
      own.push_back(RunGrid(*grid, data, false, threads, &own_bits));
      shared.push_back(RunGrid(*grid, data, true, threads, &shared_bits));
      same = same && own_bits == shared_bits;
    }
    std::string a, b;
    for (double x : own) absl::StrAppend(&a, a.empty() ? "" : ", ", absl::StrFormat("%.2f", x));
    for (double x : shared) absl::StrAppend(&b, b.empty() ? "" : ", ", absl::StrFormat("%.2f", x));
    std::sort(own.begin(), own.end());
    std::sort(shared.begin(), shared.end());
    const double mo = own[own.size() / 2], ms = shared[shared.size() / 2];
    std::printf("%s: %zu combinations on %lld bars, %d threads: each computing its own %s s, "
                "sharing %s s (medians %.2f, %.2f: %+.0f%%)\n",
                grid->strategy.c_str(), grid->configs.size(), static_cast<long long>(bars),
                threads, a.c_str(), b.c_str(), mo, ms, (ms / mo - 1) * 100);
    std::fflush(stdout);
  }
  std::printf("stats the same both ways: %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}
