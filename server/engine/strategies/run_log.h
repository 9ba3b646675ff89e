// The run's own log of bar events (entries, exits, skipped and dropped orders), bounded: after
// `max_lines` info lines further ones are counted, not formatted, and one closing line says how
// many were left out (every trade is still in the result, every decision in the reason counts).
// Warnings are never suppressed. Owned by the run; not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_RUN_LOG_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_RUN_LOG_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/observer.h"
#include "server/engine/strategies/append_text.h"

namespace backtest::engine {

class RunLog {
 public:
  RunLog(RunObserver& observer, int64_t max_lines) : observer_(observer), max_lines_(max_lines) {}

  // Whether a line of `level` would be written; callers format only when it says yes.
  bool Wants(LogLevel level) {
    if (level >= LogLevel::kWarning || max_lines_ < 0 || lines_ < max_lines_) return true;
    ++suppressed_;
    return false;
  }
  // Writes "ISO-TIME SYMBOL " followed by the pieces (AppendText's: text, Dec, integers). The
  // line is built in one string the log keeps: a job writes up to a thousand of them.
  template <typename... Pieces>
  void Bar(LogLevel level, int64_t ts, absl::string_view symbol, const Pieces&... pieces) {
    BeginLine(level, ts, symbol);
    AppendText(&line_, pieces...);
    observer_.OnLog(level, line_);
  }
  // Writes the closing line when lines were left out.
  void Finish();

 private:
  // Counts the line and starts it: line_ = "ISO-TIME SYMBOL ".
  void BeginLine(LogLevel level, int64_t ts, absl::string_view symbol);

  RunObserver& observer_;
  int64_t max_lines_;
  int64_t lines_ = 0;
  int64_t suppressed_ = 0;
  std::string line_;
  IsoTimeWriter time_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_RUN_LOG_H_
