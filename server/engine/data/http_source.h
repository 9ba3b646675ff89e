// http(s)://base: GET {base}/ohlc?symbol=&timeframe=&start=&end= answering CSV (start and end as
// ISO 8601 UTC). libcurl with connect and total timeouts and a response size cap.
#ifndef BACKTEST_SERVER_ENGINE_DATA_HTTP_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_HTTP_SOURCE_H_

#include <string>

#include "server/engine/data/data_source.h"

namespace backtest::engine {

class HttpSource : public DataSource {
 public:
  HttpSource(std::string base_url, HttpOptions options)
      : base_(std::move(base_url)), options_(options) {}
  absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) override;

  // The request URL for `request` (exposed for tests).
  std::string UrlFor(const FetchRequest& request) const;

 private:
  std::string base_;
  HttpOptions options_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_HTTP_SOURCE_H_
