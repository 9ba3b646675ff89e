// DeltaColumn (runner.proto, results format 3): numbers that are decimals, stored as differences
// of scaled integers. Written by the runner, read back by the server; exact both ways.
#ifndef BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_
#define BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
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

// Rewrites candle columns of DeltaColumns as plain columns in place; false when one is malformed.
bool ExpandCandleColumns(runner::v1::CandleColumns* columns);

// Rewrites a results-format-3 output in the format-2 form (plain columns) in place; false when a
// column is malformed.
bool ExpandDeltaColumns(runner::v1::RunOutput* output);

// Results format 4's other columns (runner.proto: NumberColumn, WordColumn).

// Numbers as a DeltaColumn when they read back exactly from one, else plain.
void EncodeNumbers(std::span<const double> values, runner::v1::NumberColumn* out);
// Integers as a DeltaColumn; false past ±2^53 (nothing a run counts comes near).
bool EncodeIntegers(std::span<const int64_t> values, runner::v1::DeltaColumn* out);
// The column's values, replacing *out; false when malformed.
bool DecodeNumbers(const runner::v1::NumberColumn& in, std::vector<double>* out);
bool DecodeIntegers(const runner::v1::DeltaColumn& in, std::vector<int64_t>* out);

// Words (symbols, sides, reasons) as a dictionary and an index per value. Writes `out` (which
// nothing else may change meanwhile) as it is given words; not thread-safe.
class WordColumnWriter {
 public:
  explicit WordColumnWriter(runner::v1::WordColumn* out);
  // Room for n more values.
  void Reserve(int n) { out_->mutable_index()->Reserve(out_->index_size() + n); }
  void Add(absl::string_view word) {
    if (last_ >= 0 && words_[static_cast<size_t>(last_)] == word) {
      out_->add_index(static_cast<uint32_t>(last_));
      return;
    }
    AddOther(word);
  }

 private:
  void AddOther(absl::string_view word);

  runner::v1::WordColumn* out_;
  // out_'s words, read here rather than through the message (a call each); a word's string
  // stays where it is as words are added.
  std::vector<absl::string_view> words_;
  int last_ = -1;  // the word of the last value: runs of one word are common
};
// Word i of the column; nullptr past its end or for an index past the dictionary.
const std::string* WordAt(const runner::v1::WordColumn& column, int i);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_
