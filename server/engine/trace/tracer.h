// Builds decision-trace rows and hands them to the observer in batches.
//
// Policy (the contract's): when tracing is on, events are always recorded; values and checks only
// on sampled bars (bar_index % sampling == 0). Past max_rows the run goes on, rows are dropped and
// the observer is told once (truncated = true). Rows live in a reused buffer: after the first batch
// the tracer allocates nothing. A bar window (SetWindow) limits the rows to bars first..last: the
// replay of an untraced run for Explain (docs/explain-replay.md) traces only around the bar asked
// about, and the rows of those bars are exactly a fully traced run's (their seq numbers aside).
// Owned by the run; not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_TRACE_TRACER_H_
#define BACKTEST_SERVER_ENGINE_TRACE_TRACER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/engine/trace/json_writer.h"
#include "server/engine/trace/trace_row.h"

namespace backtest::engine {

class RunObserver;

class Tracer {
 public:
  Tracer(bool enabled, int64_t sampling, int64_t max_rows, int batch_size, RunObserver* observer);

  bool enabled() const { return enabled_; }

  // Rows only of bars first..last (bar indexes, inclusive); the default is every bar.
  void SetWindow(int64_t first, int64_t last) {
    window_first_ = first;
    window_last_ = last;
  }

  // Starts a bar. `symbol` must outlive the bar.
  void BeginBar(int64_t bar_index, int64_t ts, const std::string* symbol) {
    bar_index_ = bar_index;
    ts_ = ts;
    symbol_ = symbol;
    in_window_ = enabled_ && bar_index >= window_first_ && bar_index <= window_last_;
    sampled_ = in_window_ && bar_index % sampling_ == 0;
    bar_had_event_ = false;
  }

  // Whether a row of `kind` on the current bar would be recorded.
  // Past the row limit, a wanted row is counted as dropped and the answer is no.
  bool Wants(TraceKind kind) {
    if (!in_window_ || !(sampled_ || kind == TraceKind::kEvent)) return false;
    if (limit_reached_) {
      dropped_ = true;
      return false;
    }
    return true;
  }
  bool sampled() const { return sampled_; }
  // The row writer's cache of formatted numbers (for numbers formatted once and used in rows).
  NumberCache& numbers() { return writer_.numbers(); }
  // Whether an event was recorded (or dropped by the limit) on the current bar.
  bool bar_had_event() const { return bar_had_event_; }

  // Starts a row (only after Wants(kind) said yes); write the payload, then call EndRow().
  JsonWriter& BeginRow(TraceSection section, TraceKind kind);
  void EndRow();

  // Sends the rows still buffered (with truncated = true when the limit dropped rows). Call once
  // at the end of the run.
  void Flush();

  int64_t rows_emitted() const { return emitted_; }
  bool truncated() const { return dropped_; }

 private:
  void SendBatch(bool truncated);

  bool enabled_;
  int64_t sampling_;
  int64_t max_rows_;
  size_t batch_size_;
  RunObserver* observer_;
  std::vector<TraceRow> buffer_;
  size_t count_ = 0;
  int64_t emitted_ = 0;  // rows accepted (sent or buffered)
  bool limit_reached_ = false;
  bool dropped_ = false;
  JsonWriter writer_;
  // Current bar.
  int64_t bar_index_ = 0;
  int64_t ts_ = 0;
  const std::string* symbol_ = nullptr;
  bool sampled_ = false;
  bool in_window_ = false;
  bool bar_had_event_ = false;
  int64_t window_first_ = 0;
  int64_t window_last_ = INT64_MAX;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_TRACE_TRACER_H_
