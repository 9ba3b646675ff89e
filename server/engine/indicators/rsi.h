// Relative strength index, Wilder, over a series of values (the engine feeds it daily closes).
// Needs period + 1 values: the first average gain and loss are plain means of the first `period`
// changes; then avg = ((period − 1)·avg + x) / period. RSI = 100 − 100/(1 + gain/loss); an
// average loss of 0 gives 100, and both 0 give 50. O(1) per value. Not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_INDICATORS_RSI_H_
#define BACKTEST_SERVER_ENGINE_INDICATORS_RSI_H_

#include <cstdint>

namespace backtest::engine {

class Rsi {
 public:
  explicit Rsi(int64_t period = 14) : period_(period) {}

  int64_t warmup() const { return period_ + 1; }
  bool ready() const { return count_ > period_; }

  double value() const {
    if (avg_loss_ == 0) return avg_gain_ == 0 ? 50.0 : 100.0;
    return 100.0 - 100.0 / (1.0 + avg_gain_ / avg_loss_);
  }

  void Reset() {
    count_ = 0;
    prev_ = 0;
    avg_gain_ = 0;
    avg_loss_ = 0;
  }

  void Update(double x) {
    if (count_ > 0) {
      double change = x - prev_;
      double gain = change > 0 ? change : 0;
      double loss = change < 0 ? -change : 0;
      const double n = static_cast<double>(period_);
      if (count_ <= period_) {
        avg_gain_ += gain;
        avg_loss_ += loss;
        if (count_ == period_) {
          avg_gain_ /= n;
          avg_loss_ /= n;
        }
      } else {
        avg_gain_ = ((n - 1) * avg_gain_ + gain) / n;
        avg_loss_ = ((n - 1) * avg_loss_ + loss) / n;
      }
    }
    prev_ = x;
    ++count_;
  }

 private:
  int64_t period_;
  int64_t count_ = 0;
  double prev_ = 0;
  double avg_gain_ = 0;
  double avg_loss_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_RSI_H_
