// One decision-trace row: what the strategy saw or decided at one bar.
#ifndef BACKTEST_SERVER_ENGINE_TRACE_TRACE_ROW_H_
#define BACKTEST_SERVER_ENGINE_TRACE_TRACE_ROW_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::engine {

// Sections, in the order a bar is evaluated.
enum class TraceSection { kIndicators, kZones, kSignal, kFilters, kRisk, kOrders, kPosition };
enum class TraceKind { kValue, kCheck, kEvent };

absl::string_view TraceSectionName(TraceSection s);  // indicators, zones, signal, ...
absl::string_view TraceKindName(TraceKind k);        // value, check, event

struct TraceRow {
  int64_t seq = 0;        // from 1, in evaluation order
  int64_t bar_index = 0;  // from 0 at the symbol's first kept bar
  int64_t ts = 0;         // bar open time, UTC epoch seconds
  std::string symbol;
  TraceSection section = TraceSection::kIndicators;
  TraceKind kind = TraceKind::kValue;
  std::string payload;  // a compact JSON object; check rows have "passed" and "reason"
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_TRACE_TRACE_ROW_H_
