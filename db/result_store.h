// Finished jobs' results: an encoded blob per job with its format and digest.
//
// Not thread-safe: one connection, one thread at a time.
#ifndef BACKTEST_DB_RESULT_STORE_H_
#define BACKTEST_DB_RESULT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Database;
class Statement;
}

namespace backtest::db {

// Encodings of ResultRecord::data: a backtest.store.v1.StoredResult (rows of earlier versions: the
// runner's RunnerEvent frame, which reads as one) holding the RunOutput, its candles, EMA and
// equity as a message per point or as columns (stored by earlier versions), or as columns with
// the candles and times as DeltaColumns where they read back exactly.
inline constexpr int kResultsFormatPoints = 1;
inline constexpr int kResultsFormatColumns = 2;
inline constexpr int kResultsFormatDeltas = 3;
// The candles are not in it: each series refers to a dataset (db/dataset_store.h); trades and
// markers are columns, the equity pieces where the engine kept them (runner.proto, RunOutput).
inline constexpr int kResultsFormatDatasets = 4;

struct ResultRecord {
  std::string job_id;
  int format = 0;       // encoding of data: one of the kResultsFormat* above
  std::string digest;   // SHA-256 hex of the canonical result
  std::string data;
  int64_t created_ms = 0;
};

// The digest of a result saved before its digest came (ResultStore::SetDigest): as long as a
// digest (64 hex digits), and never one. No finished job's result has it.
inline constexpr absl::string_view kDigestPending =
    "----------------------------------------------------------------";
static_assert(kDigestPending.size() == 64);

class ResultStore {
 public:
  explicit ResultStore(SQLite::Database& db);
  ~ResultStore();

  // Stores (or replaces) a job's result. Its statement is compiled once per store.
  absl::Status Save(const ResultRecord& result);
  // The same, with the datasets its series refer to (ids, in the order of its symbols), in one
  // transaction (or the caller's: WriteScope) that also drops the job's pins (DatasetStore::Pin)
  // and marks the datasets used.
  // FailedPrecondition when a dataset does not exist.
  absl::Status Save(const ResultRecord& result, std::span<const int64_t> datasets);
  // Sets the digest of a result saved before its digest was known, with kDigestPending in its
  // place: a value of the same size is written over it in place (a page, where a digest of
  // another size would rewrite the whole row and its hundreds of KB). NotFound when the job has
  // no result.
  absl::Status SetDigest(absl::string_view job_id, absl::string_view digest);

  // NotFound when the job has no result.
  absl::StatusOr<ResultRecord> Load(absl::string_view job_id);
  // The same without copying the data: `read` gets the record (data empty) and the stored bytes,
  // valid during the call only, and its status is Read's. NotFound when the job has no result.
  absl::Status Read(absl::string_view job_id,
                    const std::function<absl::Status(const ResultRecord& record,
                                                     absl::string_view data)>& read);

 private:
  SQLite::Database& db_;
  std::unique_ptr<SQLite::Statement> save_;
  std::unique_ptr<SQLite::Statement> refer_;
  std::unique_ptr<SQLite::Statement> unpin_;
  std::unique_ptr<SQLite::Statement> touch_;
  std::unique_ptr<SQLite::Statement> set_digest_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_RESULT_STORE_H_
