#include <cmath>
#include <deque>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/indicators/atr.h"
#include "server/engine/indicators/daily_closes.h"
#include "server/engine/indicators/ema.h"
#include "server/engine/indicators/rolling_extreme.h"
#include "server/engine/indicators/rsi.h"
#include "server/engine/indicators/sma.h"

namespace backtest::engine {
namespace {

std::vector<double> RandomWalk(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0, 0.5);
  std::vector<double> out;
  double x = 100;
  for (int i = 0; i < n; ++i) {
    x += step(rng);
    out.push_back(std::round(x * 1e5) / 1e5);
  }
  return out;
}

// Python's math.fsum (Shewchuk's exact partials, then a correctly rounded total): the reference
// backtrader's SMA uses.
double FSum(const std::vector<double>& xs) {
  std::vector<double> partials;
  for (double x : xs) {
    size_t i = 0;
    for (double y : partials) {
      if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
      const double hi = x + y;
      const double lo = y - (hi - x);
      if (lo != 0.0) partials[i++] = lo;
      x = hi;
    }
    partials.resize(i);
    partials.push_back(x);
  }
  // Sum the partials from the top, with Python's half-way correction.
  if (partials.empty()) return 0.0;
  size_t n = partials.size();
  double hi = partials[--n], lo = 0;
  while (n > 0) {
    const double x = hi, y = partials[--n];
    hi = x + y;
    const double yr = hi - x;
    lo = y - yr;
    if (lo != 0.0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const double y = lo * 2, x = hi + y;
    if (y == x - hi) hi = x;
  }
  return hi;
}

TEST(SmaTest, HandComputedValues) {
  Sma sma(3);
  sma.Update(1);
  sma.Update(2);
  EXPECT_FALSE(sma.ready());
  sma.Update(3);
  ASSERT_TRUE(sma.ready());
  EXPECT_DOUBLE_EQ(sma.Value(), 2.0);
  sma.Update(10);
  EXPECT_DOUBLE_EQ(sma.Value(), 5.0);
  sma.Reset();
  EXPECT_FALSE(sma.ready());
}

TEST(SmaTest, ValueIsTheCorrectlyRoundedMeanOfTheWindow) {
  // 0.1 + 0.2 + 0.3 summed naively is 0.6000000000000001; the exact sum rounds to 0.6.
  Sma sma(3);
  for (double x : {0.1, 0.2, 0.3}) sma.Update(x);
  EXPECT_EQ(sma.Value(), 0.6 / 3);
  const std::vector<double> xs = RandomWalk(20000, 7);
  Sma s30(30);
  for (size_t i = 0; i < xs.size(); ++i) {
    s30.Update(xs[i]);
    if (i + 1 < 30) continue;
    const std::vector<double> window(xs.begin() + static_cast<long>(i) - 29,
                                     xs.begin() + static_cast<long>(i) + 1);
    ASSERT_EQ(s30.Value(), FSum(window) / 30.0) << i;
    ASSERT_NEAR(s30.ApproxValue(), s30.Value(), 1e-9);
  }
}

TEST(EmaTest, SeededWithSmaThenExponential) {
  Ema ema(3);
  ema.Update(1);
  ema.Update(2);
  EXPECT_FALSE(ema.ready());
  ema.Update(6);
  ASSERT_TRUE(ema.ready());
  EXPECT_DOUBLE_EQ(ema.value(), 3.0);  // (1+2+6)/3
  ema.Update(7);                       // alpha = 0.5
  EXPECT_DOUBLE_EQ(ema.value(), 5.0);
}

TEST(EmaTest, MatchesNaiveReference) {
  const std::vector<double> xs = RandomWalk(500, 3);
  Ema ema(40);
  double ref = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    ema.Update(xs[i]);
    if (i == 39) {
      ref = 0;
      for (int k = 0; k < 40; ++k) ref += xs[k];
      ref /= 40;
    } else if (i > 39) {
      ref = 2.0 / 41 * xs[i] + (1 - 2.0 / 41) * ref;
    }
    EXPECT_EQ(ema.ready(), i >= 39);
    if (i >= 39) {
      ASSERT_NEAR(ema.value(), ref, 1e-9);
    }
  }
}

TEST(AtrTest, FirstValueIsMeanOfFourteenTrueRanges) {
  Atr atr(14);
  // Bar 0: no TR. Bars 1..14: TR = 2 each (high-low 2, no gaps).
  for (int i = 0; i <= 14; ++i) {
    EXPECT_FALSE(atr.ready());
    atr.Update(11, 9, 10);
  }
  ASSERT_TRUE(atr.ready());
  EXPECT_DOUBLE_EQ(atr.value(), 2.0);
  // A gap bar: prev close 10, high 20, low 19 → TR = max(1, 10, 9) = 10.
  atr.Update(20, 19, 19.5);
  EXPECT_DOUBLE_EQ(atr.value(), (13 * 2.0 + 10) / 14);
}

TEST(AtrTest, MatchesNaiveReference) {
  const std::vector<double> c = RandomWalk(300, 11);
  Atr atr(14);
  std::vector<double> tr;
  double ref = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    double h = c[i] + 0.3 + 0.01 * (i % 7), l = c[i] - 0.2 - 0.01 * (i % 5);
    atr.Update(h, l, c[i]);
    if (i > 0) tr.push_back(std::max({h - l, std::fabs(h - c[i - 1]), std::fabs(l - c[i - 1])}));
    if (i == 14) {
      ref = 0;
      for (double t : tr) ref += t;
      ref /= 14;
    } else if (i > 14) {
      ref = (13 * ref + tr.back()) / 14;
    }
    EXPECT_EQ(atr.ready(), i >= 14);
    if (i >= 14) {
      ASSERT_NEAR(atr.value(), ref, 1e-12);
    }
  }
}

TEST(RsiTest, WilderHandComputed) {
  Rsi rsi(14);
  // 15 closes rising by 1: average loss 0 → 100.
  for (int i = 0; i < 15; ++i) {
    EXPECT_FALSE(rsi.ready());
    rsi.Update(100 + i);
  }
  ASSERT_TRUE(rsi.ready());
  EXPECT_DOUBLE_EQ(rsi.value(), 100.0);
  // One fall of 14: avg gain = 13/14, avg loss = 1 → RSI = 100 - 100/(1 + 13/14).
  rsi.Update(114 - 14);
  EXPECT_NEAR(rsi.value(), 100 - 100 / (1 + (13.0 / 14) / 1.0), 1e-12);
}

TEST(RsiTest, FlatSeriesIsFifty) {
  Rsi rsi(14);
  for (int i = 0; i < 20; ++i) rsi.Update(5);
  EXPECT_DOUBLE_EQ(rsi.value(), 50.0);
}

TEST(RsiTest, MatchesNaiveReference) {
  const std::vector<double> xs = RandomWalk(200, 5);
  Rsi rsi(14);
  double ag = 0, al = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    rsi.Update(xs[i]);
    if (i == 0) continue;
    double ch = xs[i] - xs[i - 1];
    double g = std::max(ch, 0.0), l = std::max(-ch, 0.0);
    if (i <= 14) {
      ag += g / 14;
      al += l / 14;
    } else {
      ag = (13 * ag + g) / 14;
      al = (13 * al + l) / 14;
    }
    if (i >= 14) {
      ASSERT_NEAR(rsi.value(), 100 - 100 / (1 + ag / al), 1e-9) << i;
    }
  }
}

TEST(RollingExtremeTest, MatchesNaiveWindowAndEarliestIndex) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> d(0, 9);  // many ties
  const int window = 7;
  RollingHighest hi(window);
  RollingLowest lo(window);
  std::vector<double> xs;
  for (int i = 0; i < 1000; ++i) {
    if (i >= window) {
      hi.Evict(i - window);
      lo.Evict(i - window);
      double mx = -1, mn = 100;
      int imx = -1, imn = -1;
      for (int k = i - window; k < i; ++k) {
        if (xs[k] > mx) mx = xs[k], imx = k;
        if (xs[k] < mn) mn = xs[k], imn = k;
      }
      ASSERT_EQ(hi.Value(), mx);
      ASSERT_EQ(hi.Index(), imx);
      ASSERT_EQ(lo.Value(), mn);
      ASSERT_EQ(lo.Index(), imn);
    }
    xs.push_back(d(rng));
    hi.Push(i, xs.back());
    lo.Push(i, xs.back());
  }
}

TEST(DailyClosesTest, ADayCountsOnceALaterDayArrives) {
  DailyCloses days;
  double close = 0;
  const int64_t d0 = 1'600'041'600;  // 2020-09-14 00:00 UTC
  EXPECT_FALSE(days.Update(d0 + 3600, 1.0, &close));
  EXPECT_FALSE(days.Update(d0 + 7200, 2.0, &close));
  EXPECT_FALSE(days.Update(d0 + 86399, 3.0, &close));
  ASSERT_TRUE(days.Update(d0 + 86400, 4.0, &close));  // next day's first bar completes day 0
  EXPECT_EQ(close, 3.0);
  // A gap of several days completes only the last day seen.
  ASSERT_TRUE(days.Update(d0 + 5 * 86400, 5.0, &close));
  EXPECT_EQ(close, 4.0);
}

TEST(BlockExtremeTest, EqualsTheMonotonicDequeWithTies) {
  // Coarse values make many ties: the index must be the earliest holding the extreme.
  uint64_t state = 99;
  for (int64_t window : {1, 2, 3, 7, 20, 64}) {
    RollingHighest deque_hi(window);
    RollingLowest deque_lo(window);
    BlockHighest block_hi(window);
    BlockLowest block_lo(window);
    for (int64_t i = 0; i < 3000; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const double v = static_cast<double>((state >> 33) % 9);
      if (i >= window) {
        double hv, lv;
        int64_t hi, li;
        block_hi.Get(&hv, &hi);
        block_lo.Get(&lv, &li);
        ASSERT_EQ(hv, deque_hi.Value()) << window << " " << i;
        ASSERT_EQ(hi, deque_hi.Index()) << window << " " << i;
        ASSERT_EQ(lv, deque_lo.Value()) << window << " " << i;
        ASSERT_EQ(li, deque_lo.Index()) << window << " " << i;
      }
      deque_hi.Push(i, v);
      deque_lo.Push(i, v);
      block_hi.Push(v);
      block_lo.Push(v);
    }
  }
}

}  // namespace
}  // namespace backtest::engine
