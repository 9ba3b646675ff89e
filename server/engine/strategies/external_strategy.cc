#include "server/engine/strategies/external_strategy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/strategies/bar_loop.h"

namespace backtest::engine {

ExternalStrategy::ExternalStrategy(RunContext& context, std::unique_ptr<ExternalLogic> logic)
    : ctx_(context), logic_(std::move(logic)), tracing_(context.tracer.enabled()) {
  for (const SymbolData& s : ctx_.data.symbols) {
    SymState st;
    st.decimals = PriceDecimals(s.pip);
    st.bars = s.bars->size();
    st.first_kept = s.first_kept;
    states_.push_back(std::move(st));
  }
}

ExternalStrategy::~ExternalStrategy() = default;

absl::Status ExternalStrategy::Start() {
  absl::Status s = logic_->Start(*this);
  started_ = true;
  return s;
}

void ExternalStrategy::OnWarmupBar(size_t sym, size_t i) {
  if (defs_.empty()) return;
  SetBar(sym, i);
  UpdateIndicators(states_[sym], i);
}

inline void ExternalStrategy::Step(size_t sym, size_t i) {
  SymState& st = states_[sym];
  // (1) the order left by the previous bar fills at this open.
  if (st.pending) FillPending(sym, st, i);
  // (2) stops and targets, this bar's high and low included.
  if (const Position& p = ctx_.broker.position(sym); p.open && (p.has_stop || p.has_target)) {
    CheckExit(sym, i);
  }
  // (3) the indicators take this bar; (4) the decision on its close.
  if (!defs_.empty()) UpdateIndicators(st, i);
  if (st.signals) {
    SignalOrder(sym, st, i);
  } else {
    CallBar();
  }
  // (5) end of data.
  if (i + 1 == st.bars) EndOfData(sym, st, i);
}

inline void ExternalStrategy::ProcessBar(size_t sym, size_t i) {
  SetBar(sym, i);
  in_bar_ = true;
  if (tracing_) {
    ctx_.tracer.BeginBar(bar_index(), series_->time[i], &ctx_.data.symbols[sym].symbol);
    verdict_.clear();
    verdict_code_.clear();
    user_verdict_.clear();
    user_code_.clear();
    failed_reason_.clear();
    failed_code_.clear();
    had_check_ = false;
  }
  Step(sym, i);
  // (6) mark equity at the close.
  ctx_.broker.Mark(sym, series_->close[i]);
  if (tracing_) TraceVerdict(sym);
  in_bar_ = false;
}

void ExternalStrategy::OnBar(size_t sym, size_t i) { ProcessBar(sym, i); }

absl::Status ExternalStrategy::RunBars(LoopContext& loop) {
  const bool all_signals = std::all_of(states_.begin(), states_.end(),
                                       [](const SymState& s) { return s.signals.has_value(); });
  absl::Status s = all_signals && states_.size() == 1 && !tracing_ && defs_.empty()
                       ? RunSignalBlocks(loop)
                       : RunBarLoop(*this, loop);
  in_bar_ = false;
  if (!s.ok()) return s;
  return logic_->Stop(*this);
}

// The block-wise loop of a one-symbol vectorized run without a trace (SmaCross::RunBlocks' way):
// per block, the bars with a signal are listed from the arrays; a bar with work — an order filling
// at its open, a signal, a position with a stop or target, the last bar — goes through Step, and
// every run of bars between two of them is marked in one pass (Broker::MarkRun), the position
// being constant there. The same operations in the same order as the per-bar loop: the results
// are the same, bit for bit.
absl::Status ExternalStrategy::RunSignalBlocks(LoopContext& c) {
  constexpr size_t kBlock = 2048;
  SymState& st = states_[0];
  const SignalArrays& sig = *st.signals;
  const BarSeries& series = *ctx_.data.symbols[0].bars;
  const size_t n = series.size(), first = st.first_kept;
  const int64_t* time = series.time.data();
  const double* close = series.close.data();
  const size_t block = std::min<size_t>(kBlock, static_cast<size_t>(c.progress.step()));
  uint32_t work[kBlock];
  LinePoint block_points[kBlock];
  EquityCurve& equity = *c.equity;
  equity.UsePieces(ctx_.data.symbols[0].bars, (n - first) / 16 + 16);
  Broker& broker = ctx_.broker;
  const uint8_t* arrays[4] = {sig.entries, sig.exits, sig.short_entries, sig.short_exits};
  int64_t done = 0;
  for (size_t i = first; i < n;) {
    const size_t end = std::min(n, i + block);
    // The bars of the block with a signal, appended without a branch per bar.
    uint8_t any[kBlock] = {};
    for (const uint8_t* a : arrays) {
      if (a == nullptr) continue;
      for (size_t j = i; j < end; ++j) any[j - i] |= a[j];
    }
    size_t m = 0;
    for (size_t j = i; j < end; ++j) {
      work[m] = static_cast<uint32_t>(j);
      m += static_cast<size_t>(any[j - i] != 0);
    }
    LinePoint* points = block_points - i;  // points[j] is bar j's
    size_t e = 0;
    for (size_t j = i; j < end;) {
      size_t next = end;
      const Position& p = broker.position(0);
      if (st.pending || (p.open && (p.has_stop || p.has_target))) {
        next = j;
      } else {
        if (e < m) next = work[e];
        if (n - 1 < next) next = n - 1;
      }
      equity.AppendPiece(broker.RunPiece(0, j, next - j));
      broker.MarkRun(0, time + j, close + j, next - j, points + j);
      if (next == end) break;
      j = next;
      SetBar(0, j);
      in_bar_ = true;
      Step(0, j);
      in_bar_ = false;
      if (!bar_status_.ok()) return bar_status_;
      if (e < m && work[e] == j) ++e;
      // Marked like MarkRun marks: Value() after Mark() is Equity() (one symbol), bit for bit.
      broker.Mark(0, close[j]);
      const EquityPiece piece = broker.RunPiece(0, j, 1);
      points[j] = LinePoint{time[j], piece.Value(close[j])};
      equity.AppendPiece(piece);
      ++j;
    }
    if (c.curve != nullptr) c.curve->Add(block_points, end - i);
    done += static_cast<int64_t>(end - i);
    if (c.observer.IsCancelled()) [[unlikely]] return absl::CancelledError("cancelled");
    c.progress.Tick(done);
    i = end;
  }
  return absl::OkStatus();
}

void ExternalStrategy::CallBar() {
  if (!bar_status_.ok()) return;
  absl::Status s = logic_->Bar(*this);
  if (!s.ok()) [[unlikely]] Fail(std::move(s));
}

void ExternalStrategy::TellFill(const FillInfo& fill) {
  if (!bar_status_.ok()) return;
  absl::Status s = logic_->Fill(*this, fill);
  if (!s.ok()) Fail(std::move(s));
}

void ExternalStrategy::Fail(absl::Status status) {
  if (bar_status_.ok()) bar_status_ = std::move(status);
}

StrategyFactory ExternalStrategyFactory(
    std::function<absl::StatusOr<std::unique_ptr<ExternalLogic>>()> make_logic) {
  return [make_logic = std::move(make_logic)](
             RunContext& context) -> absl::StatusOr<std::unique_ptr<Strategy>> {
    absl::StatusOr<std::unique_ptr<ExternalLogic>> logic = make_logic();
    if (!logic.ok()) return logic.status();
    auto strategy = std::make_unique<ExternalStrategy>(context, *std::move(logic));
    absl::Status started = strategy->Start();
    if (!started.ok()) return started;
    return std::unique_ptr<Strategy>(std::move(strategy));
  };
}

}  // namespace backtest::engine
