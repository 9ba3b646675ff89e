#include "server/engine/broker/broker.h"

namespace backtest::engine {

Broker::Broker(const RunConfig& config, const MarketData& data, Column<Trade>* trades,
               Column<Marker>* markers)
    : initial_(config.initial_equity),
      commission_rate_(config.commission),
      trades_(trades),
      markers_(markers) {
  for (const SymbolData& s : data.symbols) {
    symbols_.push_back(s.symbol);
    spread_.push_back(config.spread_pips * s.pip);
    slippage_.push_back(config.slippage_pips * s.pip);
  }
  positions_.resize(symbols_.size());
  unrealized_.resize(symbols_.size(), 0.0);
  touched_.resize(symbols_.size(), 0);
}

const Position& Broker::Open(size_t sym, Side side, double price, double size,
                             std::optional<double> stop, std::optional<double> target,
                             int64_t bar_index, int64_t time, absl::string_view reason) {
  Position& p = positions_[sym];
  p.open = true;
  p.side = side;
  p.entry_price = price;
  p.size = size;
  p.has_stop = stop.has_value();
  p.stop = stop.value_or(0);
  p.has_target = target.has_value();
  p.target = target.value_or(0);
  p.entry_bar = bar_index;
  p.entry_time = time;
  // Commission on every fill: rate × notional.
  p.entry_commission = commission_rate_ * price * size;
  p.trade_id = next_trade_id_++;
  open_commission_ += p.entry_commission;
  touched_[sym] = 1;
  AddMarker(sym, time, side == Side::kLong ? OrderSide::kBuy : OrderSide::kSell,
            MarkerKind::kEntry, price, reason, p.trade_id);
  return p;
}

void Broker::AddMarker(size_t sym, int64_t time, OrderSide side, MarkerKind kind, double price,
                       absl::string_view reason, int64_t trade_id) {
  if (markers_ == nullptr) return;  // a run without markers (RunOptions::markers)
  // Built in place (no temporary to move): markers go to fresh memory a few dozen bars apart.
  Marker& m = markers_->emplace_back();
  m.symbol = symbols_[sym];
  m.time = time;
  m.side = side;
  m.kind = kind;
  m.price = price;
  m.reason.assign(reason.data(), reason.size());
  m.trade_id = trade_id;
}

const Trade& Broker::Close(size_t sym, double price, ExitReason reason, int64_t bar_index,
                           int64_t time) {
  Position& p = positions_[sym];
  const double exit_commission = commission_rate_ * price * p.size;
  const double gross = p.side == Side::kLong ? (price - p.entry_price) * p.size
                                             : (p.entry_price - price) * p.size;
  Trade& t = trades_->emplace_back();  // built in place
  t.id = p.trade_id;
  t.symbol = symbols_[sym];
  t.side = p.side;
  t.entry_time = p.entry_time;
  t.entry_price = p.entry_price;
  t.exit_time = time;
  t.exit_price = price;
  t.size = p.size;
  t.stop = p.has_stop ? p.stop : 0;
  t.target = p.has_target ? p.target : 0;
  t.commission = p.entry_commission + exit_commission;
  t.pnl = gross - t.commission;
  const double notional = p.entry_price * p.size;
  t.return_pct = notional != 0 ? t.pnl / notional * 100.0 : 0.0;
  t.exit_reason = reason;
  t.entry_bar = p.entry_bar;
  t.exit_bar = bar_index;
  t.bars_held = bar_index - p.entry_bar;
  realized_ += t.pnl;
  open_commission_ -= p.entry_commission;
  unrealized_[sym] = 0;
  touched_[sym] = 1;
  AddMarker(sym, time, p.side == Side::kLong ? OrderSide::kSell : OrderSide::kBuy,
            MarkerKind::kExit, price, ExitReasonName(reason), p.trade_id);
  p = Position{};
  return t;
}

void Broker::MarkRun(size_t sym, const int64_t* time, const double* close, size_t count,
                     LinePoint* out) {
  if (count == 0) return;
  // Equity() is (initial + realized − open commission) + (0 + unrealized): the same operations in
  // the same order, with the constant part hoisted.
  const double base = initial_ + realized_ - open_commission_;
  const Position& p = positions_[sym];
  if (!p.open) {
    // Flat: a position closed during the first bar still counts that bar as exposed.
    if (touched_[sym]) ++exposed_bars_;
    touched_[sym] = 0;
    const double equity = MarkedEquity(base, unrealized_[sym]);
    for (size_t k = 0; k < count; ++k) out[k] = LinePoint{time[k], equity};
    return;
  }
  exposed_bars_ += static_cast<int64_t>(count);
  touched_[sym] = 0;
  const double entry = p.entry_price, size = p.size;
  double u = 0;
  if (p.side == Side::kLong) {
    for (size_t k = 0; k < count; ++k) {
      u = LongPnl(close[k], entry, size);
      out[k] = LinePoint{time[k], MarkedEquity(base, u)};
    }
  } else {
    const double spread = spread_[sym];
    for (size_t k = 0; k < count; ++k) {
      u = ShortPnl(close[k], entry, size, spread);
      out[k] = LinePoint{time[k], MarkedEquity(base, u)};
    }
  }
  unrealized_[sym] = u;
}

std::optional<ExitFill> Broker::ExitFor(size_t sym, double open, double high, double low) const {
  const Position& p = positions_[sym];
  if (!p.open) return std::nullopt;
  if (p.side == Side::kLong) {
    if (p.has_stop) {
      // Gap through the stop: the stop-market order fills at the open (sell at bid − slippage).
      if (open <= p.stop) return ExitFill{ExitReason::kStopGap, SellPrice(sym, open)};
      // Stop before target when both are inside the bar.
      if (low <= p.stop) return ExitFill{ExitReason::kStop, SellPrice(sym, p.stop)};
    }
    // Target: a limit sell at the target, even when the bar opens above it (no improvement).
    if (p.has_target && high >= p.target) return ExitFill{ExitReason::kTarget, p.target};
  } else {
    if (p.has_stop) {
      // Buys pay the spread: triggers are on bid, fills at bid + spread (+ slippage for stops).
      if (open >= p.stop) return ExitFill{ExitReason::kStopGap, BuyPrice(sym, open)};
      if (high >= p.stop) return ExitFill{ExitReason::kStop, BuyPrice(sym, p.stop)};
    }
    if (p.has_target && low <= p.target) {
      return ExitFill{ExitReason::kTarget, p.target + spread_[sym]};
    }
  }
  return std::nullopt;
}

}  // namespace backtest::engine
