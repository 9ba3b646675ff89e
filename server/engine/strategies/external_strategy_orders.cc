// ExternalStrategy's orders, fills, exits and end of data (the broker's rules, docs/engine.md).
#include "server/engine/strategies/external_strategy.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace backtest::engine {
namespace {

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

}  // namespace

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
  OpenEntry(sym, o, side, fill, open, bi, ts);
}

void ExternalStrategy::OpenEntry(size_t sym, const OrderRequest& o, Side side, double fill,
                                 double open, int64_t bi, int64_t ts) {
  Broker& broker = ctx_.broker;
  const auto sym32 = static_cast<uint32_t>(sym);
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

}  // namespace backtest::engine
