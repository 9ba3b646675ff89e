#include "server/engine/equity_curve.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace backtest::engine {
namespace {

std::shared_ptr<const BarSeries> Bars(const std::vector<double>& closes) {
  auto bars = std::make_shared<BarSeries>();
  for (size_t k = 0; k < closes.size(); ++k) {
    const double c = closes[k];
    bars->Append(1000 + 60 * static_cast<int64_t>(k), c, c, c, c, 0);
  }
  return bars;
}

std::vector<LinePoint> Points(const EquityCurve& curve) {
  std::vector<LinePoint> out;
  curve.ForEach([&](LinePoint p) { out.push_back(p); });
  return out;
}

TEST(EquityCurveTest, PiecesMarkClosesAndMergeWhileMarkedAlike) {
  // Bars 0-1 are warm-up; the curve starts at bar 2.
  auto bars = Bars({9, 9, 10, 11, 12, 13, 14, 15});
  EquityCurve curve;
  curve.UsePieces(bars, 4);
  using Kind = EquityPiece::Kind;
  curve.AppendPiece({.first = 2, .count = 1, .base = 100});                   // flat
  curve.AppendPiece({.first = 3, .count = 2, .kind = Kind::kLong, .base = 100,
                     .entry = 10.5, .size = 2});                               // long from 10.5
  curve.AppendPiece({.first = 5, .count = 0, .base = 7});                     // empty: ignored
  curve.AppendPiece({.first = 5, .count = 1, .kind = Kind::kLong, .base = 100,
                     .entry = 10.5, .size = 2});                               // the same long
  curve.AppendPiece({.first = 6, .count = 2, .kind = Kind::kShort, .base = 105,
                     .entry = 14, .size = 1, .spread = 0.5});                  // short from 14
  EXPECT_EQ(curve.pieces(), 3u);
  ASSERT_EQ(curve.size(), 6u);
  const std::vector<LinePoint> expected = {{1120, 100}, {1180, 101},   {1240, 103},
                                           {1300, 105}, {1360, 104.5}, {1420, 103.5}};
  const std::vector<LinePoint> read = Points(curve);
  ASSERT_EQ(read.size(), expected.size());
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(read[k].time, expected[k].time) << k;
    EXPECT_EQ(read[k].value, expected[k].value) << k;
    EXPECT_EQ(curve[k].time, expected[k].time) << k;
    EXPECT_EQ(curve[k].value, expected[k].value) << k;
  }
  EXPECT_EQ(curve.front().value, 100);
  EXPECT_EQ(curve.back().value, 103.5);
  EXPECT_TRUE(curve.points().empty());
}

TEST(EquityCurveTest, PointsAreKeptAsGiven) {
  EquityCurve curve;
  EXPECT_TRUE(curve.empty());
  curve.Append({5, 1.5});
  curve.Append({9, -2});
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_EQ(curve.pieces(), 0u);
  EXPECT_EQ(curve[1].value, -2);
  EXPECT_EQ(Points(curve).front().time, 5);
}

}  // namespace
}  // namespace backtest::engine
