// file:///dir: CSV files DIR/SYMBOL_TIMEFRAME.csv (preferred) or DIR/SYMBOL.csv. Under an enforced
// data access policy the files are opened beneath the allowed root that holds DIR (see
// data_policy.h): a symlink or a ".." leading out of it is refused where the file is opened.
#ifndef BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_

#include <array>
#include <string>

#include "server/engine/data/bar_cache.h"
#include "server/engine/data/data_policy.h"
#include "server/engine/data/data_source.h"

namespace backtest::engine {

class FileSource : public DataSource {
 public:
  // `dir` as FileUrlDir gives it (absolute, no ".."). With a bar cache, a file parsed before
  // (the same version of it) is read from the cache instead (bar_cache.h).
  explicit FileSource(std::string dir, DataPolicy policy = {}, const BarCache* cache = nullptr)
      : dir_(std::move(dir)), policy_(std::move(policy)), cache_(cache) {}
  absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) override;
  int64_t Prefetch(const FetchRequest& request) override;

 private:
  // DIR/name.
  std::string PathOf(const std::string& name) const;
  // The names of the files that may hold `request`'s bars, the first that exists being read:
  // SYMBOL_TF.csv, then SYMBOL.csv.
  static std::array<std::string, 2> NamesFor(const FetchRequest& request);
  static bool IsSafeSymbol(const std::string& symbol);
  // Reads DIR/name: NotFound when it does not exist.
  absl::StatusOr<BarSeries> Read(const std::string& name) const;
  // Opens DIR/name (`path`) for reading, beneath its root when the policy is enforced.
  absl::StatusOr<int> Open(const std::string& name, const std::string& path) const;

  std::string dir_;
  DataPolicy policy_;
  const BarCache* cache_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_
