// Turns intraday bars into daily closes: a day is a UTC calendar day, its close is the close of its
// last bar, and a day counts once a bar of a later day arrives — so a bar only ever sees the days
// before its own date. O(1) per bar. Not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_INDICATORS_DAILY_CLOSES_H_
#define BACKTEST_SERVER_ENGINE_INDICATORS_DAILY_CLOSES_H_

#include <cstdint>

#include "server/engine/data/civil_time.h"

namespace backtest::engine {

class DailyCloses {
 public:
  void Reset() {
    have_day_ = false;
    day_ = 0;
    last_close_ = 0;
  }

  // Feeds one bar. Returns true and sets *completed_close when this bar starts a later day than
  // the previous bar's, i.e. the previous day is complete.
  bool Update(int64_t bar_time, double close, double* completed_close) {
    const int64_t day = UtcDay(bar_time);
    bool completed = false;
    if (have_day_ && day != day_) {
      *completed_close = last_close_;
      completed = true;
    }
    have_day_ = true;
    day_ = day;
    last_close_ = close;
    return completed;
  }

 private:
  bool have_day_ = false;
  int64_t day_ = 0;
  double last_close_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_DAILY_CLOSES_H_
