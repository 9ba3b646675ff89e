// The account's equity curve: one point per timestamp, after every symbol's bar.
//
// Two forms, one interface. A run of several symbols (or a traced one) stores its points. A
// one-symbol sma_cross run without a trace (the block-wise loop) stores pieces instead: the bars
// over which the account did not change (one position, no fill) are one piece — where they are
// and how a close is marked (EquityPiece::Value, the arithmetic of Broker::Mark and MarkRun, so
// the same doubles) — and their points are computed from the bars' closes when read. A 1M-bar
// sma_cross run keeps 38,804 pieces (2 MB, one a trade) instead of 1M points (16 MB that the
// kernel zeroed, the run wrote and every reader read back): 41 → 60M bars/s (docs/benchmarks.md).
#ifndef BACKTEST_SERVER_ENGINE_EQUITY_CURVE_H_
#define BACKTEST_SERVER_ENGINE_EQUITY_CURVE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "server/engine/data/bar_series.h"

namespace backtest::engine {

struct LinePoint {
  int64_t time = 0;  // UTC epoch seconds
  double value = 0;
};

// How an open position and the account are marked at a close (bid), in one place for
// Broker::Mark, Broker::MarkRun and EquityPiece::Value, which must agree bit for bit.
// A long would sell at the bid; a short would buy at the ask (bid + spread).
inline double LongPnl(double close, double entry, double size) { return (close - entry) * size; }
inline double ShortPnl(double close, double entry, double size, double spread) {
  return (entry - (close + spread)) * size;
}
// The account's equity from its base (initial + realized − open commission) and one symbol's open
// P&L, added as Broker::Equity() adds them (a sum of open P&Ls from 0).
inline double MarkedEquity(double base, double open_pnl) { return base + (0.0 + open_pnl); }

// Bars [first, first + count) of one series, marked alike.
struct EquityPiece {
  enum class Kind : uint8_t {
    kConstant,  // every point is `base` (flat, or one bar whose equity was taken as it was)
    kLong,      // base + (0.0 + (close − entry) · size): a long sells at the bid
    kShort,     // base + (0.0 + (entry − (close + spread)) · size): a short buys at the ask
  };
  size_t first = 0;
  size_t count = 0;
  Kind kind = Kind::kConstant;
  double base = 0;
  double entry = 0;
  double size = 0;
  double spread = 0;

  double Value(double close) const {
    switch (kind) {
      case Kind::kConstant:
        return base;
      case Kind::kLong:
        return MarkedEquity(base, LongPnl(close, entry, size));
      case Kind::kShort:
        return MarkedEquity(base, ShortPnl(close, entry, size, spread));
    }
    return base;
  }
};

class EquityCurve {
 public:
  // Points form (the default).
  // Room for n points (on huge pages when large: see util/huge_pages.h).
  void Reserve(size_t n);
  void Append(LinePoint p) { points_.push_back(p); }
  // The stored points (points form; empty in pieces form).
  const std::vector<LinePoint>& points() const { return points_; }

  // Switches an empty curve to pieces over `bars`, with room for `pieces` of them; each piece
  // continues the one before.
  void UsePieces(std::shared_ptr<const BarSeries> bars, size_t pieces) {
    bars_ = std::move(bars);
    pieces_.reserve(pieces);
  }
  // A piece marked like the last one extends it (a position's bars make one piece).
  void AppendPiece(const EquityPiece& piece) {
    if (piece.count == 0) return;
    piece_points_ += piece.count;
    if (!pieces_.empty()) {
      EquityPiece& last = pieces_.back();
      if (last.kind == piece.kind && last.base == piece.base && last.entry == piece.entry &&
          last.size == piece.size && last.spread == piece.spread) {
        last.count += piece.count;
        return;
      }
    }
    pieces_.push_back(piece);
  }

  size_t size() const { return bars_ ? piece_points_ : points_.size(); }
  size_t pieces() const { return pieces_.size(); }
  // Pieces form: the pieces, in order, and the series their `first` indexes (warm-up bars
  // included); null in points form.
  std::span<const EquityPiece> piece_list() const { return pieces_; }
  const BarSeries* piece_bars() const { return bars_.get(); }
  bool empty() const { return size() == 0; }
  // Point k (pieces form: a binary search over the pieces).
  LinePoint operator[](size_t k) const;
  LinePoint front() const { return (*this)[0]; }
  LinePoint back() const { return (*this)[size() - 1]; }

  // Calls f(LinePoint) for every point, in order.
  template <typename F>
  void ForEach(F&& f) const {
    if (!bars_) {
      for (const LinePoint& p : points_) f(p);
      return;
    }
    const int64_t* time = bars_->time.data();
    const double* close = bars_->close.data();
    for (const EquityPiece& piece : pieces_) {
      switch (piece.kind) {
        case EquityPiece::Kind::kConstant:
          ForEachOfKind<EquityPiece::Kind::kConstant>(piece, time, close, f);
          break;
        case EquityPiece::Kind::kLong:
          ForEachOfKind<EquityPiece::Kind::kLong>(piece, time, close, f);
          break;
        case EquityPiece::Kind::kShort:
          ForEachOfKind<EquityPiece::Kind::kShort>(piece, time, close, f);
          break;
        default:
          for (size_t j = piece.first, end = piece.first + piece.count; j < end; ++j) {
            f(LinePoint{time[j], piece.Value(close[j])});
          }
      }
    }
  }

 private:
  // One piece's points, its kind known: a copy of the piece with it fixed lets Value's switch
  // fold away and keeps its fields in registers (f may store through pointers that could alias
  // the original), for a loop a fraction of the generic one's cost (the digest's 100k points).
  template <EquityPiece::Kind kKind, typename F>
  static void ForEachOfKind(EquityPiece piece, const int64_t* time, const double* close, F& f) {
    piece.kind = kKind;
    for (size_t j = piece.first, end = piece.first + piece.count; j < end; ++j) {
      f(LinePoint{time[j], piece.Value(close[j])});
    }
  }

  std::vector<LinePoint> points_;
  std::shared_ptr<const BarSeries> bars_;
  std::vector<EquityPiece> pieces_;
  size_t piece_points_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_EQUITY_CURVE_H_
