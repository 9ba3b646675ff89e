// sma_cross: the reference SMA crossover (backtrader's SMA(fast)/SMA(slow) + CrossOver with a
// target position of ±size). A cross up at bar t: fast > slow at t and the last non-zero
// (fast − slow) before t was negative; a cross down mirrors it. The target position is set at the
// next bar's open; a reversal closes one trade and opens the next at the same fill. The last bar
// closes any position at its close (end_of_data); an order still waiting is dropped.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_SMA_CROSS_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_SMA_CROSS_H_

#include <string>
#include <vector>

#include "server/engine/indicators/sma.h"
#include "server/engine/strategies/strategy.h"

namespace backtest::engine {

class SmaCross final : public Strategy {
 public:
  explicit SmaCross(RunContext& context);

  void OnWarmupBar(size_t sym, size_t i) override;
  void OnBar(size_t sym, size_t i) override;
  absl::Status RunBars(LoopContext& loop) override;
  // OnBar's body, inlined into the bar loop.
  [[gnu::always_inline]] void ProcessBar(size_t sym, size_t i);

 private:
  struct SymState {
    Sma fast;
    Sma slow;
    int last_sign = 0;  // sign of the last non-zero fast − slow (0: none yet)
    int pending = 0;    // target position for the next open: +1, −1, or 0 for none
    int decimals = 5;
    const double* close = nullptr;  // the symbol's bars, cached off the hot path
    size_t bars = 0;
    size_t first_kept = 0;
  };

  // Updates the SMAs with bar i's close; returns +1 (cross up), −1 (cross down) or 0.
  [[gnu::always_inline]] int Signal(SymState& st, double close);
  // The block-wise run (one symbol, no trace): see RunBlocks in sma_cross.cc.
  absl::Status RunBlocks(LoopContext& loop);
  // The crosses of bars [from, to) of symbol 0, from the closes alone (no SMA objects): appends
  // each cross's bar and sign to bars/signs, returns how many; carries last_sign.
  size_t ScanCrosses(SymState& st, size_t from, size_t to, uint32_t* bars, int8_t* signs);
  // Off the per-bar path (fills happen on a few bars in a hundred).
  [[gnu::noinline]] void Fill(size_t sym, SymState& st, size_t i, int64_t bar_index);
  [[gnu::noinline]] void EndOfData(size_t sym, SymState& st, size_t i, int64_t bar_index);
  // Trace rows of the signal (indicators, the cross check, the order) and the bar's verdict.
  [[gnu::noinline]] void TraceSignal(size_t sym, SymState& st, size_t i, int cross);
  [[gnu::noinline]] void TraceVerdict(size_t sym);
  [[gnu::noinline]] void CountCross(size_t sym, size_t i, int64_t bar_index, int cross);

  RunContext& ctx_;
  const bool tracing_;
  // One symbol and no trace: bars are run a block at a time (RunBlocks), the SMAs are running
  // sums over the closes, and the per-bar Sma objects are not fed (OnBar is then not used).
  const bool blocks_;
  // The order size as absl::StrCat writes it, for the log lines' pieces.
  const std::string size_text_;
  std::vector<SymState> states_;
  std::string verdict_;  // what happened on the current bar (tracing only)
  std::string reason_;   // the cross check's sentence (tracing only)
  std::string verdict_code_;
  bool st_ready_ = false;  // the SMAs existed on the current bar (tracing only)
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_SMA_CROSS_H_
