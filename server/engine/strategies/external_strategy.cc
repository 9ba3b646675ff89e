#include "server/engine/strategies/external_strategy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/strategies/bar_loop.h"

namespace backtest::engine {
namespace {

double SourceOf(const BarSeries& b, PriceField f, size_t i) {
  switch (f) {
    case PriceField::kOpen: return b.open[i];
    case PriceField::kHigh: return b.high[i];
    case PriceField::kLow: return b.low[i];
    case PriceField::kClose: return b.close[i];
    case PriceField::kVolume: return b.volume[i];
  }
  return b.close[i];
}

Reason ExitReasonCode(ExitReason r) {
  switch (r) {
    case ExitReason::kStop: return Reason::kExitStop;
    case ExitReason::kStopGap: return Reason::kExitStopGap;
    case ExitReason::kTarget: return Reason::kExitTarget;
    case ExitReason::kEndOfData: return Reason::kExitEndOfData;
    case ExitReason::kReversal: return Reason::kExitReversal;
    case ExitReason::kSignal: return Reason::kExitSignal;
  }
  return Reason::kExitSignal;
}

void Append(std::string* out, absl::string_view part) {
  if (!out->empty()) out->append("; ");
  out->append(part.data(), part.size());
}

}  // namespace

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

absl::StatusOr<int> ExternalStrategy::AddIndicator(IndicatorKind kind, int64_t period,
                                                   PriceField source, int a, int b) {
  if (started_) return absl::FailedPreconditionError("indicators are declared before the first bar");
  const int id = static_cast<int>(defs_.size());
  if (kind == IndicatorKind::kCrossover) {
    if (a < 0 || b < 0 || a >= id || b >= id || a == b) {
      return absl::InvalidArgumentError("crossover: needs two different indicators of this run");
    }
    period = 1;
  } else if (period < 1 || period > 1'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("indicator period: must be in [1, 1000000], got ", period));
  }
  defs_.push_back(IndicatorDef{kind, period, source, a, b});
  for (SymState& st : states_) {
    Slot slot{CrossState{}, 0};
    switch (kind) {
      case IndicatorKind::kSma: slot.ind.emplace<Sma>(period); break;
      case IndicatorKind::kEma: slot.ind.emplace<Ema>(period); break;
      case IndicatorKind::kAtr: slot.ind.emplace<Atr>(period); break;
      case IndicatorKind::kRsi: slot.ind.emplace<Rsi>(period); break;
      case IndicatorKind::kHighest: slot.ind.emplace<RollingExtreme<true>>(period); break;
      case IndicatorKind::kLowest: slot.ind.emplace<RollingExtreme<false>>(period); break;
      case IndicatorKind::kCrossover: slot.ind.emplace<CrossState>(CrossState{a, b, 0, 0}); break;
    }
    st.slots.push_back(std::move(slot));
  }
  return id;
}

int ExternalStrategy::CrossSign(const SymState& st, const CrossState& c) const {
  const Slot& sa = st.slots[static_cast<size_t>(c.a)];
  const Slot& sb = st.slots[static_cast<size_t>(c.b)];
  const Sma* fa = std::get_if<Sma>(&sa.ind);
  const Sma* fb = std::get_if<Sma>(&sb.ind);
  if (fa != nullptr && fb != nullptr) {
    // Two SMAs: the sign of fast − slow as sma_cross takes it (SmaCross::Signal): the running-sum
    // means outside a 1e-9 relative band, else the exact (math.fsum-equal) means.
    const double x = fa->ApproxValue(), y = fb->ApproxValue();
    const double d = x - y;
    const double band = 1e-9 * (std::fabs(x) + std::fabs(y));
    int sign = static_cast<int>(d > band) - static_cast<int>(d < -band);
    if (sign == 0) {
      const double ex = fa->Value(), ey = fb->Value();
      sign = static_cast<int>(ex > ey) - static_cast<int>(ex < ey);
    }
    return sign;
  }
  const double x = SlotValue(st, c.a), y = SlotValue(st, c.b);
  return static_cast<int>(x > y) - static_cast<int>(x < y);
}

void ExternalStrategy::UpdateIndicators(SymState& st, size_t i) {
  const BarSeries& b = *series_;
  for (size_t k = 0; k < st.slots.size(); ++k) {
    Slot& slot = st.slots[k];
    const IndicatorDef& d = defs_[k];
    const double x = SourceOf(b, d.source, i);
    switch (d.kind) {
      case IndicatorKind::kSma: std::get_if<Sma>(&slot.ind)->Update(x); break;
      case IndicatorKind::kEma: std::get_if<Ema>(&slot.ind)->Update(x); break;
      case IndicatorKind::kAtr: std::get_if<Atr>(&slot.ind)->Update(b.high[i], b.low[i], b.close[i]); break;
      case IndicatorKind::kRsi: std::get_if<Rsi>(&slot.ind)->Update(x); break;
      case IndicatorKind::kHighest:
        std::get_if<RollingExtreme<true>>(&slot.ind)->Push(static_cast<int64_t>(i), x);
        break;
      case IndicatorKind::kLowest:
        std::get_if<RollingExtreme<false>>(&slot.ind)->Push(static_cast<int64_t>(i), x);
        break;
      case IndicatorKind::kCrossover: {
        CrossState& c = *std::get_if<CrossState>(&slot.ind);
        c.value = 0;
        if (SlotReady(st, c.a) && SlotReady(st, c.b)) {
          // backtrader's CrossOver: a cross when the sign differs from the last non-zero one.
          const int sign = CrossSign(st, c);
          c.value = static_cast<int>((sign > 0) & (c.last_sign < 0)) -
                    static_cast<int>((sign < 0) & (c.last_sign > 0));
          c.last_sign = sign != 0 ? sign : c.last_sign;
        }
        break;
      }
    }
    ++slot.count;
  }
}

bool ExternalStrategy::SlotReady(const SymState& st, int id) const {
  const Slot& slot = st.slots[static_cast<size_t>(id)];
  const IndicatorDef& d = defs_[static_cast<size_t>(id)];
  switch (d.kind) {
    case IndicatorKind::kSma: return std::get_if<Sma>(&slot.ind)->ready();
    case IndicatorKind::kEma: return std::get_if<Ema>(&slot.ind)->ready();
    case IndicatorKind::kAtr: return std::get_if<Atr>(&slot.ind)->ready();
    case IndicatorKind::kRsi: return std::get_if<Rsi>(&slot.ind)->ready();
    case IndicatorKind::kHighest:
    case IndicatorKind::kLowest: return slot.count >= d.period;
    case IndicatorKind::kCrossover: {
      const CrossState& c = *std::get_if<CrossState>(&slot.ind);
      return SlotReady(st, c.a) && SlotReady(st, c.b);
    }
  }
  return false;
}

double ExternalStrategy::SlotValue(const SymState& st, int id) const {
  if (!SlotReady(st, id)) return defs_[static_cast<size_t>(id)].kind == IndicatorKind::kCrossover ? 0 : NAN;
  const Slot& slot = st.slots[static_cast<size_t>(id)];
  switch (defs_[static_cast<size_t>(id)].kind) {
    case IndicatorKind::kSma: return std::get_if<Sma>(&slot.ind)->Value();
    case IndicatorKind::kEma: return std::get_if<Ema>(&slot.ind)->value();
    case IndicatorKind::kAtr: return std::get_if<Atr>(&slot.ind)->value();
    case IndicatorKind::kRsi: return std::get_if<Rsi>(&slot.ind)->value();
    case IndicatorKind::kHighest: return std::get_if<RollingExtreme<true>>(&slot.ind)->Value();
    case IndicatorKind::kLowest: return std::get_if<RollingExtreme<false>>(&slot.ind)->Value();
    case IndicatorKind::kCrossover: return std::get_if<CrossState>(&slot.ind)->value;
  }
  return NAN;
}

double ExternalStrategy::IndicatorValue(int id) const {
  if (series_ == nullptr || id < 0 || static_cast<size_t>(id) >= defs_.size()) return NAN;
  return SlotValue(states_[sym_], id);
}

bool ExternalStrategy::IndicatorReady(int id) const {
  if (series_ == nullptr || id < 0 || static_cast<size_t>(id) >= defs_.size()) return false;
  return SlotReady(states_[sym_], id);
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

std::string ExternalStrategy::Price(double v) const { return Fixed(v, states_[sym_].decimals); }

void ExternalStrategy::LogBar(LogLevel level, const std::string& text) {
  ctx_.log.Bar(level, series_->time[i_], ctx_.data.symbols[sym_].symbol, text);
}

void ExternalStrategy::ExitEvent(const Trade& t, const Position& before, absl::string_view why) {
  if (ctx_.log.Wants(LogLevel::kInfo)) {
    LogBar(LogLevel::kInfo, absl::StrCat("EXIT ", SideName(t.side), " #", t.id, " at ",
                                         Price(t.exit_price), " (", ExitReasonName(t.exit_reason),
                                         "), pnl ", Fixed(t.pnl, 2)));
  }
  Tracer& tr = ctx_.tracer;
  if (tr.Wants(TraceKind::kEvent)) {
    JsonWriter& w = tr.BeginRow(TraceSection::kPosition, TraceKind::kEvent);
    w.Str("event", "exit").Str("reason", ExitReasonName(t.exit_reason))
        .Str("side", SideName(t.side)).Int("trade_id", t.id).Num("price", t.exit_price)
        .Num("entry_price", t.entry_price);
    if (before.has_stop) w.Num("stop", before.stop);
    if (before.has_target) w.Num("target", before.target);
    w.Num("pnl", t.pnl).Str("why", why);
    tr.EndRow();
    NoteEvent(absl::StrCat("exit_", ExitReasonName(t.exit_reason)),
              absl::StrCat("exit ", SideName(t.side), " by ", ExitReasonName(t.exit_reason), " at ",
                           Price(t.exit_price)));
  }
  FillInfo f;
  f.sym = sym_;
  f.bar_index = bar_index();
  f.time = series_->time[i_];
  f.entry = false;
  f.side = t.side;
  f.price = t.exit_price;
  f.size = t.size;
  f.trade_id = t.id;
  f.exit_reason = t.exit_reason;
  f.pnl = t.pnl;
  TellFill(f);
}

void ExternalStrategy::FillPending(size_t sym, SymState& st, size_t i) {
  Broker& broker = ctx_.broker;
  OrderRequest o = std::move(*st.pending);
  st.pending.reset();
  const int64_t bi = bar_index(), ts = series_->time[i];
  const double open = series_->open[i];
  const auto sym32 = static_cast<uint32_t>(sym);
  const Position pos = broker.position(sym);
  if (o.target == OrderRequest::Target::kFlat) {
    if (!pos.open) return;
    // A market order at this bar's open (the decision came on the previous close).
    const double fill = pos.side == Side::kLong ? broker.SellPrice(sym, open)
                                                : broker.BuyPrice(sym, open);
    const Trade& t = broker.Close(sym, fill, ExitReason::kSignal, bi, ts);
    ctx_.reasons.Add(Reason::kExitSignal, sym32, bi, ts);
    ExitEvent(t, pos, "closed by the strategy at the open");
    return;
  }
  const Side side = o.target == OrderRequest::Target::kLong ? Side::kLong : Side::kShort;
  if (pos.open && pos.side == side) return;  // already at the target
  // Market order at this bar's open (cheat-on-open off).
  const double fill = side == Side::kLong ? broker.BuyPrice(sym, open) : broker.SellPrice(sym, open);
  if (pos.open) {
    // Reversal: the opposite trade closes at the same fill as the new one opens.
    const Trade& t = broker.Close(sym, fill, ExitReason::kReversal, bi, ts);
    ctx_.reasons.Add(Reason::kExitReversal, sym32, bi, ts);
    ExitEvent(t, pos, "reversed by the strategy's order");
  }
  // An entry whose fill is at or beyond its stop would be stopped out at once: skipped.
  if (o.stop && (side == Side::kLong ? fill <= *o.stop : fill >= *o.stop)) {
    ctx_.reasons.Add(Reason::kEntrySkipped, sym32, bi, ts);
    const std::string text = absl::StrCat("entry ", SideName(side), " skipped: fill ", Price(fill),
                                          " at or beyond the stop ", Price(*o.stop));
    LogBar(LogLevel::kWarning, text);
    if (ctx_.tracer.Wants(TraceKind::kEvent)) {
      ctx_.tracer.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
          .Str("event", "entry_skipped").Str("side", SideName(side)).Str("reason", text)
          .Num("bid_open", open).Num("fill", fill).Num("stop", *o.stop);
      ctx_.tracer.EndRow();
      NoteEvent("entry_skipped", text);
    }
    return;
  }
  const std::string& why = o.reason.empty() ? std::string("signal") : o.reason;
  const Position& opened =
      broker.Open(sym, side, fill, o.size, o.stop, o.take_profit, bi, ts, why);
  ctx_.reasons.Add(Reason::kEntryFilled, sym32, bi, ts);
  if (ctx_.log.Wants(LogLevel::kInfo)) {
    LogBar(LogLevel::kInfo, absl::StrCat("ENTRY ", SideName(side), " #", opened.trade_id, " ",
                                         o.size, " at ", Price(fill), " (", why, ")"));
  }
  if (ctx_.tracer.Wants(TraceKind::kEvent)) {
    JsonWriter& w = ctx_.tracer.BeginRow(TraceSection::kOrders, TraceKind::kEvent);
    w.Str("event", "entry_filled").Str("side", SideName(side)).Int("trade_id", opened.trade_id)
        .Num("bid_open", open).Num("price", fill).Num("size", o.size);
    if (o.stop) w.Num("stop", *o.stop);
    if (o.take_profit) w.Num("target", *o.take_profit);
    w.Str("signal", why);
    ctx_.tracer.EndRow();
    NoteEvent("entry_filled",
              absl::StrCat("entry ", SideName(side), " at ", Price(fill), " (", why, ")"));
  }
  FillInfo f;
  f.sym = sym;
  f.bar_index = bi;
  f.time = ts;
  f.entry = true;
  f.side = side;
  f.price = fill;
  f.size = o.size;
  f.trade_id = opened.trade_id;
  TellFill(f);
}

void ExternalStrategy::CheckExit(size_t sym, size_t i) {
  Broker& broker = ctx_.broker;
  const BarSeries& b = *series_;
  auto exit = broker.ExitFor(sym, b.open[i], b.high[i], b.low[i]);
  if (!exit) return;
  const Position pos = broker.position(sym);
  const int64_t bi = bar_index(), ts = b.time[i];
  const Trade& t = broker.Close(sym, exit->price, exit->reason, bi, ts);
  ctx_.reasons.Add(ExitReasonCode(exit->reason), static_cast<uint32_t>(sym), bi, ts);
  std::string why;
  switch (exit->reason) {
    case ExitReason::kStopGap:
      why = absl::StrCat("opened at ", Price(b.open[i]), " beyond the stop ", Price(pos.stop));
      break;
    case ExitReason::kStop:
      why = absl::StrCat(pos.side == Side::kLong ? "low " : "high ",
                         Price(pos.side == Side::kLong ? b.low[i] : b.high[i]),
                         " reached the stop ", Price(pos.stop));
      break;
    default:
      why = absl::StrCat(pos.side == Side::kLong ? "high " : "low ",
                         Price(pos.side == Side::kLong ? b.high[i] : b.low[i]),
                         " reached the target ", Price(pos.target));
  }
  ExitEvent(t, pos, why);
}

void ExternalStrategy::SignalOrder(size_t sym, SymState& st, size_t i) {
  const SignalArrays& s = *st.signals;
  const bool e = s.entries != nullptr && s.entries[i] != 0;
  const bool se = s.short_entries != nullptr && s.short_entries[i] != 0;
  const bool x = s.exits != nullptr && s.exits[i] != 0;
  const bool sx = s.short_exits != nullptr && s.short_exits[i] != 0;
  if (!(e | se | x | sx)) return;
  if (e && se) {
    Fail(absl::InvalidArgumentError(absl::StrCat("signals: entries and short_entries are both set "
                                                 "at bar ", bar_index(), " of ",
                                                 ctx_.data.symbols[sym].symbol)));
    return;
  }
  OrderRequest o;
  if (e || se) {
    o.target = e ? OrderRequest::Target::kLong : OrderRequest::Target::kShort;
    o.size = s.size != nullptr ? s.size[i] : s.size_value;
    if (s.stop != nullptr && !std::isnan(s.stop[i])) o.stop = s.stop[i];
    if (s.take_profit != nullptr && !std::isnan(s.take_profit[i])) o.take_profit = s.take_profit[i];
    o.reason = e ? s.entry_reason : s.short_entry_reason;
  } else {
    const Position& p = ctx_.broker.position(sym);
    if (!p.open || !((x && p.side == Side::kLong) || (sx && p.side == Side::kShort))) return;
    o.target = OrderRequest::Target::kFlat;
    o.reason = s.exit_reason;
  }
  absl::Status status = Order(sym, std::move(o));
  if (!status.ok()) Fail(std::move(status));
}

void ExternalStrategy::EndOfData(size_t sym, SymState& st, size_t i) {
  Broker& broker = ctx_.broker;
  const BarSeries& b = *series_;
  const int64_t bi = bar_index(), ts = b.time[i];
  Tracer& tr = ctx_.tracer;
  if (st.pending) {
    ctx_.reasons.Add(Reason::kEntryDropped, static_cast<uint32_t>(sym), bi, ts);
    if (ctx_.log.Wants(LogLevel::kInfo)) {
      LogBar(LogLevel::kInfo, "order dropped: no bar left to fill it");
    }
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
          .Str("event", "entry_dropped").Str("reason", "end of data: no next bar to fill at");
      tr.EndRow();
      NoteEvent("entry_dropped", "order dropped: end of data, no next bar to fill at");
    }
    st.pending.reset();
  }
  if (!broker.flat(sym)) {
    const Position p = broker.position(sym);
    // End of data: close at the last close as a market order.
    const double fill = p.side == Side::kLong ? broker.SellPrice(sym, b.close[i])
                                              : broker.BuyPrice(sym, b.close[i]);
    const Trade& t = broker.Close(sym, fill, ExitReason::kEndOfData, bi, ts);
    ctx_.reasons.Add(Reason::kExitEndOfData, static_cast<uint32_t>(sym), bi, ts);
    ExitEvent(t, p, "end of data: closed at the last close");
  }
}

absl::Status ExternalStrategy::Order(size_t sym, OrderRequest order) {
  if (!in_bar_) return absl::FailedPreconditionError("orders are given on a bar (on_bar, on_fill)");
  if (sym >= states_.size()) return absl::InvalidArgumentError("order: no such symbol");
  if (order.target != OrderRequest::Target::kFlat && !(order.size > 0 && std::isfinite(order.size))) {
    return absl::InvalidArgumentError(absl::StrCat("size: must be > 0, got ", order.size));
  }
  if (order.stop && !std::isfinite(*order.stop)) {
    return absl::InvalidArgumentError("stop: must be a finite price");
  }
  if (order.take_profit && !std::isfinite(*order.take_profit)) {
    return absl::InvalidArgumentError("target: must be a finite price");
  }
  const int64_t ts = series_->time[i_];
  if (!order.reason.empty()) {
    ctx_.reasons.Add(order.reason, "", static_cast<uint32_t>(sym), bar_index(), ts);
  }
  Tracer& tr = ctx_.tracer;
  if (tracing_ && tr.Wants(TraceKind::kEvent)) {
    const absl::string_view target = order.target == OrderRequest::Target::kLong    ? "long"
                                     : order.target == OrderRequest::Target::kShort ? "short"
                                                                                    : "flat";
    JsonWriter& w = tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent);
    w.Str("event", "order").Str("target", target);
    if (order.target != OrderRequest::Target::kFlat) w.Num("size", order.size);
    if (order.stop) w.Num("stop", *order.stop);
    if (order.take_profit) w.Num("target_price", *order.take_profit);
    w.Str("reason", order.reason).Str("fills", "next bar's open");
    tr.EndRow();
    NoteEvent(order.reason.empty() ? absl::string_view("order") : absl::string_view(order.reason),
              absl::StrCat("order: ", target, order.reason.empty() ? "" : " (", order.reason,
                           order.reason.empty() ? "" : ")", " for the next open"));
  }
  states_[sym].pending = std::move(order);
  return absl::OkStatus();
}

double ExternalStrategy::PositionSize(size_t sym) const {
  const Position& p = ctx_.broker.position(sym);
  if (!p.open) return 0;
  return p.side == Side::kLong ? p.size : -p.size;
}

absl::Status ExternalStrategy::SetSignals(size_t sym, SignalArrays signals) {
  if (sym >= states_.size()) return absl::InvalidArgumentError("signals: no such symbol");
  if (started_) return absl::FailedPreconditionError("signals are set before the first bar");
  states_[sym].signals = std::move(signals);
  return absl::OkStatus();
}

void ExternalStrategy::Log(LogLevel level, absl::string_view text) {
  if (in_bar_) {
    if (ctx_.log.Wants(level)) LogBar(level, std::string(text));
    return;
  }
  ctx_.observer.OnLog(level, text);
}

void ExternalStrategy::CountReason(absl::string_view code, absl::string_view description) {
  if (!in_bar_) return;
  ctx_.reasons.Add(code, description, static_cast<uint32_t>(sym_), bar_index(),
                   series_->time[i_]);
}

bool ExternalStrategy::WantsTrace(TraceKind kind) {
  return tracing_ && in_bar_ && ctx_.tracer.Wants(kind);
}

JsonWriter& ExternalStrategy::BeginTraceRow(TraceSection section, TraceKind kind) {
  return ctx_.tracer.BeginRow(section, kind);
}

void ExternalStrategy::EndTraceRow() { ctx_.tracer.EndRow(); }

void ExternalStrategy::NoteCheck(bool passed, absl::string_view reason, absl::string_view code) {
  had_check_ = true;
  if (!passed && failed_reason_.empty() && failed_code_.empty()) {
    failed_reason_ = std::string(reason);
    failed_code_ = std::string(code);
  }
}

void ExternalStrategy::NoteEvent(absl::string_view code, absl::string_view text) {
  if (verdict_code_.empty()) verdict_code_ = std::string(code);
  Append(&verdict_, text);
}

void ExternalStrategy::SetVerdict(absl::string_view text, absl::string_view code) {
  user_verdict_ = std::string(text);
  user_code_ = std::string(code);
}

void ExternalStrategy::TraceVerdict(size_t sym) {
  Tracer& tr = ctx_.tracer;
  // The verdict row is a value row, but kept on every bar that had an event.
  if (!(tr.bar_had_event() ? tr.Wants(TraceKind::kEvent) : tr.Wants(TraceKind::kValue))) return;
  std::string verdict = verdict_;
  if (!user_verdict_.empty()) Append(&verdict, user_verdict_);
  if (verdict.empty()) {
    verdict = !failed_reason_.empty() ? absl::StrCat("no trade: ", failed_reason_)
              : had_check_            ? std::string("no trade: every check passed")
                                      : std::string("no trade");
  }
  const std::string& code = !verdict_code_.empty() ? verdict_code_
                            : !user_code_.empty()  ? user_code_
                            : !failed_code_.empty() ? failed_code_
                                                    : std::string("no_signal");
  const Position& p = ctx_.broker.position(sym);
  tr.BeginRow(TraceSection::kPosition, TraceKind::kValue)
      .Str("verdict", verdict).Str("code", code)
      .Str("position", p.open ? SideName(p.side) : "flat")
      .Approx("equity", ctx_.broker.Equity());
  tr.EndRow();
}

void ExternalStrategy::Plot(absl::string_view name, double value) {
  if (!in_bar_) return;
  SymbolResult& out = ctx_.result.symbols[sym_];
  const LinePoint point{series_->time[i_], value};
  if (name == "ema") {
    out.ema.push_back(point);
    return;
  }
  for (NamedLine& line : out.lines) {
    if (line.name == name) {
      line.points.push_back(point);
      return;
    }
  }
  out.lines.push_back(NamedLine{std::string(name), {point}});
}

void ExternalStrategy::AddZone(Zone zone) {
  size_t sym = sym_;
  if (zone.symbol.empty()) {
    zone.symbol = ctx_.data.symbols[sym].symbol;
  } else {
    for (size_t s = 0; s < states_.size(); ++s) {
      if (ctx_.data.symbols[s].symbol == zone.symbol) sym = s;
    }
  }
  ctx_.result.symbols[sym].zones.push_back(std::move(zone));
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

void ExternalStrategy::AddNote(OrderSide side, double price, absl::string_view text) {
  if (!in_bar_ || !ctx_.markers) return;
  Marker m;
  m.symbol = ctx_.data.symbols[sym_].symbol;
  m.time = series_->time[i_];
  m.side = side;
  m.kind = MarkerKind::kNote;
  m.price = price;
  m.reason = std::string(text);
  ctx_.result.markers.push_back(std::move(m));
}

}  // namespace backtest::engine
