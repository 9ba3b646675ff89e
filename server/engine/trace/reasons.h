// Whole-run counts of decision reasons, with the first few bars where each happened. Kept for every
// run, traced or not (O(1) per occurrence, no allocation after the first samples).
#ifndef BACKTEST_SERVER_ENGINE_TRACE_REASONS_H_
#define BACKTEST_SERVER_ENGINE_TRACE_REASONS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
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
  kExitSignal,
  kCount
};

absl::string_view ReasonCode(Reason r);         // e.g. "filter_strength"
// The reason of a code, if it is one of the engine's.
std::optional<Reason> ReasonOfCode(absl::string_view code);

class ReasonTally {
 public:
  static constexpr size_t kMaxSamples = 5;

  void Add(Reason r, uint32_t symbol, int64_t bar_index, int64_t ts) {
    Entry& e = entries_[static_cast<size_t>(r)];
    if (e.count++ < static_cast<int64_t>(kMaxSamples)) e.samples.push_back({symbol, bar_index, ts});
  }

  int64_t count(Reason r) const { return entries_[static_cast<size_t>(r)].count; }

  // A reason by its code: the engine's when it is one (cross_up, …), else a code of the
  // strategy's own (an external strategy's), listed after the engine's in the order first seen.
  // `description` (may be empty) is kept from the first occurrence that gives one.
  void Add(absl::string_view code, absl::string_view description, uint32_t symbol,
           int64_t bar_index, int64_t ts);

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
  struct CustomEntry {
    std::string code;
    std::string description;
    Entry entry;
  };
  std::array<Entry, static_cast<size_t>(Reason::kCount)> entries_;
  std::vector<CustomEntry> custom_;  // a strategy has a few codes: searched linearly
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_TRACE_REASONS_H_
