// Datasets decoded for GetResult (their candles as plain columns), kept by hash: a dashboard's
// chart and every span of trades it pages in as the user scrolls read the same dataset again, and
// decoding one is most of a small answer's cost (~2.5 ms per 100k bars). Datasets never change
// (an entry's hash is its content), so an entry is never stale. Bounded by the bytes of its
// entries; the least recently used go first. A cache for GetResult keeps each dataset's candle
// columns encoded as the packed layout's decimal columns too (keep_decimals): checking ~100k
// values a column for digits was most of what a decimal_columns answer cost the server.
//
// Thread-safe. Owned by BacktestServiceImpl.
#ifndef BACKTEST_SERVER_API_DATASET_CACHE_H_
#define BACKTEST_SERVER_API_DATASET_CACHE_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "backtest/runner/v1/runner.pb.h"
#include "db/dataset_store.h"
#include "server/api/decimal_column.h"

namespace backtest::api {

// A dataset decoded: its candles as plain columns (all of one length) and, in a cache that keeps
// them, those columns whole as decimal columns.
struct DecodedDataset {
  backtest::runner::v1::CandleColumns candles;
  std::optional<CandleDecimals> decimals;
};

class DatasetCache {
 public:
  using Dataset = std::shared_ptr<const DecodedDataset>;

  explicit DatasetCache(size_t max_bytes, bool keep_decimals = false)
      : max_bytes_(max_bytes), keep_decimals_(keep_decimals) {}

  // The dataset `hash`; on a miss, `load` reads it (outside the cache's lock) and it is decoded
  // (and its decimal columns made) and kept. DataLoss when it cannot be decoded; `load`'s error
  // as it is.
  absl::StatusOr<Dataset> Get(const std::string& hash,
                              const std::function<absl::StatusOr<db::DatasetRecord>()>& load);

 private:
  struct Entry {
    Dataset dataset;
    size_t bytes = 0;
    std::list<std::string>::iterator age;  // in lru_
  };

  const size_t max_bytes_;
  const bool keep_decimals_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> lru_;                       // most recent first; guarded by mu_
  size_t bytes_ = 0;                                 // guarded by mu_
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_DATASET_CACHE_H_
