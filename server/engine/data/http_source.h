// http(s)://base: GET {base}/ohlc?symbol=&timeframe=&start=&end= answering CSV (start and end as
// ISO 8601 UTC). libcurl with connect and total timeouts and a response size cap. Under an
// enforced data access policy (data_policy.h) every URL fetched, redirects included, must be
// allowed, every address connected to must be public or allowed, and no proxy is used (the
// addresses checked are then the data server's own).
#ifndef BACKTEST_SERVER_ENGINE_DATA_HTTP_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_HTTP_SOURCE_H_

#include <string>

#include "server/engine/data/data_policy.h"
#include "server/engine/data/data_source.h"

namespace backtest::engine {

class HttpSource : public DataSource {
 public:
  HttpSource(std::string base_url, HttpOptions options, DataPolicy policy = {})
      : base_(std::move(base_url)), options_(options), policy_(std::move(policy)) {}
  absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) override;

  // The request URL for `request` (exposed for tests).
  std::string UrlFor(const FetchRequest& request) const;

  // Redirects followed at most.
  static constexpr int kMaxRedirects = 3;

 private:
  struct Response {
    long code = 0;
    std::string body;
    std::string redirect;  // the Location of a 3xx answer, absolute
  };
  // One GET without following redirects.
  absl::StatusOr<Response> Get(const std::string& url) const;

  std::string base_;
  HttpOptions options_;
  DataPolicy policy_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_HTTP_SOURCE_H_
