// Sweeps (docs/sweeps.md): a sweep job's combinations and request, its rows stored as chunks of
// columns, and the runs opened from its rows. The bytes of a spec and of a chunk are opaque here
// (the jobs layer writes and reads them).
//
// Not thread-safe: a SweepStore works on one connection, used by one thread at a time.
#ifndef BACKTEST_DB_SWEEP_STORE_H_
#define BACKTEST_DB_SWEEP_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Database;
}

namespace backtest::db {

struct SweepRecord {
  std::string job_id;
  std::string spec;     // backtest.runner.v1.SweepSpec bytes
  std::string request;  // the request as JSON
  std::string objective;
  bool maximize = true;
  int64_t total = 0;
  int64_t grid_size = 0;
  std::string walk_forward;  // backtest.runner.v1.WalkForwardEvent bytes; empty until it ran
};

class SweepStore {
 public:
  explicit SweepStore(SQLite::Database& db) : db_(db) {}

  // AlreadyExists when the job has a sweep already.
  absl::Status Insert(const SweepRecord& sweep);
  // Removes a sweep whose job could not be stored.
  absl::Status Remove(absl::string_view job_id);
  // NotFound when the job is not a sweep.
  absl::StatusOr<SweepRecord> Get(absl::string_view job_id);
  // Whether the job is a sweep.
  absl::StatusOr<bool> IsSweep(absl::string_view job_id);

  // Stores the sweep's walk-forward (bytes opaque here).
  absl::Status SaveWalkForward(absl::string_view job_id, absl::string_view data);

  // Appends one chunk of `rows` rows (one transaction: a chunk is there whole or not at all).
  absl::Status AppendChunk(absl::string_view job_id, int64_t rows, absl::string_view data);
  // The chunks in the order they were appended.
  absl::StatusOr<std::vector<std::string>> Chunks(absl::string_view job_id);
  // Rows stored.
  absl::StatusOr<int64_t> RowCount(absl::string_view job_id);

  // Links the run opened from row `row` of the sweep; AlreadyExists when the row has one.
  absl::Status LinkRun(absl::string_view sweep_id, int64_t row, absl::string_view job_id);
  // The run opened from a row, if any.
  absl::StatusOr<std::optional<std::string>> RunOfRow(absl::string_view sweep_id, int64_t row);
  // Every opened run of the sweep, by row.
  absl::StatusOr<std::map<int64_t, std::string>> Runs(absl::string_view sweep_id);

 private:
  SQLite::Database& db_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_SWEEP_STORE_H_
