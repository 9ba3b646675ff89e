// The result of one run, ready to chart and to store: per-symbol candles, EMA and zones; markers,
// trades and equity of the account; stats; whole-run decision reason counts; a digest.
//
// Plain data. Candles are not copied: each SymbolResult shares the run's bar series.
#ifndef BACKTEST_SERVER_ENGINE_RUN_RESULT_H_
#define BACKTEST_SERVER_ENGINE_RUN_RESULT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/engine/data/bar_series.h"
#include "server/engine/equity_curve.h"

namespace backtest::engine {

enum class Side { kLong, kShort };
enum class OrderSide { kBuy, kSell };
enum class MarkerKind { kEntry, kExit, kNote };  // kNote: a strategy's own chart marker
// kSignal: the strategy closed the position (an external strategy's close()).
enum class ExitReason { kStop, kStopGap, kTarget, kEndOfData, kReversal, kSignal };
enum class ZoneKind { kSupport, kResistance };
enum class ZoneState { kActive, kBroken, kInverted, kCancelled };

absl::string_view SideName(Side s);              // long, short
absl::string_view OrderSideName(OrderSide s);    // buy, sell
absl::string_view MarkerKindName(MarkerKind k);  // entry, exit, note
absl::string_view ExitReasonName(ExitReason r);  // stop, stop_gap, target, end_of_data, reversal,
                                                 // signal
absl::string_view ZoneKindName(ZoneKind k);      // support, resistance
absl::string_view ZoneStateName(ZoneState s);    // active, broken, inverted, cancelled

struct Zone {
  std::string symbol;
  int64_t start = 0;
  int64_t end = 0;
  double price = 0;
  ZoneKind kind = ZoneKind::kSupport;
  ZoneState state = ZoneState::kActive;
};

// Marker and Trade live in Columns (data/column.h): every member has an initializer.
struct Marker {
  std::string symbol;
  int64_t time = 0;  // open time of the fill bar
  OrderSide side = OrderSide::kBuy;
  MarkerKind kind = MarkerKind::kEntry;
  double price = 0;
  std::string reason;  // entries: the setup / signal; exits: the exit reason name
  int64_t trade_id = 0;
};

struct Trade {
  int64_t id = 0;  // from 1
  std::string symbol;
  Side side = Side::kLong;
  int64_t entry_time = 0;
  double entry_price = 0;  // spread and slippage included
  int64_t exit_time = 0;
  double exit_price = 0;
  double size = 0;
  double stop = 0;    // 0 when the strategy uses none
  double target = 0;  // 0 when the strategy uses none
  double pnl = 0;     // commission included
  double return_pct = 0;  // pnl over entry notional, percent
  ExitReason exit_reason = ExitReason::kEndOfData;
  int64_t bars_held = 0;  // exit_bar - entry_bar
  double commission = 0;  // both fills
  int64_t entry_bar = 0;  // bar_index (from 0 at the symbol's first kept bar)
  int64_t exit_bar = 0;
};

// Maps 1:1 to backtest.v1.SideStats.
struct SideStats {
  int64_t trades = 0;
  double win_rate_pct = 0;
  double pnl = 0;
  double avg_trade_pct = 0;
  double profit_factor = 0;
};

// Maps 1:1 to backtest.v1.Stats. Undefined ratios are NaN.
struct Stats {
  int64_t start = 0;
  int64_t end = 0;
  int64_t duration_seconds = 0;
  int64_t bars = 0;
  double exposure_pct = 0;
  double equity_final = 0;
  double equity_peak = 0;
  double return_pct = 0;
  double buy_hold_return_pct = 0;
  double return_ann_pct = 0;
  double volatility_ann_pct = 0;
  double sharpe = 0;
  double sortino = 0;
  double calmar = 0;
  double max_drawdown_pct = 0;
  double avg_drawdown_pct = 0;
  int64_t max_drawdown_duration_seconds = 0;
  int64_t avg_drawdown_duration_seconds = 0;
  int64_t trades = 0;
  double win_rate_pct = 0;
  double best_trade_pct = 0;
  double worst_trade_pct = 0;
  double avg_trade_pct = 0;
  int64_t max_trade_duration_seconds = 0;
  int64_t avg_trade_duration_seconds = 0;
  double profit_factor = 0;
  double expectancy = 0;
  double sqn = 0;
  SideStats long_stats;
  SideStats short_stats;
  double commission = 0;
  double pnl = 0;
};

struct ReasonSample {
  std::string symbol;
  int64_t bar_index = 0;
  int64_t ts = 0;
};

// How often one decision reason occurred over the run (kept for every run, traced or not).
struct ReasonCount {
  std::string reason;       // code, e.g. filter_strength
  int64_t count = 0;
  std::vector<ReasonSample> samples;  // the first few occurrences
  std::string description;  // what the code means, in words
};

// A line a strategy drew on the chart of one symbol (an external strategy's plot()).
struct NamedLine {
  std::string name;
  std::vector<LinePoint> points;
};

struct SymbolResult {
  std::string symbol;
  double pip = 0;
  std::shared_ptr<const BarSeries> bars;  // includes warm-up bars before first_kept
  size_t first_kept = 0;
  std::vector<LinePoint> ema;  // sr_breakout's EMA on the kept bars where it exists
  std::vector<Zone> zones;
  std::vector<NamedLine> lines;  // other lines than the EMA, in the order first drawn

  // The run's candles (warm-up excluded).
  BarView candles() const { return BarView::Of(*bars, first_kept, bars->size() - first_kept); }
};

struct RunResult {
  std::string strategy;              // sr_breakout or sma_cross
  std::vector<SymbolResult> symbols;  // in the order of the symbols parameter
  Column<Marker> markers;  // in fill order (Column: large ones on huge pages)
  Column<Trade> trades;    // in exit order
  EquityCurve equity;                 // one point per timestamp, after every symbol's bar
  Stats stats;
  std::vector<ReasonCount> reasons;   // codes that occurred, in a fixed order
  int64_t trace_rows = 0;             // rows sent to the observer
  bool trace_truncated = false;       // the row limit cut the trace
  std::string digest;                 // SHA-256 hex of the canonical result (see digest.h)
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_RUN_RESULT_H_
