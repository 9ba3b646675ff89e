#include "server/api/decimal_column.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace backtest::api {
namespace {

constexpr double kPow10[kMaxDecimals + 1] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};

template <typename T>
std::span<const T> Span(const google::protobuf::RepeatedField<T>& field) {
  return std::span<const T>(field.data(), static_cast<size_t>(field.size()));
}

}  // namespace

// Checked a block at a time without a branch per value (the loop vectorizes).
bool ToIntegers(std::span<const double> values, int digits, std::vector<int64_t>* out) {
  const double scale = kPow10[digits];
  // Below 2^51, adding and taking away 1.5 * 2^52 rounds to the nearest integer.
  constexpr double kRound = 0x1.8p52;
  constexpr double kLimit = 0x1p51;
  constexpr size_t kBlock = 1024;
  out->resize(values.size());
  int64_t* n_out = out->data();
  for (size_t b = 0; b < values.size(); b += kBlock) {
    const size_t e = std::min(values.size(), b + kBlock);
    bool inexact = false;
    for (size_t i = b; i < e; ++i) {
      const double v = values[i];
      const double n = (v * scale + kRound) - kRound;
      const bool small = std::fabs(n) < kLimit;  // false for NaN and infinities too
      inexact |= !small | (std::bit_cast<uint64_t>(n / scale) != std::bit_cast<uint64_t>(v));
      n_out[i] = static_cast<int64_t>(small ? n : 0.0);
    }
    if (inexact) return false;
  }
  return true;
}

std::optional<int> FewestDigits(std::span<const double> values, int below,
                                std::vector<int64_t>* out) {
  for (int d = 0; d < below; ++d) {
    if (ToIntegers(values, d, out)) return d;
  }
  return std::nullopt;
}

void PutDecimal(std::span<const int64_t> integers, int decimals, backtest::v1::DecimalColumn* out) {
  out->set_decimals(decimals);
  const size_t n = integers.size();
  const int64_t base = n > 0 ? integers[0] : 0;
  out->set_base(static_cast<double>(base));  // below 2^51: exact
  uint64_t widest = 0;  // the largest delta, or the complement of the most negative one
  for (size_t i = 1; i < n; ++i) {
    const int64_t d = integers[i] - integers[i - 1];
    widest = std::max(widest, static_cast<uint64_t>(d < 0 ? ~d : d));
  }
  const size_t width = widest < 0x80 ? 1 : widest < 0x8000 ? 2 : widest < 0x80000000 ? 4 : 8;
  out->set_width(static_cast<int>(width));
  std::string* deltas = out->mutable_deltas();
  deltas->resize(n * width);
  char* p = deltas->data();
  int64_t previous = base;
  for (size_t i = 0; i < n; ++i, p += width) {
    const int64_t d = integers[i] - previous;  // little-endian: its low bytes are the narrow value
    std::memcpy(p, &d, width);
    previous = integers[i];
  }
}

std::vector<int64_t> DecimalIntegers(const backtest::v1::DecimalColumn& column, size_t first,
                                     size_t end) {
  const size_t width = static_cast<size_t>(column.width());
  const int shift = 64 - 8 * static_cast<int>(width);
  const char* p = column.deltas().data();
  std::vector<int64_t> out(end - first);
  int64_t n = static_cast<int64_t>(column.base());
  for (size_t i = 0; i < end; ++i, p += width) {
    uint64_t raw = 0;
    std::memcpy(&raw, p, width);
    n += static_cast<int64_t>(raw << shift) >> shift;  // sign-extended
    if (i >= first) out[i - first] = n;
  }
  return out;
}

CandleDecimals CandleDecimals::Of(const backtest::runner::v1::CandleColumns& candles) {
  CandleDecimals out;
  PutDecimal(Span(candles.time()), 0, &out.time);
  const google::protobuf::RepeatedField<double>* columns[kColumns] = {
      &candles.open(), &candles.high(), &candles.low(), &candles.close(), &candles.volume()};
  std::vector<int64_t> integers;
  for (size_t c = 0; c < kColumns; ++c) {
    const std::optional<int> digits = FewestDigits(Span(*columns[c]), kMaxDecimals + 1, &integers);
    if (digits) PutDecimal(integers, *digits, &out.values[c].emplace());
  }
  return out;
}

size_t CandleDecimals::bytes() const {
  size_t n = sizeof(*this) + time.deltas().size();
  for (const auto& c : values) n += c ? c->deltas().size() : 0;
  return n;
}

}  // namespace backtest::api
