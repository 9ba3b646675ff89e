// DeltaColumn (runner.proto, results format 3): numbers that are decimals, stored as differences
// of scaled integers. Written by the runner, read back by the server; exact both ways.
#ifndef BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_
#define BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "backtest/runner/v1/runner.pb.h"

namespace backtest::jobs {

namespace delta_internal {

inline constexpr int kMaxDecimals = 9;
inline constexpr double kPow10[kMaxDecimals + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                    1e5, 1e6, 1e7, 1e8, 1e9};
inline constexpr double kExactLimit = 9007199254740992.0;  // 2^53: every integer below is a double
inline constexpr int64_t kExactLimitInt = int64_t{1} << 53;

// The value that scaled integer m stands for at d decimals: the one expression both the encoder
// (to check) and the decoder use.
inline double Unscale(int64_t m, int d) { return static_cast<double>(m) / kPow10[d]; }

// m with Unscale(m, d) bit-identical to v, if there is one.
inline bool Scale(double v, int d, int64_t* m) {
  const double scaled = v * kPow10[d];
  if (!(std::fabs(scaled) < kExactLimit)) return false;  // also NaN
  *m = static_cast<int64_t>(scaled + (scaled >= 0 ? 0.5 : -0.5));
  // At 0 decimals Unscale divides by 1, which is exact: the division (the dearest step, and
  // integers — times, sizes, zero stops — are common) is left out.
  const double back = d == 0 ? static_cast<double>(*m) : Unscale(*m, d);
  return std::bit_cast<uint64_t>(back) == std::bit_cast<uint64_t>(v);
}

}  // namespace delta_internal

// Writes `values` to *out when every one is m / 10^d for one d in 0..9 and an integer |m| < 2^53
// that reads back bit for bit; else leaves *out empty and returns false (write the plain column).
bool EncodeDeltas(std::span<const double> values, runner::v1::DeltaColumn* out);
// Integers (times, decimals 0): always representable; false only past ±2^53.
bool EncodeDeltas(std::span<const int64_t> values, runner::v1::DeltaColumn* out);

// The same over n values read by value(i) (double, or int64_t for the integers): a field of
// rows (the runner's trades) encoded without a column of its own first.
template <typename Value>
bool EncodeDeltasOf(size_t n, Value&& value, runner::v1::DeltaColumn* out);
template <typename Value>
bool EncodeIntegersOf(size_t n, Value&& value, runner::v1::DeltaColumn* out);

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
template <typename Value>
void EncodeNumbersOf(size_t n, Value&& value, runner::v1::NumberColumn* out);
// Integers as a DeltaColumn; false past ±2^53 (nothing a run counts comes near).
bool EncodeIntegers(std::span<const int64_t> values, runner::v1::DeltaColumn* out);
// The column's values, replacing *out; false when malformed.
bool DecodeNumbers(const runner::v1::NumberColumn& in, std::vector<double>* out);
bool DecodeIntegers(const runner::v1::DeltaColumn& in, std::vector<int64_t>* out);

// Whether two words are the same bytes: inline up to 16 bytes (two overlapping loads of a fixed
// size each), where comparing a symbol, a side or a reason through a call of memcmp costs more
// than the comparison.
inline bool SameWord(absl::string_view a, absl::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  auto load8 = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  auto load4 = [](const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  if (n >= 8 && n <= 16) {
    return load8(a.data()) == load8(b.data()) && load8(a.data() + n - 8) == load8(b.data() + n - 8);
  }
  if (n >= 4 && n < 8) {
    return load4(a.data()) == load4(b.data()) && load4(a.data() + n - 4) == load4(b.data() + n - 4);
  }
  if (n < 4) {
    for (size_t k = 0; k < n; ++k) {
      if (a[k] != b[k]) return false;
    }
    return true;
  }
  return a == b;
}

// Words (symbols, sides, reasons) as a dictionary and an index per value. Writes `out` (which
// nothing else may change meanwhile) as it is given words; not thread-safe.
class WordColumnWriter {
 public:
  explicit WordColumnWriter(runner::v1::WordColumn* out);
  // Room for n more values.
  void Reserve(int n) { out_->mutable_index()->Reserve(out_->index_size() + n); }
  void Add(absl::string_view word) {
    if (last_ < 0 || !SameWord(words_[static_cast<size_t>(last_)], word)) {
      last_ = -1;
      for (size_t i = 0; i < words_.size(); ++i) {
        if (SameWord(words_[i], word)) {
          last_ = static_cast<int>(i);
          break;
        }
      }
      if (last_ < 0) AddWord(word);
    }
    out_->add_index(static_cast<uint32_t>(last_));
  }

 private:
  // Appends a word to the dictionary, and makes it the last.
  void AddWord(absl::string_view word);

  runner::v1::WordColumn* out_;
  // out_'s words, read here rather than through the message (a call each); a word's string
  // stays where it is as words are added.
  std::vector<absl::string_view> words_;
  int last_ = -1;  // the word of the last value: runs of one word are common
};
// Word i of the column; nullptr past its end or for an index past the dictionary.
const std::string* WordAt(const runner::v1::WordColumn& column, int i);

template <typename Value>
bool EncodeDeltasOf(size_t n, Value&& value, runner::v1::DeltaColumn* out) {
  using delta_internal::Scale;
  out->Clear();
  // The fewest decimals that hold every value (a value that is m / 10^d is also 10m / 10^(d+1):
  // the same real number, so the same correctly rounded quotient). One pass scales the values
  // at the decimals found so far, in place; those scaled before the last rise are scaled again
  // at the end, and the scaled values turned into differences: the values of scaling each twice,
  // once to find the decimals and once to store, at about half the cost. Written through a
  // plain pointer: adding one value at a time stores the field's size per value.
  auto* delta = out->mutable_delta();
  delta->Reserve(static_cast<int>(n));
  int64_t* m = delta->AddNAlreadyReserved(static_cast<int>(n));
  int d = 0;
  size_t scaled_from = 0;  // values scaled_from.. are scaled at d
  for (size_t i = 0; i < n; ++i) {
    const double v = value(i);
    while (!Scale(v, d, &m[i])) {
      if (++d > delta_internal::kMaxDecimals) {
        out->Clear();
        return false;
      }
      scaled_from = i;
    }
  }
  for (size_t i = 0; i < scaled_from; ++i) {
    if (!Scale(value(i), d, &m[i])) {  // not expected (see above); never store a value that differs
      out->Clear();
      return false;
    }
  }
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = m[i];
    m[i] = v - prev;
    prev = v;
  }
  out->set_decimals(d);
  return true;
}

template <typename Value>
bool EncodeIntegersOf(size_t n, Value&& value, runner::v1::DeltaColumn* out) {
  out->Clear();
  auto* delta = out->mutable_delta();
  delta->Reserve(static_cast<int>(n));
  int64_t* to = delta->AddNAlreadyReserved(static_cast<int>(n));
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = value(i);
    if (v >= delta_internal::kExactLimitInt || v <= -delta_internal::kExactLimitInt) {
      out->Clear();
      return false;
    }
    to[i] = v - prev;
    prev = v;
  }
  return true;
}

template <typename Value>
void EncodeNumbersOf(size_t n, Value&& value, runner::v1::NumberColumn* out) {
  out->Clear();
  runner::v1::DeltaColumn encoded;
  if (EncodeDeltasOf(n, value, &encoded)) {
    out->mutable_delta()->Swap(&encoded);
    return;
  }
  auto* plain = out->mutable_plain();
  plain->Reserve(static_cast<int>(n));
  for (size_t i = 0; i < n; ++i) plain->AddAlreadyReserved(value(i));
}

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_DELTA_COLUMN_H_
