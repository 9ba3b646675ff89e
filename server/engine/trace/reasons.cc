#include "server/engine/trace/reasons.h"

namespace backtest::engine {
namespace {

struct ReasonDef {
  absl::string_view code;
  absl::string_view description;
};

constexpr ReasonDef kReasons[] = {
    {"filter_strength", "breakout filtered: the close was not far enough beyond the level "
                        "(breakout_min_strength_atr)"},
    {"filter_ema", "breakout filtered: the close was on the wrong side of the EMA"},
    {"filter_rsi", "breakout filtered: daily RSI too high for a long (>= 70) or too low for a "
                   "short (<= 30)"},
    {"rsi_unavailable", "breakout filtered: the daily RSI did not exist yet (needs 15 daily "
                        "closes)"},
    {"setup_created", "a breakout passed every filter and created a setup"},
    {"setup_replaced", "a newer breakout replaced the pending setup"},
    {"breakout_ignored", "a same-side breakout left an already inverted setup in place"},
    {"setup_inverted", "price moved zone_inversion_margin_atr away from the level: retests count "
                       "from the next bar"},
    {"setup_cancelled", "a close beyond the level by sr_cancellation_threshold_atr cancelled the "
                        "setup"},
    {"setup_expired", "the setup saw no retest within breakout_lookback_period bars"},
    {"setup_triggered", "a retest (low at or below the level, close above it, or the mirror) "
                        "triggered an entry order for the next open"},
    {"trigger_ignored", "a retest came while a position was open: ignored, not remembered"},
    {"entry_filled", "an entry order was filled at the bar's open"},
    {"entry_skipped", "the entry was skipped: the fill was at or beyond the stop"},
    {"stop_widened", "the stop was closer than min_risk_distance_atr and was widened to it"},
    {"entry_dropped", "an entry order waiting for the next bar was dropped at the end of data"},
    {"cross_up", "the fast SMA crossed above the slow SMA: target position +size"},
    {"cross_down", "the fast SMA crossed below the slow SMA: target position -size"},
    {"exit_stop", "exit at the stop (the low reached it; the high for shorts)"},
    {"exit_stop_gap", "exit at the open: the bar opened beyond the stop"},
    {"exit_target", "exit at the target"},
    {"exit_end_of_data", "position closed at the last close"},
    {"exit_reversal", "position closed by the opposite signal (reversal)"},
    {"exit_signal", "position closed by the strategy (close)"},
};
static_assert(std::size(kReasons) == static_cast<size_t>(Reason::kCount));

}  // namespace

absl::string_view ReasonCode(Reason r) { return kReasons[static_cast<size_t>(r)].code; }

std::optional<Reason> ReasonOfCode(absl::string_view code) {
  for (size_t i = 0; i < std::size(kReasons); ++i) {
    if (kReasons[i].code == code) return static_cast<Reason>(i);
  }
  return std::nullopt;
}

void ReasonTally::Add(absl::string_view code, absl::string_view description, uint32_t symbol,
                      int64_t bar_index, int64_t ts) {
  if (std::optional<Reason> r = ReasonOfCode(code)) return Add(*r, symbol, bar_index, ts);
  CustomEntry* found = nullptr;
  for (CustomEntry& c : custom_) {
    if (c.code == code) found = &c;
  }
  if (found == nullptr) found = &custom_.emplace_back(CustomEntry{std::string(code), "", {}});
  if (found->description.empty()) found->description = std::string(description);
  Entry& e = found->entry;
  if (e.count++ < static_cast<int64_t>(kMaxSamples)) e.samples.push_back({symbol, bar_index, ts});
}

std::vector<ReasonCount> ReasonTally::Summary(const std::vector<std::string>& symbols) const {
  std::vector<ReasonCount> out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.count == 0) continue;
    ReasonCount rc;
    rc.reason = std::string(kReasons[i].code);
    rc.count = e.count;
    rc.description = std::string(kReasons[i].description);
    for (const Sample& s : e.samples) {
      rc.samples.push_back({symbols[s.symbol], s.bar_index, s.ts});
    }
    out.push_back(std::move(rc));
  }
  for (const CustomEntry& c : custom_) {
    ReasonCount rc;
    rc.reason = c.code;
    rc.count = c.entry.count;
    rc.description = c.description;
    for (const Sample& s : c.entry.samples) {
      rc.samples.push_back({symbols[s.symbol], s.bar_index, s.ts});
    }
    out.push_back(std::move(rc));
  }
  return out;
}

}  // namespace backtest::engine
