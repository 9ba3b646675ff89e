// Whole-run counts of decision reasons, with the first few bars where each happened. Kept for every
// run, traced or not (O(1) per occurrence, no allocation after the first samples).
#ifndef BACKTEST_SERVER_ENGINE_TRACE_REASONS_H_
#define BACKTEST_SERVER_ENGINE_TRACE_REASONS_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/engine/run_result.h"

namespace backtest::engine {

enum class Reason {
  // sr_breakout: breakouts filtered
  kFilterStrength,
  kFilterEma,
  kFilterRsi,
  kRsiUnavailable,
  // sr_breakout: setups
  kSetupCreated,
  kSetupReplaced,
  kBreakoutIgnored,
  kSetupInverted,
  kSetupCancelled,
  kSetupExpired,
  kSetupTriggered,
  kTriggerIgnored,
  // orders and risk
  kEntryFilled,
  kEntrySkipped,
  kStopWidened,
  kEntryDropped,
  // sma_cross
  kCrossUp,
  kCrossDown,
  // exits
  kExitStop,
  kExitStopGap,
  kExitTarget,
  kExitEndOfData,
  kExitReversal,
  kCount
};

absl::string_view ReasonCode(Reason r);         // e.g. "filter_strength"

class ReasonTally {
 public:
  static constexpr size_t kMaxSamples = 5;

  void Add(Reason r, uint32_t symbol, int64_t bar_index, int64_t ts) {
    Entry& e = entries_[static_cast<size_t>(r)];
    if (e.count++ < static_cast<int64_t>(kMaxSamples)) e.samples.push_back({symbol, bar_index, ts});
  }

  int64_t count(Reason r) const { return entries_[static_cast<size_t>(r)].count; }

  // The reasons that occurred, in enum order, with sample symbols named from `symbols`.
  std::vector<ReasonCount> Summary(const std::vector<std::string>& symbols) const;

 private:
  struct Sample {
    uint32_t symbol;
    int64_t bar_index;
    int64_t ts;
  };
  struct Entry {
    int64_t count = 0;
    std::vector<Sample> samples;
  };
  std::array<Entry, static_cast<size_t>(Reason::kCount)> entries_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_TRACE_REASONS_H_
