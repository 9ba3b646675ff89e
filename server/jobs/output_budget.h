// How much of a job's stdout and stderr is kept as log lines: up to a number of lines and of
// bytes (both streams together). Past either, lines are not kept but counted, so a runner that
// prints without end (a user strategy printing in a loop, 1 GB of it) cannot fill the disk or
// the job's log; what was dropped is said once, at the end. Owned by one job's supervision; not
// thread-safe.
#ifndef BACKTEST_SERVER_JOBS_OUTPUT_BUDGET_H_
#define BACKTEST_SERVER_JOBS_OUTPUT_BUDGET_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"

namespace backtest::jobs {

class OutputBudget {
 public:
  OutputBudget(int64_t max_lines, int64_t max_bytes) : max_lines_(max_lines), max_bytes_(max_bytes) {}

  // Takes one line of `bytes` from the budget: true when it is kept. Once one does not fit, the
  // budget is spent and every later line is dropped too (the kept log is a prefix).
  bool Take(size_t bytes) {
    if (!spent_ && kept_lines_ < max_lines_ && kept_bytes_ + static_cast<int64_t>(bytes) <= max_bytes_) {
      ++kept_lines_;
      kept_bytes_ += static_cast<int64_t>(bytes);
      return true;
    }
    spent_ = true;
    ++dropped_lines_;
    dropped_bytes_ += static_cast<int64_t>(bytes);
    return false;
  }
  // Counts raw output that arrives once the budget is spent, without splitting it: its bytes,
  // and a line per line feed (the line feeds themselves are not counted as bytes).
  void Drop(const char* data, size_t n) {
    int64_t feeds = 0;
    for (const char* p = data; (p = static_cast<const char*>(std::memchr(p, '\n', data + n - p)));
         ++p) {
      ++feeds;
    }
    dropped_lines_ += feeds;
    dropped_bytes_ += static_cast<int64_t>(n) - feeds;
  }
  // Counts the bytes of a partial line dropped when the budget was spent (its line feed, when
  // it comes, counts the line).
  void DropPartial(size_t bytes) { dropped_bytes_ += static_cast<int64_t>(bytes); }

  bool spent() const { return spent_; }
  int64_t dropped_lines() const { return dropped_lines_; }
  int64_t dropped_bytes() const { return dropped_bytes_; }
  int64_t kept_lines() const { return kept_lines_; }
  int64_t kept_bytes() const { return kept_bytes_; }

  // What was dropped, for the job's log; "" when nothing was.
  std::string DroppedNote() const {
    if (!spent_) return "";
    return absl::StrFormat(
        "stdout and stderr past the job's log limit (%d lines or %.1f MB) were dropped: "
        "%d more lines, %.1f MB",
        max_lines_, max_bytes_ / 1048576.0, dropped_lines_, dropped_bytes_ / 1048576.0);
  }

 private:
  int64_t max_lines_;
  int64_t max_bytes_;
  bool spent_ = false;
  int64_t kept_lines_ = 0;
  int64_t kept_bytes_ = 0;
  int64_t dropped_lines_ = 0;
  int64_t dropped_bytes_ = 0;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_OUTPUT_BUDGET_H_
