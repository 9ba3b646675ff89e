#include "server/engine/run_result.h"

namespace backtest::engine {

absl::string_view SideName(Side s) { return s == Side::kLong ? "long" : "short"; }
absl::string_view OrderSideName(OrderSide s) { return s == OrderSide::kBuy ? "buy" : "sell"; }
absl::string_view MarkerKindName(MarkerKind k) {
  switch (k) {
    case MarkerKind::kEntry: return "entry";
    case MarkerKind::kExit: return "exit";
    case MarkerKind::kNote: return "note";
  }
  return "entry";
}
absl::string_view ExitReasonName(ExitReason r) {
  switch (r) {
    case ExitReason::kStop: return "stop";
    case ExitReason::kStopGap: return "stop_gap";
    case ExitReason::kTarget: return "target";
    case ExitReason::kEndOfData: return "end_of_data";
    case ExitReason::kReversal: return "reversal";
    case ExitReason::kSignal: return "signal";
  }
  return "end_of_data";
}
absl::string_view ZoneKindName(ZoneKind k) {
  return k == ZoneKind::kSupport ? "support" : "resistance";
}
absl::string_view ZoneStateName(ZoneState s) {
  switch (s) {
    case ZoneState::kActive: return "active";
    case ZoneState::kBroken: return "broken";
    case ZoneState::kInverted: return "inverted";
    case ZoneState::kCancelled: return "cancelled";
  }
  return "active";
}

}  // namespace backtest::engine
