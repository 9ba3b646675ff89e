// DeltaColumn (runner.proto, results format 3): numbers that are decimals, stored as differences
// of scaled integers. Written by the runner, read back by the server; exact both ways.
#ifndef BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_
#define BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_

#include <cstdint>
#include <span>

#include "backtest/runner/v1/runner.pb.h"

namespace backtest::jobs {

// Writes `values` to *out when every one is m / 10^d for one d in 0..9 and an integer |m| < 2^53
// that reads back bit for bit; else leaves *out empty and returns false (write the plain column).
bool EncodeDeltas(std::span<const double> values, runner::v1::DeltaColumn* out);
// Integers (times, decimals 0): always representable; false only past ±2^53.
bool EncodeDeltas(std::span<const int64_t> values, runner::v1::DeltaColumn* out);

// Appends the column's values to *out; false when it is malformed (decimals out of range — not 0
// for integers —, a running value past ±2^53).
bool DecodeDeltas(const runner::v1::DeltaColumn& in,
                  google::protobuf::RepeatedField<double>* out);
bool DecodeDeltas(const runner::v1::DeltaColumn& in,
                  google::protobuf::RepeatedField<int64_t>* out);

// Rewrites a results-format-3 output in the format-2 form (plain columns) in place; false when a
// column is malformed.
bool ExpandDeltaColumns(runner::v1::RunOutput* output);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_
