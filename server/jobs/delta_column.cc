#include "server/jobs/delta_column.h"

#include <bit>
#include <cmath>

namespace backtest::jobs {
namespace {

using runner::v1::DeltaColumn;

constexpr int kMaxDecimals = 9;
constexpr double kPow10[kMaxDecimals + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
constexpr double kExactLimit = 9007199254740992.0;  // 2^53: every integer below is a double
constexpr int64_t kExactLimitInt = int64_t{1} << 53;

// The value that scaled integer m stands for at d decimals: the one expression both the encoder
// (to check) and the decoder use.
double Unscale(int64_t m, int d) { return static_cast<double>(m) / kPow10[d]; }

// m with Unscale(m, d) bit-identical to v, if there is one.
bool Scale(double v, int d, int64_t* m) {
  const double scaled = v * kPow10[d];
  if (!(std::fabs(scaled) < kExactLimit)) return false;  // also NaN
  *m = static_cast<int64_t>(scaled + (scaled >= 0 ? 0.5 : -0.5));
  return std::bit_cast<uint64_t>(Unscale(*m, d)) == std::bit_cast<uint64_t>(v);
}

}  // namespace

bool EncodeDeltas(std::span<const double> values, DeltaColumn* out) {
  out->Clear();
  // The fewest decimals that hold every value (a value that is m / 10^d is also 10m / 10^(d+1):
  // the same real number, so the same correctly rounded quotient). One pass scales the values
  // at the decimals found so far, in place; those scaled before the last rise are scaled again
  // at the end, and the scaled values turned into differences: the values of scaling each twice,
  // once to find the decimals and once to store, at about half the cost.
  auto* delta = out->mutable_delta();
  delta->Reserve(static_cast<int>(values.size()));
  int64_t* m = delta->AddNAlreadyReserved(static_cast<int>(values.size()));
  int d = 0;
  size_t scaled_from = 0;  // values[scaled_from..] are scaled at d
  for (size_t i = 0; i < values.size(); ++i) {
    while (!Scale(values[i], d, &m[i])) {
      if (++d > kMaxDecimals) {
        out->Clear();
        return false;
      }
      scaled_from = i;
    }
  }
  for (size_t i = 0; i < scaled_from; ++i) {
    if (!Scale(values[i], d, &m[i])) {  // not expected (see above); never store a value that differs
      out->Clear();
      return false;
    }
  }
  int64_t prev = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t v = m[i];
    m[i] = v - prev;
    prev = v;
  }
  out->set_decimals(d);
  return true;
}

bool EncodeDeltas(std::span<const int64_t> values, DeltaColumn* out) {
  out->Clear();
  auto* delta = out->mutable_delta();
  delta->Reserve(static_cast<int>(values.size()));
  // Written through a plain pointer: adding one at a time stores the field's size per value.
  int64_t* to = delta->AddNAlreadyReserved(static_cast<int>(values.size()));
  int64_t prev = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t v = values[i];
    if (v >= kExactLimitInt || v <= -kExactLimitInt) {
      out->Clear();
      return false;
    }
    to[i] = v - prev;
    prev = v;
  }
  return true;
}

namespace {

// Calls f(m) for each running value; false when malformed.
template <typename F>
bool ForEachScaled(const DeltaColumn& in, F&& f) {
  int64_t m = 0;
  for (int64_t d : in.delta()) {
    if (d >= 2 * kExactLimitInt || d <= -2 * kExactLimitInt) return false;
    m += d;
    if (m >= kExactLimitInt || m <= -kExactLimitInt) return false;
    f(m);
  }
  return true;
}

}  // namespace

bool DecodeDeltas(const DeltaColumn& in, google::protobuf::RepeatedField<double>* out) {
  const int d = in.decimals();
  if (d < 0 || d > kMaxDecimals) return false;
  out->Reserve(out->size() + in.delta_size());
  return ForEachScaled(in, [&](int64_t m) { out->AddAlreadyReserved(Unscale(m, d)); });
}

bool DecodeDeltas(const DeltaColumn& in, google::protobuf::RepeatedField<int64_t>* out) {
  if (in.decimals() != 0) return false;
  out->Reserve(out->size() + in.delta_size());
  return ForEachScaled(in, [&](int64_t m) { out->AddAlreadyReserved(m); });
}

namespace {

// Decodes `delta` (when the message has it) into the empty plain column and drops it.
template <typename Message, typename Plain>
bool Expand(Message* m, bool (Message::*has)() const, runner::v1::DeltaColumn* (Message::*delta)(),
            void (Message::*clear)(), Plain* plain) {
  if (!(m->*has)()) return true;
  if (!plain->empty()) return false;  // both forms of one column
  const bool ok = DecodeDeltas(*(m->*delta)(), plain);
  (m->*clear)();
  return ok;
}

}  // namespace

bool ExpandCandleColumns(runner::v1::CandleColumns* c) {
  using runner::v1::CandleColumns;
  return Expand(c, &CandleColumns::has_time_delta, &CandleColumns::mutable_time_delta,
                &CandleColumns::clear_time_delta, c->mutable_time()) &&
         Expand(c, &CandleColumns::has_open_delta, &CandleColumns::mutable_open_delta,
                &CandleColumns::clear_open_delta, c->mutable_open()) &&
         Expand(c, &CandleColumns::has_high_delta, &CandleColumns::mutable_high_delta,
                &CandleColumns::clear_high_delta, c->mutable_high()) &&
         Expand(c, &CandleColumns::has_low_delta, &CandleColumns::mutable_low_delta,
                &CandleColumns::clear_low_delta, c->mutable_low()) &&
         Expand(c, &CandleColumns::has_close_delta, &CandleColumns::mutable_close_delta,
                &CandleColumns::clear_close_delta, c->mutable_close()) &&
         Expand(c, &CandleColumns::has_volume_delta, &CandleColumns::mutable_volume_delta,
                &CandleColumns::clear_volume_delta, c->mutable_volume());
}

bool ExpandDeltaColumns(runner::v1::RunOutput* output) {
  using runner::v1::LineColumns;
  for (auto& series : *output->mutable_series()) {
    if (series.has_candle_columns() && !ExpandCandleColumns(series.mutable_candle_columns())) {
      return false;
    }
    if (series.has_ema_columns()) {
      LineColumns* e = series.mutable_ema_columns();
      if (!Expand(e, &LineColumns::has_time_delta, &LineColumns::mutable_time_delta,
                  &LineColumns::clear_time_delta, e->mutable_time())) {
        return false;
      }
    }
  }
  if (output->has_equity_columns()) {
    LineColumns* q = output->mutable_equity_columns();
    if (!Expand(q, &LineColumns::has_time_delta, &LineColumns::mutable_time_delta,
                &LineColumns::clear_time_delta, q->mutable_time())) {
      return false;
    }
  }
  return true;
}

void EncodeNumbers(std::span<const double> values, runner::v1::NumberColumn* out) {
  out->Clear();
  runner::v1::DeltaColumn encoded;
  if (EncodeDeltas(values, &encoded)) {
    out->mutable_delta()->Swap(&encoded);
  } else {
    out->mutable_plain()->Add(values.begin(), values.end());
  }
}

bool EncodeIntegers(std::span<const int64_t> values, runner::v1::DeltaColumn* out) {
  return EncodeDeltas(values, out);
}

bool DecodeNumbers(const runner::v1::NumberColumn& in, std::vector<double>* out) {
  out->clear();
  if (!in.has_delta()) {
    out->assign(in.plain().begin(), in.plain().end());
    return true;
  }
  if (in.plain_size() > 0) return false;  // both forms
  const int d = in.delta().decimals();
  if (d < 0 || d > kMaxDecimals) return false;
  out->reserve(static_cast<size_t>(in.delta().delta_size()));
  return ForEachScaled(in.delta(), [&](int64_t m) { out->push_back(Unscale(m, d)); });
}

bool DecodeIntegers(const runner::v1::DeltaColumn& in, std::vector<int64_t>* out) {
  out->clear();
  if (in.decimals() != 0) return false;
  out->reserve(static_cast<size_t>(in.delta_size()));
  return ForEachScaled(in, [&](int64_t m) { out->push_back(m); });
}

WordColumnWriter::WordColumnWriter(runner::v1::WordColumn* out) : out_(out) {
  for (const std::string& w : out_->words()) words_.emplace_back(w);
}

void WordColumnWriter::AddOther(absl::string_view word) {
  last_ = -1;
  for (size_t i = 0; i < words_.size(); ++i) {
    if (words_[i] == word) {
      last_ = static_cast<int>(i);
      break;
    }
  }
  if (last_ < 0) {
    last_ = static_cast<int>(words_.size());
    std::string* added = out_->add_words();
    added->assign(word.data(), word.size());
    words_.emplace_back(*added);
  }
  out_->add_index(static_cast<uint32_t>(last_));
}

const std::string* WordAt(const runner::v1::WordColumn& column, int i) {
  if (i < 0 || i >= column.index_size()) return nullptr;
  const uint32_t w = column.index(i);
  if (w >= static_cast<uint32_t>(column.words_size())) return nullptr;
  return &column.words(static_cast<int>(w));
}

}  // namespace backtest::jobs
