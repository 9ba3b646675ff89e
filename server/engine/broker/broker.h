// The simulated broker: one account for every symbol, at most one position per symbol, market
// fills with spread and slippage, stop and target exits, commission, equity marked to market.
//
// Prices in the data are bid. Fill assumptions (each is also written where it is made):
//  * market buys (long entries, short exits) fill at bid + spread + slippage; market sells at
//    bid − slippage;
//  * a stop is a stop-market order triggered on bid: slippage applies, and a bar opening beyond
//    it fills at its open (stop_gap);
//  * a target is a limit order triggered on bid: no slippage, no price improvement;
//  * commission = rate × price × size on every fill;
//  * equity = initial + realized P&L − commission paid on open positions + open P&L, a long marked
//    at the bid close, a short at the ask close (bid + spread): what closing would cost, before
//    slippage.
// Owned by one run; not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_BROKER_BROKER_H_
#define BACKTEST_SERVER_ENGINE_BROKER_BROKER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/engine/data/market_data.h"
#include "server/engine/run_config.h"
#include "server/engine/run_result.h"

namespace backtest::engine {

struct Position {
  bool open = false;
  Side side = Side::kLong;
  double entry_price = 0;
  double size = 0;
  double stop = 0;  // meaningful when has_stop
  double target = 0;  // meaningful when has_target
  bool has_stop = false;
  bool has_target = false;
  int64_t entry_bar = 0;
  int64_t entry_time = 0;
  double entry_commission = 0;
  int64_t trade_id = 0;
};

struct ExitFill {
  ExitReason reason = ExitReason::kStop;
  double price = 0;
};

class Broker {
 public:
  // Trades and markers are appended to `trades` and `markers` (nullptr: no markers), which must
  // outlive the broker.
  Broker(const RunConfig& config, const MarketData& data, Column<Trade>* trades,
         Column<Marker>* markers);

  const Position& position(size_t sym) const { return positions_[sym]; }
  bool flat(size_t sym) const { return !positions_[sym].open; }

  // Market buy fill for a bid price: bid + spread + slippage (adverse).
  double BuyPrice(size_t sym, double bid) const { return bid + spread_[sym] + slippage_[sym]; }
  // Market sell fill: bid − slippage (adverse).
  double SellPrice(size_t sym, double bid) const { return bid - slippage_[sym]; }
  double spread(size_t sym) const { return spread_[sym]; }
  double slippage(size_t sym) const { return slippage_[sym]; }

  // Equity used for risk sizing: initial equity + realized P&L (open P&L ignored).
  double EquityForSizing() const { return initial_ + realized_; }

  // Opens a position at a fill `price` (costs already in the price). Precondition: flat(sym).
  const Position& Open(size_t sym, Side side, double price, double size,
                       std::optional<double> stop, std::optional<double> target,
                       int64_t bar_index, int64_t time, absl::string_view reason);

  // Closes the open position at a fill `price`. Precondition: !flat(sym).
  const Trade& Close(size_t sym, double price, ExitReason reason, int64_t bar_index, int64_t time);

  // The stop/target exit of the open position on a bar (open/high/low bid), if any:
  // a bar opening at or beyond the stop exits at its open (stop_gap); else a low (high for shorts)
  // reaching the stop exits at the stop; else a high (low) reaching the target exits at the target.
  // Stop before target when both are inside one bar: we cannot know which came first, and assuming
  // the worse one keeps the backtest honest.
  std::optional<ExitFill> ExitFor(size_t sym, double open, double high, double low) const;

  // Step 5: marks the symbol's position at this bar's close and counts exposure.
  void Mark(size_t sym, double close_bid) {
    const Position& p = positions_[sym];
    if (p.open) {
      // A long would sell at the bid; a short would buy at the ask (bid + spread).
      unrealized_[sym] = p.side == Side::kLong
                             ? LongPnl(close_bid, p.entry_price, p.size)
                             : ShortPnl(close_bid, p.entry_price, p.size, spread_[sym]);
      ++exposed_bars_;
    } else if (touched_[sym]) {
      ++exposed_bars_;
    }
    touched_[sym] = 0;
  }

  // Marks `count` bars of symbol `sym` on which nothing fills, in one pass: for each k, what
  // Mark(sym, close[k]) and then {time[k], Equity()} give (bit for bit), written to out[k].
  // Only for a one-symbol account (the equity then has no other symbol's open P&L to add).
  void MarkRun(size_t sym, const int64_t* time, const double* close, size_t count,
               LinePoint* out);

  // The piece of the equity curve that MarkRun(sym, …) over bars [first, first + count) makes
  // now: EquityPiece::Value(close[k]) is MarkRun's out[k].value, bit for bit.
  EquityPiece RunPiece(size_t sym, size_t first, size_t count) const {
    EquityPiece piece{.first = first, .count = count};
    const double base = initial_ + realized_ - open_commission_;
    const Position& p = positions_[sym];
    if (!p.open) {
      piece.base = MarkedEquity(base, unrealized_[sym]);
      return piece;
    }
    piece.kind = p.side == Side::kLong ? EquityPiece::Kind::kLong : EquityPiece::Kind::kShort;
    piece.base = base;
    piece.entry = p.entry_price;
    piece.size = p.size;
    piece.spread = spread_[sym];
    return piece;
  }

  // Account equity (see class comment).
  double Equity() const {
    double open_pnl = 0;
    for (double u : unrealized_) open_pnl += u;
    return initial_ + realized_ - open_commission_ + open_pnl;
  }
  double realized() const { return realized_; }
  // Symbol-bars during which a position was open (at the close, or at any time in the bar).
  int64_t exposed_bars() const { return exposed_bars_; }

 private:
  void AddMarker(size_t sym, int64_t time, OrderSide side, MarkerKind kind, double price,
                 absl::string_view reason, int64_t trade_id);

  double initial_;
  double commission_rate_;
  std::vector<std::string> symbols_;
  std::vector<double> spread_;
  std::vector<double> slippage_;
  std::vector<Position> positions_;
  std::vector<double> unrealized_;
  std::vector<char> touched_;  // a position opened or closed during the current bar
  double realized_ = 0;
  double open_commission_ = 0;
  int64_t next_trade_id_ = 1;
  int64_t exposed_bars_ = 0;
  Column<Trade>* trades_;
  Column<Marker>* markers_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_BROKER_BROKER_H_
