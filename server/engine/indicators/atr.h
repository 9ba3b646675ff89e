// Average true range, Wilder. TR = max(high − low, |high − prev close|, |low − prev close|) from
// the second bar on; the first ATR (after period + 1 bars, i.e. at bar `period` counting from 0)
// is the mean of the first `period` TRs; then ATR = ((period − 1)·ATR + TR) / period.
// O(1) per bar. Not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_INDICATORS_ATR_H_
#define BACKTEST_SERVER_ENGINE_INDICATORS_ATR_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace backtest::engine {

class Atr {
 public:
  explicit Atr(int64_t period = 14) : period_(period) {}

  int64_t warmup() const { return period_ + 1; }
  bool ready() const { return count_ > period_; }
  double value() const { return value_; }

  void Reset() {
    count_ = 0;
    value_ = 0;
    prev_close_ = 0;
    tr_sum_ = 0;
  }

  void Update(double high, double low, double close) {
    if (count_ > 0) {
      double tr = std::max({high - low, std::fabs(high - prev_close_),
                            std::fabs(low - prev_close_)});
      if (count_ < period_) {
        tr_sum_ += tr;
      } else if (count_ == period_) {
        value_ = (tr_sum_ + tr) / static_cast<double>(period_);
      } else {
        value_ = (static_cast<double>(period_ - 1) * value_ + tr) / static_cast<double>(period_);
      }
    }
    prev_close_ = close;
    ++count_;
  }

 private:
  int64_t period_;
  int64_t count_ = 0;
  double value_ = 0;
  double prev_close_ = 0;
  double tr_sum_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_ATR_H_
