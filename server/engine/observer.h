// The one narrow interface through which a run's log lines, progress and decision trace leave the
// engine, and through which the caller can cancel it (LEAN's result handler, reduced).
//
// The engine calls every method from the thread that runs the backtest. Implementations must not
// throw. IsCancelled() may be set from another thread (an atomic load is the intended cost: the
// engine asks every bar).
#ifndef BACKTEST_SERVER_ENGINE_OBSERVER_H_
#define BACKTEST_SERVER_ENGINE_OBSERVER_H_

#include <cstdint>
#include <span>

#include "absl/strings/string_view.h"
#include "server/engine/trace/trace_row.h"

namespace backtest::engine {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
absl::string_view LogLevelName(LogLevel level);  // debug, info, warning, error

enum class RunStage { kLoading, kWarmup, kRunning, kDone };
absl::string_view RunStageName(RunStage stage);  // loading, warmup, running, done

struct ProgressInfo {
  RunStage stage = RunStage::kLoading;
  int64_t bars_done = 0;
  int64_t bars_total = 0;
  double fraction = 0;  // 0..1 over the whole run
};

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // The backtest's own log: entries, exits, skipped and dropped orders with their reasons, a
  // summary. Lines start with the bar time in ISO 8601 where they are about a bar.
  virtual void OnLog(LogLevel level, absl::string_view text) = 0;
  // Rate-limited by the engine: a few per stage, and about every 1% while running.
  virtual void OnProgress(const ProgressInfo& progress) = 0;
  // Trace rows in batches (RunOptions::trace_batch_size rows, the last batch shorter). The span is
  // valid only during the call. `truncated` is true only on the last batch (which may be empty), and
  // only when the row limit dropped rows.
  virtual void OnTraceBatch(std::span<const TraceRow> rows, bool truncated) = 0;
  // Asked every bar (every block of at most 2048 bars and 1% of the run in block-wise runs); true
  // stops the run (RunBacktest then returns Cancelled).
  virtual bool IsCancelled() = 0;
};

// An observer that drops everything and never cancels (benchmarks, tests).
class NullObserver : public RunObserver {
 public:
  void OnLog(LogLevel, absl::string_view) override {}
  void OnProgress(const ProgressInfo&) override {}
  void OnTraceBatch(std::span<const TraceRow>, bool) override {}
  bool IsCancelled() override { return false; }
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_OBSERVER_H_
