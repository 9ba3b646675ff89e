// sr_breakout: the support/resistance breakout-and-retest strategy of the contract (PRODUCT.md,
// "Strategies"), per symbol on the run's bars, prices bid.
//
// Order of work inside a bar: (1) fill the entry order left by the previous bar at this open;
// (2) exits of the open position with this bar's high/low; (3) the pending setup: cancellation,
// else trigger, else expiry, else inversion; (4) the breakout test on this close; (5) mark equity.
// On a symbol's last bar the open position is closed at the close (end_of_data) and a waiting
// entry order is dropped.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_SR_BREAKOUT_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_SR_BREAKOUT_H_

#include <cmath>
#include <string>
#include <vector>

#include "server/engine/indicators/atr.h"
#include "server/engine/indicators/daily_closes.h"
#include "server/engine/indicators/ema.h"
#include "server/engine/indicators/rolling_extreme.h"
#include "server/engine/indicators/rsi.h"
#include "server/engine/strategies/strategy.h"
#include "server/engine/trace/json_writer.h"

namespace backtest::engine {

class SrBreakout final : public Strategy {
 public:
  explicit SrBreakout(RunContext& context);

  void OnWarmupBar(size_t sym, size_t i) override;
  void OnBar(size_t sym, size_t i) override;
  absl::Status RunBars(LoopContext& loop) override;
  // OnBar's body, inlined into the bar loop.
  [[gnu::always_inline]] void ProcessBar(size_t sym, size_t i);

 private:
  // A breakout waiting for its retest. Bar numbers are absolute indexes into the series.
  struct Setup {
    bool active = false;
    Side side = Side::kLong;
    double level = 0;           // P: the broken level
    size_t breakout_bar = 0;    // t0
    int64_t breakout_time = 0;
    int64_t zone_start_time = 0;  // earliest bar making the extreme, clamped to the first kept
    bool inverted = false;
    size_t inversion_bar = 0;
  };
  // An entry order for the next bar's open.
  struct EntryOrder {
    bool active = false;
    Side side = Side::kLong;
    double level = 0;
    double stop = 0;
    double atr = 0;  // ATR of the trigger bar (stop buffer and minimum risk)
    int64_t trigger_bar_index = 0;
  };
  struct SymState {
    SymState(int64_t ema_length, int64_t lookback)
        : ema(ema_length), highs(lookback), lows(lookback) {}
    Atr atr{14};
    Ema ema;
    DailyCloses days;
    Rsi rsi{14};
    int64_t daily_closes = 0;
    BlockHighest highs;  // R and S: extremes of the previous `lookback` bars
    BlockLowest lows;
    double rsi_value = NAN;  // daily RSI, updated once a day
    Setup setup;
    EntryOrder order;
    int decimals = 5;
    // Series shared with the other runs of a sweep (RunContext::shared), read instead of the
    // indicators above when set.
    const SrFixedSeries* fixed = nullptr;         // atr, days, rsi
    const std::vector<double>* ema_series = nullptr;  // ema
    const ExtremeSeries* extremes = nullptr;      // highs, lows
    // The symbol's bars, cached off the hot path.
    const BarSeries* bars = nullptr;
    const std::string* symbol = nullptr;
    size_t first_kept = 0;
  };
  // What the strategy sees on one bar. No default member initializers on purpose:
  // UpdateIndicators sets every field, and zero-filling 144 bytes first (a `rep stos` per bar)
  // cost more than the rest of the bar loop's own work.
  struct BarCtx {
    size_t sym;
    size_t i;
    int64_t bar_index;
    int64_t ts;
    double open, high, low, close;
    double atr, ema, rsi;  // NaN until ready
    bool have_rs;
    double resistance, support;
    size_t resistance_bar, support_bar;
    const std::string* symbol;
    int dec;
  };

  void UpdateIndicators(SymState& st, size_t sym, size_t i, BarCtx* b);
  void FillEntry(SymState& st, const BarCtx& b);
  void CheckExit(SymState& st, const BarCtx& b);
  // Step (3) of a bar for its pending setup, in the contract's order.
  void ManageSetup(SymState& st, const BarCtx& b);
  enum class Retest { kNone, kTriggered, kIgnored };
  bool CancelIfBroken(SymState& st, const BarCtx& b);  // true when it cancelled the setup
  Retest TryRetest(SymState& st, const BarCtx& b);     // a retest triggers only when flat
  bool ExpireIfDue(SymState& st, const BarCtx& b);     // true when it expired the setup
  bool InvertIfAway(SymState& st, const BarCtx& b);    // true when this close inverted it
  void TracePendingSetup(const SymState& st, const BarCtx& b);
  // The close at or beyond which a setup inverts: its level ± zone_inversion_margin_atr · ATR.
  double InversionPrice(const Setup& s, double atr) const;
  void TestBreakout(SymState& st, const BarCtx& b);
  bool PassesFilters(const BarCtx& b, Side side, double level);
  void CreateSetup(SymState& st, const BarCtx& b, Side side, double level, size_t extreme_bar);
  // Ends the pending setup at bar time `end`: its flipped level becomes a zone segment.
  void EndSetup(SymState& st, const BarCtx& b, ZoneState state);
  void EndOfData(SymState& st, const BarCtx& b);
  void AddActiveZones(const BarCtx& b);

  // Tracing helpers (sr_breakout_trace.cc).
  void TraceValues(const SymState& st, const BarCtx& b);
  void TraceSetupEvent(const SymState& st, const BarCtx& b, absl::string_view event,
                       absl::string_view sentence);
  void TraceCheck(TraceSection section, absl::string_view check, bool passed,
                  const std::string& reason, const BarCtx& b, Reason code);
  void NoteEvent(absl::string_view code, absl::string_view sentence);
  void NoteNoEntry(absl::string_view code, const std::string& sentence);
  void TraceVerdict(const BarCtx& b);
  void Count(Reason r, const BarCtx& b) {
    ctx_.reasons.Add(r, static_cast<uint32_t>(b.sym), b.bar_index, b.ts);
  }

  RunContext& ctx_;
  const RunConfig& cfg_;
  size_t lookback_;
  size_t start_eval_;  // first absolute bar evaluated: max(lookback, 14, ema_length − 1)
  std::vector<SymState> states_;
  // Current bar's explanation (tracing only).
  std::string verdict_;
  std::string verdict_code_;
  std::string no_entry_;
  std::string no_entry_code_;
  std::string verdict_text_;
  std::string why_;  // the sentence being built (tracing only)
  // The "holding …" words of the open position, kept for the trade they describe.
  int64_t holding_trade_ = 0;
  size_t holding_symbol_ = 0;
  std::string holding_text_;
  // The sampled bar's close, resistance and support, formatted once (tracing only).
  NumberText close_text_, resistance_text_, support_text_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_SR_BREAKOUT_H_
