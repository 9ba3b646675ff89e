#include "server/engine/data/data_source.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/engine/data/file_source.h"
#include "server/engine/data/http_source.h"
#include "server/engine/data/sample_source.h"

namespace backtest::engine {

absl::StatusOr<std::unique_ptr<DataSource>> MakeDataSource(absl::string_view url,
                                                           const HttpOptions& http) {
  if (url == "sample://" || url == "sample:") return std::make_unique<SampleSource>();
  if (absl::StartsWith(url, "file:///")) {
    std::string dir(url.substr(7));
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return std::make_unique<FileSource>(std::move(dir));
  }
  if (absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://")) {
    return std::make_unique<HttpSource>(std::string(absl::StripSuffix(url, "/")), http);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("data_source: must be sample://, file:///dir or an http(s):// URL, got \"",
                   url.substr(0, 64), "\""));
}

}  // namespace backtest::engine
