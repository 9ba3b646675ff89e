// Trades and markers as the packed layout's columns (GetResultRequest.packed_trades): each field
// of the answer's trades and markers a column (backtest.v1.TradeColumns, MarkerColumns), whose
// values are the Trade and Marker messages' bit for bit, in a fraction of their bytes; and those
// columns back into the messages, as a client rebuilds them (the Python client, natively).
#ifndef BACKTEST_SERVER_API_PACKED_TRADES_H_
#define BACKTEST_SERVER_API_PACKED_TRADES_H_

#include <cstddef>
#include <span>

#include "absl/status/status.h"
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

// The rows of `columns` as Trade messages, appended to `out`. InvalidArgument naming a
// malformed column (a bad width or digit count, not a value per row, an index past the words).
absl::Status UnpackTrades(const backtest::v1::TradeColumns& columns,
                          google::protobuf::RepeatedPtrField<backtest::v1::Trade>* out);

// The same for markers.
absl::Status UnpackMarkers(const backtest::v1::MarkerColumns& columns,
                           google::protobuf::RepeatedPtrField<backtest::v1::Marker>* out);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_PACKED_TRADES_H_
