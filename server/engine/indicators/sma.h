// Simple moving average: the mean of the last `period` values; first value after `period` values.
//
// Two views of the same mean:
//  * ApproxValue(): O(1), from a running double sum (re-synchronised exactly every 65536 updates so
//    it cannot drift); within ~1e-13 relative of the exact mean.
//  * Value(): O(period), the correctly rounded sum of the window divided by the period — what
//    Python's math.fsum(window) / period gives, so results match backtrader's SMA bit for bit. The
//    window is summed exactly as 128-bit fixed-point integers (unit 2^-70); values that do not fit
//    that grid (|x| ≥ 2^40, or finer than 2^-70) fall back to a compensated double sum.
// Callers use ApproxValue() on the hot path and Value() when the last bits matter (near-ties,
// traces). Not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_INDICATORS_SMA_H_
#define BACKTEST_SERVER_ENGINE_INDICATORS_SMA_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace backtest::engine {

class Sma {
 public:
  explicit Sma(int64_t period)
      : period_(period), inv_period_(1.0 / static_cast<double>(period)),
        ring_(static_cast<size_t>(period)) {}

  int64_t period() const { return period_; }
  // Values needed before the first value.
  int64_t warmup() const { return period_; }
  bool ready() const { return count_ >= period_; }

  void Reset() {
    count_ = 0;
    pos_ = 0;
    sum_ = 0;
    wraps_ = 0;
    std::fill(ring_.begin(), ring_.end(), 0.0);
  }

  void Update(double x) {
    const size_t p = pos_;
    sum_ += x - ring_[p];  // the ring starts zeroed, so no branch while filling
    ring_[p] = x;
    ++count_;
    if (p + 1 != ring_.size()) {
      pos_ = p + 1;
      return;
    }
    pos_ = 0;
    // About every 65536 updates, the running sum is replaced by the exact one.
    if (++wraps_ * ring_.size() >= 65536) {
      wraps_ = 0;
      sum_ = ExactSum();
    }
  }

  // Running-sum mean (see class comment). Only when ready().
  double ApproxValue() const { return sum_ * inv_period_; }

  // The exact mean (see class comment). Only when ready().
  double Value() const { return ExactSum() / static_cast<double>(period_); }

  // What Value() gives at every index of a series, in O(1) a value: out[j] is the exact mean of
  // series[j − period + 1 … j] (bit for bit an Sma fed series[0 … j]'s Value()), NaN before the
  // first. The window's exact sum is kept as a running 128-bit fixed-point sum; a series with a
  // value off that grid is summed window by window instead (Value()'s own fallback). For
  // whole-series indicators (the SDK's vectorized mode).
  static void Means(const double* series, size_t n, int64_t period, double* out) {
    const auto p = static_cast<size_t>(period);
    bool exact = true;
    for (size_t j = 0; j < n && exact; ++j) {
      __int128 v;
      exact = ToFixed(series[j], &v);
    }
    if (!exact) {
      for (size_t j = 0; j < n; ++j) out[j] = j + 1 < p ? NAN : WindowMean(series, j + 1, period);
      return;
    }
    // Every value is on the grid: the window's fixed-point values in a ring of `period` (not an
    // array of the whole series: 16 bytes a value of fresh pages).
    std::vector<__int128> ring(p, 0);
    __int128 total = 0;
    for (size_t j = 0, slot = 0; j < n; ++j) {
      __int128 in;
      ToFixed(series[j], &in);
      total += in - ring[slot];
      ring[slot] = in;
      slot = slot + 1 == p ? 0 : slot + 1;
      // SumOf's conversion: int128 → double rounds to nearest even; the scaling is exact (a
      // power of two, and far from the subnormal range for these sums).
      out[j] = j + 1 < p ? NAN : static_cast<double>(total) * 0x1p-70 / static_cast<double>(period);
    }
  }

  // What Value() would give for an Sma(period) fed series[0], series[1], …, series[end − 1]
  // (end ≥ period): the same sum over the same ring order, so bit-identical. Lets block-wise code
  // keep no ring at all and ask for the exact mean only at near-ties.
  [[gnu::noinline]] static double WindowMean(const double* series, size_t end, int64_t period) {
    const auto n = static_cast<size_t>(period);
    const size_t first = end - n;
    // Ring slot k holds the value fed at index j with j % n == k.
    const size_t offset = first % n;
    const double value = SumOf(n, [&](size_t k) {
      return series[first + (k >= offset ? k - offset : k + n - offset)];
    });
    return value / static_cast<double>(period);
  }

 private:
  static constexpr int kFracBits = 70;

  // The correctly rounded sum of the values in the ring (all of them once ready). Out of line: it
  // is off the hot path and would cost the caller registers.
  [[gnu::noinline]] double ExactSum() const {
    const size_t n = count_ < period_ ? static_cast<size_t>(count_) : ring_.size();
    return SumOf(n, [this](size_t k) { return ring_[k]; });
  }

  // The exact sum of at(0) … at(n − 1) (see class comment), or their compensated sum in that
  // order when a value is off the fixed-point grid.
  template <typename At>
  static double SumOf(size_t n, const At& at) {
    __int128 total = 0;
    for (size_t k = 0; k < n; ++k) {
      __int128 v;
      if (!ToFixed(at(k), &v)) return CompensatedSum(n, at);
      total += v;
    }
    // int128 → double rounds to nearest even; scaling by a power of two is exact.
    return std::ldexp(static_cast<double>(total), -kFracBits);
  }

  template <typename At>
  static double CompensatedSum(size_t n, const At& at) {
    double s = 0, c = 0;  // Neumaier
    for (size_t k = 0; k < n; ++k) {
      const double x = at(k), t = s + x;
      c += std::fabs(s) >= std::fabs(x) ? (s - t) + x : (x - t) + s;
      s = t;
    }
    return s + c;
  }

  // x as an integer multiple of 2^-70, when exact and small enough.
  static bool ToFixed(double x, __int128* out) {
    if (x == 0) {
      *out = 0;
      return true;
    }
    if (!(std::fabs(x) < 1099511627776.0)) return false;  // 2^40; also rejects NaN
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const int exp = static_cast<int>((bits >> 52) & 0x7ff);
    if (exp == 0) return false;  // subnormal: far below the grid
    const uint64_t mant = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1} << 52);
    const int shift = exp - 1075 + kFracBits;  // x = mant · 2^(exp − 1075)
    __int128 v;
    if (shift >= 0) {
      v = static_cast<__int128>(mant) << shift;
    } else {
      if (shift < -63 || (mant & ((uint64_t{1} << -shift) - 1)) != 0) return false;
      v = static_cast<__int128>(mant >> -shift);
    }
    *out = (bits >> 63) ? -v : v;
    return true;
  }

  int64_t period_;
  double inv_period_;
  std::vector<double> ring_;
  int64_t count_ = 0;
  size_t pos_ = 0;
  double sum_ = 0;
  size_t wraps_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_SMA_H_
