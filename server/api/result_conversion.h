// A stored result (backtest.runner.v1.RunOutput, as runners write it) as the API's
// GetResultResponse. The stored messages keep times and counts as int64, so results of every
// format read back unchanged; the API's write times as double and counts as int32, which JSON
// writes as numbers (docs/api.md).
#ifndef BACKTEST_SERVER_API_RESULT_CONVERSION_H_
#define BACKTEST_SERVER_API_RESULT_CONVERSION_H_

#include <cstdint>

#include "backtest/runner/v1/runner.pb.h"
#include "backtest/v1/backtest_service.pb.h"

namespace backtest::api {

// Fills `response`'s chart data from `series` (one symbol of `out`): the last `max_candles`
// candles (0: all), with total_candles, and the EMA, equity and zones from the first of them on;
// then the run's markers, trades, stats and digest from `out`. `columns` says how the points are
// stored: as columns (results formats 2 and 3, the latter expanded by jobs::ExpandDeltaColumns)
// or as a message per point (format 1). False when the candle columns are not of one length.
bool ToResultResponse(bool columns, int64_t max_candles,
                      const backtest::runner::v1::RunOutput& out,
                      const backtest::runner::v1::SymbolSeries& series,
                      backtest::v1::GetResultResponse* response);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_RESULT_CONVERSION_H_
