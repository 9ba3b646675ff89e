// Packed columns of short decimals (GetResultRequest.decimal_columns): values that are n_i / 10^d
// bit for bit for small integers n_i, sent as the integers' deltas (backtest.v1.DecimalColumn),
// and a dataset's candle columns encoded so once, for every answer on that dataset.
#ifndef BACKTEST_SERVER_API_DECIMAL_COLUMN_H_
#define BACKTEST_SERVER_API_DECIMAL_COLUMN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backtest/runner/v1/runner.pb.h"
#include "backtest/v1/result.pb.h"

namespace backtest::api {

// Digits after the point a DecimalColumn carries at most.
inline constexpr int kMaxDecimals = 8;

// The integers n_i of `values` at `digits` into `out`, when every value is n_i / 10^digits bit
// for bit (IEEE 754 division, as a client does it) with |n_i| < 2^51; false when one is not.
// Each value is checked alone, so what holds for a column holds for any run of it.
bool ToIntegers(std::span<const double> values, int digits, std::vector<int64_t>* out);

// The fewest digits, from 0 to `below` - 1, at which `values` are such decimals, their integers
// into `out`; nullopt when there are none.
std::optional<int> FewestDigits(std::span<const double> values, int below,
                                std::vector<int64_t>* out);

// `integers` as `out`'s deltas over `decimals` digits, in the narrowest width that holds every
// delta.
void PutDecimal(std::span<const int64_t> integers, int decimals, backtest::v1::DecimalColumn* out);

// The integers [first, end) of `column` (its base plus the running sum of its deltas).
std::vector<int64_t> DecimalIntegers(const backtest::v1::DecimalColumn& column, size_t first,
                                     size_t end);

// A dataset's candle columns, whole, as the packed layout's decimal columns: what a
// decimal_columns answer of all its candles sends (and where a window of them starts from).
// Immutable once built; kept beside the decoded candles (DatasetCache).
struct CandleDecimals {
  // The candles' value columns, in the order of ResultView's and PackedSeries' columns.
  static constexpr size_t kOpen = 0, kHigh = 1, kLow = 2, kClose = 3, kVolume = 4, kColumns = 5;

  backtest::v1::DecimalColumn time;
  // Each value column at its fewest digits; nullopt when it is no decimal of at most
  // kMaxDecimals digits.
  std::array<std::optional<backtest::v1::DecimalColumn>, kColumns> values;

  static CandleDecimals Of(const backtest::runner::v1::CandleColumns& candles);
  // Bytes held (the deltas).
  size_t bytes() const;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_DECIMAL_COLUMN_H_
