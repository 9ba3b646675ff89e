// A stored result (backtest.runner.v1.RunOutput, as runners write it) as the API's
// GetResultResponse: the window a request asks for is cut (and its candles merged) here, before
// anything is encoded, and written as a message per point or as packed columns (doubles, or
// integers for columns of short decimals when asked: decimal_columns). The stored
// messages keep times and counts as int64, so results of every format read back unchanged; the
// API's write times as double and counts as int32, which JSON writes as numbers (docs/api.md).
#ifndef BACKTEST_SERVER_API_RESULT_CONVERSION_H_
#define BACKTEST_SERVER_API_RESULT_CONVERSION_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backtest/runner/v1/runner.pb.h"
#include "backtest/v1/backtest_service.pb.h"
#include "server/api/decimal_column.h"

namespace backtest::api {

// What a GetResult asks for, checked (ParseResultQuery).
struct ResultQuery {
  // The parts of an answer (GetResultRequest.parts).
  enum Part : uint32_t {
    kCandles = 1,
    kEma = 2,
    kEquity = 4,
    kZones = 8,
    kMarkers = 16,
    kTrades = 32,
    kStats = 64,
    kAllParts = 127,
  };
  uint32_t parts = kAllParts;
  bool packed = false;
  bool decimal_columns = false;  // packed only
  bool packed_trades = false;    // packed only
  int64_t max_candles = 0;  // 0: all
  double from_time = 0;     // 0: from the first candle
  double to_time = 0;       // 0: to the last
  int64_t max_points = 0;   // 0: no merging
  bool trades_in_window = false;
  int64_t trades_offset = 0;
  int64_t trades_limit = 0;  // 0: all

  bool Has(Part p) const { return (parts & p) != 0; }
};

// The request's window, layout and parts. InvalidArgument naming the field and the rule: a
// negative count, an unknown part, a time that is not a number, from_time after to_time.
absl::StatusOr<ResultQuery> ParseResultQuery(const backtest::v1::GetResultRequest& request);

// A line (EMA, equity): point i is (time[i], value[i]), times ascending.
struct LineView {
  std::span<const int64_t> time;
  std::span<const double> value;
};

// A run's trades as columns, element i of each belonging to trade i, in the result's order (exit
// order). The words point into storage that the owner keeps.
struct TradeTable {
  std::vector<int64_t> id, entry_time, exit_time, bars_held, entry_bar, exit_bar;
  std::vector<double> entry_price, exit_price, size, stop, target, pnl, return_pct, commission;
  std::vector<const std::string*> symbol, side, exit_reason;

  size_t count() const { return id.size(); }
  // The trades of a result stored as messages (results formats 1-3).
  static TradeTable Of(const google::protobuf::RepeatedPtrField<backtest::runner::v1::Trade>& in);
};

// A run's chart markers as columns, in the result's order; words as in TradeTable.
struct MarkerTable {
  std::vector<int64_t> time, trade_id;
  std::vector<double> price;
  std::vector<const std::string*> symbol, side, kind, reason;

  size_t count() const { return time.size(); }
  // The markers of a result stored as messages (results formats 1-3).
  static MarkerTable Of(const google::protobuf::RepeatedPtrField<backtest::runner::v1::Marker>& in);
};

// One symbol of a stored result as columns, whatever its stored format: what an answer is cut
// from. The spans point into storage that the caller keeps (server/api/stored_result.h).
struct ResultView {
  // The symbol's candles, element i of each column belonging to candle i.
  std::span<const int64_t> time;
  std::span<const double> open, high, low, close, volume;
  // Those candles' columns whole as decimal columns, when kept (a dataset's: DatasetCache);
  // else null.
  const CandleDecimals* decimals = nullptr;
  LineView ema;
  LineView equity;  // the account's, over every symbol
  const google::protobuf::RepeatedPtrField<backtest::runner::v1::Zone>* zones = nullptr;
  // The run: stats and digest.
  const backtest::runner::v1::RunOutput* output = nullptr;
  // The run's trades and markers, every symbol's (empty when the answer needs neither).
  const TradeTable* trades = nullptr;
  const MarkerTable* markers = nullptr;
  // The run's trades (the table may be left empty when the answer needs only their count).
  int64_t trade_count = 0;
  std::string symbol;
};

// A run's stored statistics as the API's (times and durations as double, counts as int32).
void ToStats(const backtest::runner::v1::Stats& in, backtest::v1::Stats* out);

// Fills `response` (but job_id, symbol and symbols) from `view` as `query` asks: the window, its
// candles merged when asked, the parts asked for, in the layout asked for.
void ToResultResponse(const ResultQuery& query, const ResultView& view,
                      backtest::v1::GetResultResponse* response);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_RESULT_CONVERSION_H_
