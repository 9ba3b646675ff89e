// Where bars come from. A DataSource answers one symbol and timeframe over a time range with a
// series at that timeframe or a finer one (the loader resamples); it may return bars outside the
// range (the loader cuts). Implementations: sample:// (SampleSource), file:///dir (FileSource),
// http(s):// (HttpSource); tests inject their own.
//
// A DataSource is used by one thread at a time.
#ifndef BACKTEST_SERVER_ENGINE_DATA_DATA_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_DATA_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/data/bar_series.h"
#include "server/engine/data/data_policy.h"
#include "server/engine/data/timeframe.h"

namespace backtest::engine {

class BarCache;

struct FetchRequest {
  std::string symbol;
  Timeframe timeframe = Timeframe::kH1;
  int64_t start = 0;  // inclusive, epoch seconds
  int64_t end = 0;    // exclusive
  bool skip_weekends = true;  // generated data only: no bars on Saturdays and Sundays (UTC)
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  // Errors: NotFound (no data for the symbol), InvalidArgument (malformed data, naming the file or
  // URL and line), Unavailable / DeadlineExceeded (network), ResourceExhausted (too large).
  virtual absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) = 0;
  // Readies what is cheap to ready of `request`'s data for a later Fetch in this process (a file
  // source: the file's bar cache entry; it never parses). Errors are left to that Fetch. Returns
  // the number of bars readied (0 when nothing was).
  virtual int64_t Prefetch(const FetchRequest& request) { return 0; }
};

// Limits of the http(s) source.
struct HttpOptions {
  int64_t connect_timeout_ms = 10'000;
  int64_t total_timeout_ms = 300'000;
  int64_t max_response_bytes = 1LL << 30;
};

// The source for a data_source URL (sample://, file:///dir, http(s)://base), reading under
// `policy`. InvalidArgument for anything else; PermissionDenied naming data_source when the
// policy refuses the URL (the sources check again as they open files and connect). A file://
// source reads files parsed before from `cache` (optional; it must outlive the source).
absl::StatusOr<std::unique_ptr<DataSource>> MakeDataSource(absl::string_view url,
                                                           const HttpOptions& http = {},
                                                           const DataPolicy& policy = {},
                                                           const BarCache* cache = nullptr);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_DATA_SOURCE_H_
