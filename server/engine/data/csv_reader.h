// Reads OHLC(V) bars from CSV text: columns time (epoch seconds or ISO 8601), open, high, low,
// close and an optional volume, with or without a header line (a header names its columns, in any
// order, and may have extra columns, which are ignored).
//
// Any malformed row fails the whole read with InvalidArgument naming the source and line: a bad
// number, NaN/inf, high < low, open or close outside [low, high], a negative volume, a time not
// after the previous row's, a wrong column count. Nothing half-loaded is returned.
#ifndef BACKTEST_SERVER_ENGINE_DATA_CSV_READER_H_
#define BACKTEST_SERVER_ENGINE_DATA_CSV_READER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/data/bar_series.h"
#include "server/engine/util/mapped_file.h"

namespace backtest::engine {

// Parses CSV text; `source_name` (a file name or URL) prefixes every error.
absl::StatusOr<BarSeries> ParseCsv(absl::string_view text, absl::string_view source_name);

// Reads and parses a file. NotFound when it does not exist, else as ParseCsv.
absl::StatusOr<BarSeries> ReadCsvFile(const std::string& path);

// Parses a file already mapped; `path` names it in errors. DataLoss when it shrank meanwhile.
absl::StatusOr<BarSeries> ReadCsvFile(const MappedFile& file, const std::string& path);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_CSV_READER_H_
