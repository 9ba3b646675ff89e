// A sweep row's stats as named numbers, and rows stored as chunks of columns
// (runner.v1.SweepRowChunk, sweep_row_chunks.data): what a sweep keeps of each combination.
#ifndef BACKTEST_SERVER_JOBS_SWEEP_STATS_H_
#define BACKTEST_SERVER_JOBS_SWEEP_STATS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backtest/runner/v1/runner.pb.h"

namespace backtest::jobs {

// Every numeric field of runner.v1.Stats in field order; the fields of its side stats as
// "long_stats.trades", "short_stats.pnl", ….
const std::vector<std::string>& SweepStatNames();
// The position of `name` in SweepStatNames(); -1 when there is none.
int SweepStatIndex(absl::string_view name);

// The stats as numbers in SweepStatNames() order (integers exact: all are far below 2^53).
std::vector<double> FlattenStats(const runner::v1::Stats& stats);
// The reverse of FlattenStats, into runner.v1.Stats or any message of the same field names
// (backtest.v1.Stats): each numeric field whose name (side stats': "long_stats.trades") is a
// stat's is set.
void UnflattenStats(std::span<const double> values, google::protobuf::Message* stats);

// One stored row: its index in the sweep, its stats (SweepStatNames() order), its error.
struct SweepRowValues {
  int32_t row = 0;
  std::vector<double> stats;
  std::string error;
};

// Rows as one chunk's bytes, in row order (runner.proto's SweepRowChunk, deflated; exact).
std::string EncodeSweepRows(std::span<const SweepRowValues> rows);
// Appends a chunk's rows to *out, their stats in SweepStatNames() order (a stat the chunk lacks
// is 0). DataLoss when the bytes are not a chunk.
absl::Status DecodeSweepRows(absl::string_view data, std::vector<SweepRowValues>* out);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SWEEP_STATS_H_
