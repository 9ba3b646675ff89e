// A one-line progress bar for a running job: bar, percent, stage, bars done and ETA, redrawn in
// place with a carriage return. It draws only when enabled (btctl enables it when stdout is a
// terminal); disabled, every call does nothing, so pipes and files never see it.
//
// Owned by the EventPrinter that feeds it. Not thread-safe.
#ifndef BACKTEST_CLIENT_PROGRESS_BAR_H_
#define BACKTEST_CLIENT_PROGRESS_BAR_H_

#include <chrono>
#include <cstdio>
#include <string>

#include "backtest/v1/job.pb.h"

namespace backtest::client {

class ProgressBar {
 public:
  ProgressBar(bool enabled, std::FILE* out);
  bool enabled() const { return enabled_; }
  // Takes a new progress value and redraws (at most every 100 ms, and always at the end).
  void Update(const backtest::v1::Progress& progress);
  // Erases the bar so a log line can be printed; the next Redraw (or Update) shows it again.
  void Clear();
  void Redraw();
  // Erases the bar for good.
  void Finish();

  // The line the bar draws for `width` columns (exposed for its look to be checked by eye).
  std::string Render(int width) const;

 private:
  using Clock = std::chrono::steady_clock;
  double EtaSeconds() const;

  bool enabled_;
  std::FILE* out_;
  bool visible_ = false;
  bool finished_ = false;
  bool has_progress_ = false;
  backtest::v1::Progress progress_;
  Clock::time_point first_fraction_time_{};  // when a fraction > 0 was first seen
  double first_fraction_ = 0;
  Clock::time_point last_draw_{};
};

}  // namespace backtest::client

#endif  // BACKTEST_CLIENT_PROGRESS_BAR_H_
