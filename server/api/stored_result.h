// A finished job's stored result, read for GetResult: the RunOutput of its StoredResult
// (backtest.store.v1, any stored format; rows of earlier versions, runner frames, read as one)
// and, per symbol, a ResultView of its candles, EMA and equity as columns, its trades and markers
// as tables.
//
// Not thread-safe; owns everything its views point into.
#ifndef BACKTEST_SERVER_API_STORED_RESULT_H_
#define BACKTEST_SERVER_API_STORED_RESULT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backtest/runner/v1/runner.pb.h"
#include "backtest/store/v1/stored_result.pb.h"
#include "db/result_store.h"
#include "server/api/result_conversion.h"

namespace backtest::api {

// A dataset a result refers to, decoded (plain columns of one length): its hash and candles, and
// those candles whole as decimal columns when they are kept (else null).
struct DatasetCandles {
  std::string hash;
  std::shared_ptr<const backtest::runner::v1::CandleColumns> candles;
  std::shared_ptr<const CandleDecimals> decimals;
};

class StoredResult {
 public:
  // What of a result an answer needs in View()'s tables (trades, markers) and, for format 4,
  // decoded (the rest is left as columns; formats 1-3 are otherwise read whole).
  struct Needs {
    bool trades = true;
    bool markers = true;
    bool equity = true;
  };

  // Parses a stored result record with the datasets its series refer to, in their order (results
  // format 4; none for formats 1-3, which carry their candles). DataLoss naming the job when it
  // cannot be read (an unknown format, a malformed message or column, candle columns of
  // different lengths, a dataset missing or not the one the series names).
  static absl::StatusOr<StoredResult> Parse(const db::ResultRecord& record,
                                            const std::vector<DatasetCandles>& datasets = {});
  // The same with the record's bytes given apart (read in place: ResultStore::Read).
  static absl::StatusOr<StoredResult> Parse(const db::ResultRecord& record, absl::string_view data,
                                            const std::vector<DatasetCandles>& datasets,
                                            const Needs& needs);

  const backtest::runner::v1::RunOutput& output() const { return stored_.output(); }

  // The view of the series at `index` (0 ≤ index < output().series_size()).
  ResultView View(int index) const;

 private:
  // Candles, EMA and equity of a result of format 1 (a message per point), as columns.
  struct Columns {
    std::vector<int64_t> time;
    std::vector<double> open, high, low, close, volume;
    std::vector<int64_t> ema_time;
    std::vector<double> ema_value;
  };

  // Format 4: trades, markers and equity from their columns and pieces.
  absl::Status ReadColumns(const Needs& needs, backtest::runner::v1::RunOutput* out);

  backtest::store::v1::StoredResult stored_;
  bool points_ = false;          // format 1
  std::vector<Columns> series_;  // format 1: per series
  // Format 4: each series' candles, from its dataset.
  std::vector<std::shared_ptr<const backtest::runner::v1::CandleColumns>> candles_;
  std::vector<std::shared_ptr<const CandleDecimals>> decimals_;  // format 4: each series', or null
  int64_t trade_count_ = -1;  // format 4: the trades' count (they may be left undecoded)
  // The trades and markers an answer needs (pointing into stored_'s words).
  TradeTable trades_;
  MarkerTable markers_;
  bool own_equity_ = false;  // formats 1 and 4 (pieces): the equity is in equity_*_
  // Format 4: the equity's times are the first symbol's candles' (equity_time_ left empty).
  bool equity_at_candles_ = false;
  std::vector<int64_t> equity_time_;
  std::vector<double> equity_value_;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_STORED_RESULT_H_
