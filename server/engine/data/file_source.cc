#include "server/engine/data/file_source.h"

#include "absl/strings/str_cat.h"
#include "server/engine/data/csv_reader.h"

namespace backtest::engine {

absl::StatusOr<BarSeries> FileSource::Fetch(const FetchRequest& req) {
  // Symbols are validated by the parameter registry (letters, digits, '.', '_', '-'), so they
  // cannot leave the directory; checked again here because this is where a path is built.
  if (req.symbol.empty() || req.symbol.find('/') != std::string::npos || req.symbol == "." ||
      req.symbol == "..") {
    return absl::InvalidArgumentError(absl::StrCat("bad symbol \"", req.symbol, "\""));
  }
  std::string specific =
      absl::StrCat(dir_, "/", req.symbol, "_", TimeframeName(req.timeframe), ".csv");
  auto bars = ReadCsvFile(specific);
  if (!absl::IsNotFound(bars.status())) return bars;
  std::string generic = absl::StrCat(dir_, "/", req.symbol, ".csv");
  bars = ReadCsvFile(generic);
  if (absl::IsNotFound(bars.status())) {
    return absl::NotFoundError(absl::StrCat("no data for ", req.symbol, ": neither ", specific,
                                            " nor ", generic, " exists"));
  }
  return bars;
}

}  // namespace backtest::engine
