#include "server/jobs/delta_column.h"

namespace backtest::jobs {
namespace {

using runner::v1::DeltaColumn;

using delta_internal::kExactLimitInt;
using delta_internal::kMaxDecimals;
using delta_internal::Unscale;

}  // namespace

bool EncodeDeltas(std::span<const double> values, DeltaColumn* out) {
  return EncodeDeltasOf(values.size(), [values](size_t i) { return values[i]; }, out);
}

bool EncodeDeltas(std::span<const int64_t> values, DeltaColumn* out) {
  return EncodeIntegersOf(values.size(), [values](size_t i) { return values[i]; }, out);
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
  EncodeNumbersOf(values.size(), [values](size_t i) { return values[i]; }, out);
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

void WordColumnWriter::AddWord(absl::string_view word) {
  last_ = static_cast<int>(words_.size());
  std::string* added = out_->add_words();
  added->assign(word.data(), word.size());
  words_.emplace_back(*added);
}

const std::string* WordAt(const runner::v1::WordColumn& column, int i) {
  if (i < 0 || i >= column.index_size()) return nullptr;
  const uint32_t w = column.index(i);
  if (w >= static_cast<uint32_t>(column.words_size())) return nullptr;
  return &column.words(static_cast<int>(w));
}

}  // namespace backtest::jobs
