#include "server/engine/equity_curve.h"

#include <algorithm>

#include "server/engine/util/huge_pages.h"

namespace backtest::engine {

void EquityCurve::Reserve(size_t n) {
  points_.reserve(n);
  AdviseHugePages(points_.data(), points_.capacity() * sizeof(LinePoint));
}

LinePoint EquityCurve::operator[](size_t k) const {
  if (!bars_) return points_[k];
  // Pieces cover consecutive bars from the first piece's first: point k is bar first + k.
  const size_t bar = pieces_.front().first + k;
  auto it = std::upper_bound(pieces_.begin(), pieces_.end(), bar,
                             [](size_t b, const EquityPiece& p) { return b < p.first; });
  const EquityPiece& piece = *(it - 1);
  return LinePoint{bars_->time[bar], piece.Value(bars_->close[bar])};
}

}  // namespace backtest::engine
