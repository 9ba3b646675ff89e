// A deterministic random walk of one-minute bars, the kind of series bench/compare_backtrader's
// make_csv writes for the service's 100k-bar job (another generator, the same density of SMA
// crosses: ~3,930 sma_cross trades per 100k bars, ~3,880 on the sample data): prices on
// a 0.0001 grid, close = open + N(0, 0.05), wicks |N(0, 0.03)| beyond, epoch-second times from
// 2020-01-01. Shared by a test that pins such a run and by bench/runner_loop_bench.
#ifndef BACKTEST_TESTS_TESTING_MINUTE_WALK_H_
#define BACKTEST_TESTS_TESTING_MINUTE_WALK_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "server/engine/data/bar_series.h"

namespace backtest::testing {

// One bar, prices in ticks of 0.0001 (a CSV writes them exactly as tick / 10000 with 4 decimals).
struct TickBar {
  int64_t time;
  int64_t open, high, low, close;
  int64_t volume;
};

inline constexpr int64_t kTicksPerUnit = 10'000;

// Calls f(TickBar) for each of `bars` bars of the walk of `seed`.
template <typename F>
void ForEachMinuteBar(int64_t bars, uint64_t seed, F&& f) {
  uint64_t state = seed;
  auto next = [&state] {  // splitmix64: the same numbers on every platform
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  auto uniform = [&next] { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; };
  auto gauss = [&uniform](double sigma) {  // Box-Muller, one of the pair
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    return sigma * r * std::cos(2 * std::numbers::pi * uniform());
  };
  auto ticks = [](double units) { return static_cast<int64_t>(units * kTicksPerUnit); };
  int64_t price = 100 * kTicksPerUnit;
  int64_t t = 1'577'836'800;  // 2020-01-01
  for (int64_t i = 0; i < bars; ++i, t += 60) {
    TickBar b;
    b.time = t;
    b.open = price;
    b.close = std::max(kTicksPerUnit, b.open + ticks(gauss(0.05)));
    b.high = std::max(b.open, b.close) + ticks(std::fabs(gauss(0.03)));
    b.low = std::max<int64_t>(1, std::min(b.open, b.close) - ticks(std::fabs(gauss(0.03))));
    b.volume = 1 + static_cast<int64_t>(next() % 1000);
    f(b);
    price = b.close;
  }
}

// The walk as bars (prices tick / 10000: the doubles a CSV of them parses to).
inline engine::BarSeries MinuteWalk(int64_t bars, uint64_t seed) {
  engine::BarSeries s;
  auto units = [](int64_t ticks) {
    return static_cast<double>(ticks) / static_cast<double>(kTicksPerUnit);
  };
  ForEachMinuteBar(bars, seed, [&](const TickBar& b) {
    s.Append(b.time, units(b.open), units(b.high), units(b.low), units(b.close),
             static_cast<double>(b.volume));
  });
  return s;
}

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_TESTING_MINUTE_WALK_H_
