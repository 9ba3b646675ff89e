// A strategy whose decisions are made outside the engine — the Python SDK's (sdk/native/) —
// while the engine does everything else as for a built-in strategy: the bar loop, fills and exits
// by the Broker, indicators updated in C++, reason counts, trace rows and each bar's verdict, log
// lines, chart overlays. RunOptions::external_strategy makes one with the logic (ExternalLogic);
// RunBacktest then runs it through the same path as sr_breakout and sma_cross.
//
// Two modes. Callback: ExternalLogic::Bar decides on every kept bar (orders, trace, log). Signals
// (vectorized): Start sets each symbol's signal arrays (SetSignals) and no call leaves the engine
// per bar; a one-symbol run without a trace then goes block-wise (bars without work marked in one
// pass, as sma_cross does).
//
// Order of work inside a bar (as the built-ins): (1) the order left by the previous bar fills at
// this bar's open; (2) stop and target exits of the open position, this bar's high and low
// included (the entry bar's too); (3) the indicators take this bar; (4) the decision on this
// close; (5) on the symbol's last bar, end of data: an order still waiting is dropped, a position
// is closed at the last close; (6) equity is marked at the close; (7) the verdict row (tracing).
//
// Owned by one run; not thread-safe; every method runs on the run's thread.
#ifndef BACKTEST_SERVER_ENGINE_STRATEGIES_EXTERNAL_STRATEGY_H_
#define BACKTEST_SERVER_ENGINE_STRATEGIES_EXTERNAL_STRATEGY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/engine/indicators/atr.h"
#include "server/engine/indicators/ema.h"
#include "server/engine/indicators/rolling_extreme.h"
#include "server/engine/indicators/rsi.h"
#include "server/engine/indicators/sma.h"
#include "server/engine/engine.h"
#include "server/engine/strategies/strategy.h"

namespace backtest::engine {

class ExternalStrategy;

// An order: the target position of one symbol, reached at the next bar's open (the decision is
// made on a close). A later order of the same symbol in the same bar replaces it.
struct OrderRequest {
  enum class Target { kLong, kShort, kFlat };
  Target target = Target::kFlat;
  double size = 1;                     // units, > 0 (long and short targets)
  std::optional<double> stop;          // stop price: long below the fill, short above
  std::optional<double> take_profit;   // target price: long above the fill, short below
  // The order's decision reason: counted (ReasonTally) when the order is given, and the entry
  // marker's reason. Empty: not counted; the marker says "signal".
  std::string reason;
};

// An entry or exit that just filled (ExternalLogic::Fill).
struct FillInfo {
  size_t sym = 0;
  int64_t bar_index = 0;
  int64_t time = 0;
  bool entry = true;        // else an exit
  Side side = Side::kLong;  // the position's side
  double price = 0;         // costs included
  double size = 0;
  int64_t trade_id = 0;
  ExitReason exit_reason = ExitReason::kSignal;  // exits only
  double pnl = 0;                                // exits only
};

// A vectorized strategy's signals for one symbol: element i is bar i of the symbol's series
// (warm-up bars included; their signals are ignored). nullptr: none. Non-zero means set. The
// arrays must outlive the run.
struct SignalArrays {
  const uint8_t* entries = nullptr;        // target long (an open short is reversed)
  const uint8_t* exits = nullptr;          // close a long
  const uint8_t* short_entries = nullptr;  // target short (an open long is reversed)
  const uint8_t* short_exits = nullptr;    // close a short
  const double* size = nullptr;            // units per bar; nullptr: size_value
  double size_value = 1;
  const double* stop = nullptr;            // stop price per bar, NaN: none
  const double* take_profit = nullptr;     // target price per bar, NaN: none
  std::string entry_reason;                // OrderRequest::reason of each kind of order
  std::string short_entry_reason;
  std::string exit_reason;
};

enum class IndicatorKind { kSma, kEma, kAtr, kRsi, kHighest, kLowest, kCrossover };
enum class PriceField { kOpen, kHigh, kLow, kClose, kVolume };

// The decisions of an external strategy. Every method runs on the run's thread and must not
// throw; a status that is not OK ends the run with it (RunBacktest returns it).
class ExternalLogic {
 public:
  virtual ~ExternalLogic() = default;
  // Before the warm-up bars: declare indicators; a vectorized strategy sets its signals.
  virtual absl::Status Start(ExternalStrategy& strategy) = 0;
  // A kept bar of strategy.sym(), after (1)–(3) (not called for symbols with signals).
  virtual absl::Status Bar(ExternalStrategy& strategy) = 0;
  // An entry or exit just filled.
  virtual absl::Status Fill(ExternalStrategy& strategy, const FillInfo& fill) = 0;
  // After the last bar (positions are closed by then).
  virtual absl::Status Stop(ExternalStrategy& strategy) = 0;
};

class ExternalStrategy final : public Strategy {
 public:
  ExternalStrategy(RunContext& context, std::unique_ptr<ExternalLogic> logic);
  ~ExternalStrategy() override;

  // Calls the logic's Start (from the factory: its error fails the run before any bar).
  absl::Status Start();

  void OnWarmupBar(size_t sym, size_t i) override;
  void OnBar(size_t sym, size_t i) override;
  absl::Status RunBars(LoopContext& loop) override;
  [[gnu::always_inline]] inline void ProcessBar(size_t sym, size_t i);
  // The logic's failure on the last bar (RunBarLoop stops on it).
  const absl::Status& bar_status() const { return bar_status_; }

  // --- The run ---
  const RunConfig& config() const { return ctx_.config; }
  size_t symbols() const { return ctx_.data.symbols.size(); }
  const SymbolData& data(size_t sym) const { return ctx_.data.symbols[sym]; }

  // --- The current bar (valid inside Bar and Fill) ---
  bool in_bar() const { return in_bar_; }
  size_t sym() const { return sym_; }
  size_t bar() const { return i_; }  // index in the symbol's series (warm-up bars first)
  int64_t bar_index() const { return static_cast<int64_t>(i_ - data(sym_).first_kept); }
  int64_t time() const { return series_->time[i_]; }
  double open() const { return series_->open[i_]; }
  double high() const { return series_->high[i_]; }
  double low() const { return series_->low[i_]; }
  double close() const { return series_->close[i_]; }
  double volume() const { return series_->volume[i_]; }

  // --- Indicators (declared in Start; one per symbol, updated in C++ on every bar) ---
  // Returns the indicator's id. InvalidArgument: a period < 1, inputs that are not indicators
  // (crossover), or a declaration after Start.
  absl::StatusOr<int> AddIndicator(IndicatorKind kind, int64_t period, PriceField source,
                                   int a = -1, int b = -1);
  // The value on the current bar of the current symbol; NaN until ready (and outside a bar). A
  // crossover is +1 (a crosses above b), −1 (below) or 0: backtrader's CrossOver, with the exact
  // means deciding near-ties of two SMAs as sma_cross does.
  double IndicatorValue(int id) const;
  bool IndicatorReady(int id) const;

  // --- Orders and the account ---
  // InvalidArgument: a size that is not > 0 and finite, a stop or target that is not finite.
  absl::Status Order(size_t sym, OrderRequest order);
  // Signed units of the symbol's open position (+ long, − short, 0 flat).
  double PositionSize(size_t sym) const;
  const Position& position(size_t sym) const { return ctx_.broker.position(sym); }
  double Equity() const { return ctx_.broker.Equity(); }
  // Signals for one symbol (in Start). InvalidArgument: the symbol has no such index.
  absl::Status SetSignals(size_t sym, SignalArrays signals);

  // --- Log, reasons, trace, verdict, overlays ---
  // A log line: inside a bar "ISO-TIME SYMBOL text" (bounded like the built-ins' bar lines).
  void Log(LogLevel level, absl::string_view text);
  // Counts a decision reason on the current bar (the engine's code or one of the strategy's own).
  void CountReason(absl::string_view code, absl::string_view description);
  bool tracing() const { return tracing_; }
  // Whether a row of `kind` on the current bar would be kept (sampling, row limit).
  bool WantsTrace(TraceKind kind);
  // Starts a row on the current bar (after WantsTrace said yes); write the payload, then
  // EndTraceRow. A check row notes its passed/reason/code for the verdict (NoteCheck), an event
  // row its event for the verdict (NoteEvent).
  JsonWriter& BeginTraceRow(TraceSection section, TraceKind kind);
  void EndTraceRow();
  void NoteCheck(bool passed, absl::string_view reason, absl::string_view code);
  void NoteEvent(absl::string_view code, absl::string_view text);
  // The bar's verdict sentence and code (else it is made from the bar's events and checks).
  void SetVerdict(absl::string_view text, absl::string_view code);
  // A point of line `name` at the current bar ("ema" is the result's EMA line).
  void Plot(absl::string_view name, double value);
  void AddZone(Zone zone);
  // A strategy's own chart marker (kind note) at the current bar; no-op without markers.
  void AddNote(OrderSide side, double price, absl::string_view text);

 private:
  struct CrossState {
    int a = -1, b = -1;
    int last_sign = 0;
    int value = 0;
  };
  struct Slot {
    std::variant<Sma, Ema, Atr, Rsi, RollingExtreme<true>, RollingExtreme<false>, CrossState> ind;
    int64_t count = 0;  // bars fed
  };
  struct IndicatorDef {
    IndicatorKind kind;
    int64_t period;
    PriceField source;
    int a, b;
  };
  struct SymState {
    std::vector<Slot> slots;
    std::optional<OrderRequest> pending;
    std::optional<SignalArrays> signals;
    int decimals = 5;
    size_t bars = 0;
    size_t first_kept = 0;
  };

  void SetBar(size_t sym, size_t i) {
    sym_ = sym;
    i_ = i;
    series_ = ctx_.data.symbols[sym].bars.get();
  }
  void UpdateIndicators(SymState& st, size_t i);
  double SlotValue(const SymState& st, int id) const;
  bool SlotReady(const SymState& st, int id) const;
  int CrossSign(const SymState& st, const CrossState& c) const;
  // Steps (1) … (5) of a bar; `mark` false leaves (6) to the block-wise loop.
  void Step(size_t sym, size_t i);
  [[gnu::noinline]] void FillPending(size_t sym, SymState& st, size_t i);
  // The entry of a filled order at `fill` (the bar's open with costs): skipped at or beyond its
  // stop, else opened.
  void OpenEntry(size_t sym, const OrderRequest& o, Side side, double fill, double open,
                 int64_t bi, int64_t ts);
  [[gnu::noinline]] void CheckExit(size_t sym, size_t i);
  [[gnu::noinline]] void SignalOrder(size_t sym, SymState& st, size_t i);
  [[gnu::noinline]] void EndOfData(size_t sym, SymState& st, size_t i);
  [[gnu::noinline]] void TraceVerdict(size_t sym);
  [[gnu::noinline]] void CallBar();
  void TellFill(const FillInfo& fill);
  void Fail(absl::Status status);
  void ExitEvent(const Trade& t, const Position& before, absl::string_view why);
  void LogBar(LogLevel level, const std::string& text);
  std::string Price(double v) const;
  // The block-wise loop of a one-symbol vectorized run without a trace.
  absl::Status RunSignalBlocks(LoopContext& loop);

  RunContext& ctx_;
  std::unique_ptr<ExternalLogic> logic_;
  const bool tracing_;
  std::vector<IndicatorDef> defs_;
  std::vector<SymState> states_;
  bool started_ = false;
  absl::Status bar_status_;
  // The current bar.
  bool in_bar_ = false;
  size_t sym_ = 0;
  size_t i_ = 0;
  const BarSeries* series_ = nullptr;
  // The verdict of the current bar (tracing only).
  std::string verdict_;
  std::string verdict_code_;
  std::string user_verdict_;
  std::string user_code_;
  std::string failed_reason_;
  std::string failed_code_;
  bool had_check_ = false;
};

// RunOptions::external_strategy for decisions made by the logic `make_logic` gives (called once
// per run): an ExternalStrategy, started (its logic's Start has run; its error fails the run).
StrategyFactory ExternalStrategyFactory(
    std::function<absl::StatusOr<std::unique_ptr<ExternalLogic>>()> make_logic);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_STRATEGIES_EXTERNAL_STRATEGY_H_
