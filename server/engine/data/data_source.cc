#include "server/engine/data/data_source.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/engine/data/file_source.h"
#include "server/engine/data/http_source.h"
#include "server/engine/data/sample_source.h"

namespace backtest::engine {

absl::StatusOr<std::unique_ptr<DataSource>> MakeDataSource(absl::string_view url,
                                                           const HttpOptions& http,
                                                           const DataPolicy& policy,
                                                           const BarCache* cache) {
  if (url == "sample://" || url == "sample:") return std::make_unique<SampleSource>();
  if (absl::StartsWith(url, "file:///")) {
    auto dir = FileUrlDir(url);
    if (!dir.ok()) return dir.status();
    if (absl::Status s = CheckDataSource(url, policy); !s.ok()) return s;
    return std::make_unique<FileSource>(*std::move(dir), policy, cache);
  }
  if (absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://")) {
    if (absl::Status s = CheckDataSource(url, policy); !s.ok()) return s;
    return std::make_unique<HttpSource>(std::string(absl::StripSuffix(url, "/")), http, policy);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("data_source: must be sample://, file:///dir or an http(s):// URL, got \"",
                   url.substr(0, 64), "\""));
}

}  // namespace backtest::engine
