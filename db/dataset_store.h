// Datasets: the market data jobs ran on, stored once per distinct content (a symbol's prepared
// series, keyed by its hash), and which jobs refer to them (migration 6). A dataset that no job
// refers to any more is removed with the last reference, by the database itself (the trigger
// job_datasets_release: deleting a job takes its references, and the last one its dataset).
//
// Not thread-safe: one connection, one thread at a time. Statements are compiled once per store.
#ifndef BACKTEST_DB_DATASET_STORE_H_
#define BACKTEST_DB_DATASET_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace backtest::db {

// Encoding of DatasetRecord::data: a backtest.runner.v1.CandleColumns, DeltaColumns where exact.
inline constexpr int kDatasetFormatColumns = 1;

struct DatasetRecord {
  int64_t id = 0;
  std::string hash;  // engine::DatasetHash of the series
  std::string source;
  std::string symbol;
  std::string timeframe;
  int64_t first_time = 0;  // epoch seconds
  int64_t last_time = 0;
  int64_t bars = 0;
  int format = kDatasetFormatColumns;
  std::string data;
  int64_t created_ms = 0;
};

// A dataset's id and hash.
struct DatasetKey {
  int64_t id = 0;
  std::string hash;
};

class DatasetStore {
 public:
  explicit DatasetStore(SQLite::Database& db);
  ~DatasetStore();
  DatasetStore(const DatasetStore&) = delete;
  DatasetStore& operator=(const DatasetStore&) = delete;

  // The datasets last used with this source, symbol and timeframe, the latest first, at most
  // `limit`: what a job's runner may find its data to be.
  absl::StatusOr<std::vector<DatasetKey>> Candidates(absl::string_view source,
                                                     absl::string_view symbol,
                                                     absl::string_view timeframe, int limit);

  // Keeps `ids` for a job while it runs (pins), so none of them goes before its result refers to
  // it. FailedPrecondition when the job or a dataset does not exist.
  absl::Status Pin(absl::string_view job_id, std::span<const int64_t> ids);

  // Drops the job's pins; a dataset that nothing else refers to goes with its pin.
  absl::Status Unpin(absl::string_view job_id);

  // Stores `record` (its id ignored) unless a dataset with its hash exists, and marks it used at
  // `record.created_ms`; returns the id either way.
  absl::StatusOr<int64_t> Save(const DatasetRecord& record);

  // The datasets a job's result refers to, in the order of its symbols, data included; empty for
  // a result that carries its own candles (formats 1-3).
  absl::StatusOr<std::vector<DatasetRecord>> OfResult(absl::string_view job_id);
  // The same without their data (ids and hashes only).
  absl::StatusOr<std::vector<DatasetKey>> KeysOfResult(absl::string_view job_id);
  // One dataset, data included. NotFound when there is none with this id.
  absl::StatusOr<DatasetRecord> Load(int64_t id);

 private:
  SQLite::Database& db_;
  std::unique_ptr<SQLite::Statement> candidates_;
  std::unique_ptr<SQLite::Statement> pin_;
  std::unique_ptr<SQLite::Statement> unpin_;
  std::unique_ptr<SQLite::Statement> insert_;
  std::unique_ptr<SQLite::Statement> find_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_DATASET_STORE_H_
