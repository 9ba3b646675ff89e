// Trades and markers as the packed layout's columns (GetResultRequest.packed_trades): each field
// of the answer's trades and markers a column (backtest.v1.TradeColumns, MarkerColumns), whose
// values are the Trade and Marker messages' bit for bit, in a fraction of their bytes.
#ifndef BACKTEST_SERVER_API_PACKED_TRADES_H_
#define BACKTEST_SERVER_API_PACKED_TRADES_H_

#include <cstddef>
#include <span>

#include "backtest/v1/result.pb.h"
#include "server/api/result_conversion.h"

namespace backtest::api {

// Trades `rows` of `t`, in that order, as columns; their numbers as decimal columns where
// `decimal_columns` and they are short decimals (else doubles).
void PackTrades(const TradeTable& t, std::span<const size_t> rows, bool decimal_columns,
                backtest::v1::TradeColumns* out);

// Markers `rows` of `m`, in that order, as columns; prices as PackTrades' numbers.
void PackMarkers(const MarkerTable& m, std::span<const size_t> rows, bool decimal_columns,
                 backtest::v1::MarkerColumns* out);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_PACKED_TRADES_H_
