// The answers of Explain replays kept in memory: a finished job's trace rows by block of bars
// (every symbol's rows of bars k*B .. k*B+B-1), and a job's replay error (its digest did not
// match: asking again would replay again for the same answer). Bounded by rows: past the bound
// the least recently used entries go. Jobs are immutable once finished, so an entry never goes
// stale; a deleted job's entries age out.
//
// Thread-safe (one mutex).
#ifndef BACKTEST_SERVER_JOBS_TRACE_REPLAY_CACHE_H_
#define BACKTEST_SERVER_JOBS_TRACE_REPLAY_CACHE_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "db/trace_store.h"

namespace backtest::jobs {

using TraceRows = std::vector<db::TraceRowRecord>;

class TraceReplayCache {
 public:
  // `max_rows`: rows kept at most (an error counts as one).
  explicit TraceReplayCache(int64_t max_rows) : max_rows_(max_rows) {}

  // The rows of `block` of `job_id`, if cached.
  std::shared_ptr<const TraceRows> Get(const std::string& job_id, int64_t block);
  // The job's replay error, if one is cached.
  std::optional<absl::Status> Error(const std::string& job_id);

  void Put(const std::string& job_id, int64_t block, std::shared_ptr<const TraceRows> rows);
  void PutError(const std::string& job_id, absl::Status error);

  int64_t rows() const;

 private:
  // block -1 holds a job's error.
  using Key = std::pair<std::string, int64_t>;
  struct Entry {
    std::shared_ptr<const TraceRows> rows;
    absl::Status error;
    int64_t cost = 1;
    std::list<Key>::iterator lru;
  };
  void PutLocked(const Key& key, Entry entry);

  const int64_t max_rows_;
  mutable std::mutex mu_;
  std::map<Key, Entry> entries_;  // guarded by mu_
  std::list<Key> lru_;            // most recent first; guarded by mu_
  int64_t rows_ = 0;              // guarded by mu_
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_TRACE_REPLAY_CACHE_H_
