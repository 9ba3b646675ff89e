// Exponential moving average of `period`: α = 2/(period+1); the first value, after `period`
// values, is the SMA of those values; then ema += α·(x − ema). O(1) per value. Not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_INDICATORS_EMA_H_
#define BACKTEST_SERVER_ENGINE_INDICATORS_EMA_H_

#include <cstdint>

namespace backtest::engine {

class Ema {
 public:
  explicit Ema(int64_t period)
      : period_(period), alpha_(2.0 / (static_cast<double>(period) + 1.0)) {}

  int64_t warmup() const { return period_; }
  bool ready() const { return count_ >= period_; }
  double value() const { return value_; }

  void Reset() {
    count_ = 0;
    value_ = 0;
    seed_sum_ = 0;
  }

  void Update(double x) {
    if (count_ >= period_) {
      value_ += alpha_ * (x - value_);
    } else {
      seed_sum_ += x;
      if (count_ + 1 == period_) value_ = seed_sum_ / static_cast<double>(period_);
    }
    ++count_;
  }

 private:
  int64_t period_;
  double alpha_;
  int64_t count_ = 0;
  double value_ = 0;
  double seed_sum_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_EMA_H_
