// Whole-run decision reason counts of a job (breakouts filtered by strength/EMA/RSI, setups
// replaced/cancelled/expired, entries skipped, stops widened, exits by kind …) with a few sample
// bars each. The engine counts them for every run, traced or not; the job service saves them with
// the result and whole-run Explain reads them.
//
// Owned by whoever opened the Database it uses; not thread-safe (one ReasonStore per connection).
#ifndef BACKTEST_DB_REASON_STORE_H_
#define BACKTEST_DB_REASON_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Statement;
}

namespace backtest::db {

class Database;

// One bar where a reason occurred.
struct ReasonSampleRecord {
  std::string symbol;
  int64_t bar_index = 0;
  int64_t ts = 0;

  bool operator==(const ReasonSampleRecord&) const = default;
};

struct ReasonRecord {
  std::string reason;  // code, e.g. filter_strength
  int64_t count = 0;
  std::vector<ReasonSampleRecord> samples;  // the first few occurrences
  std::string description;                  // what the code means, in words

  bool operator==(const ReasonRecord&) const = default;
};

class ReasonStore {
 public:
  static absl::StatusOr<std::unique_ptr<ReasonStore>> Create(Database* db);

  ~ReasonStore();
  ReasonStore(const ReasonStore&) = delete;
  ReasonStore& operator=(const ReasonStore&) = delete;

  // Replaces the job's reasons with `reasons` (their order is kept), in one transaction.
  // FailedPrecondition when the job does not exist; AlreadyExists when a code appears twice.
  absl::Status Save(absl::string_view job_id, std::span<const ReasonRecord> reasons);

  // The job's reasons in the order they were saved; empty when none were saved.
  absl::StatusOr<std::vector<ReasonRecord>> List(absl::string_view job_id);

 private:
  explicit ReasonStore(Database* db);

  Database* db_;
  std::unique_ptr<SQLite::Statement> delete_;
  std::unique_ptr<SQLite::Statement> insert_;
  std::unique_ptr<SQLite::Statement> list_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_REASON_STORE_H_
