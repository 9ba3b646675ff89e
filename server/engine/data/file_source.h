// file:///dir: CSV files DIR/SYMBOL_TIMEFRAME.csv (preferred) or DIR/SYMBOL.csv.
#ifndef BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_
#define BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_

#include <string>

#include "server/engine/data/data_source.h"

namespace backtest::engine {

class FileSource : public DataSource {
 public:
  explicit FileSource(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<BarSeries> Fetch(const FetchRequest& request) override;

 private:
  std::string dir_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_FILE_SOURCE_H_
