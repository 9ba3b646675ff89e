// file:///dir: CSV files DIR/SYMBOL_TIMEFRAME.csv (preferred) or DIR/SYMBOL.csv. Under an enforced
// data access policy the files are opened beneath the allowed root that holds DIR (see
// data_policy.h): a symlink or a ".." leading out of it is refused where the file is opened.
#ifndef BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_

#include <string>

#include "server/engine/data/data_policy.h"
#include "server/engine/data/data_source.h"

namespace backtest::engine {

class FileSource : public DataSource {
 public:
  // `dir` as FileUrlDir gives it (absolute, no "..").
  explicit FileSource(std::string dir, DataPolicy policy = {})
      : dir_(std::move(dir)), policy_(std::move(policy)) {}
  absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) override;

 private:
  // Reads DIR/name: NotFound when it does not exist.
  absl::StatusOr<BarSeries> Read(const std::string& name) const;

  std::string dir_;
  DataPolicy policy_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_
