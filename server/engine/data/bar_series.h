// A columnar OHLCV series of one symbol: one array per field, so indicator loops read contiguous
// memory. Times are bar open times, UTC epoch seconds, strictly increasing. Prices are bid.
//
// Plain value type; not thread-safe for writing, safe to share read-only (e.g. via shared_ptr<const>).
#ifndef BACKTEST_SERVER_ENGINE_DATA_BAR_SERIES_H_
#define BACKTEST_SERVER_ENGINE_DATA_BAR_SERIES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "server/engine/data/column.h"

namespace backtest::engine {

struct BarSeries {
  Column<int64_t> time;
  Column<double> open;
  Column<double> high;
  Column<double> low;
  Column<double> close;
  Column<double> volume;  // 0 when the source has none
  // DatasetHash of exactly these bars when it is known without hashing them (the bar cache
  // stores it with a parsed file), else empty. Whatever makes other bars of these (a slice, a
  // resample) makes a series without it; code that changes the columns in place must clear it.
  std::string dataset_hash;

  size_t size() const { return time.size(); }
  bool empty() const { return time.empty(); }

  void Reserve(size_t n) {
    time.reserve(n);
    open.reserve(n);
    high.reserve(n);
    low.reserve(n);
    close.reserve(n);
    volume.reserve(n);
  }

  // Sets the number of rows; new rows are left unwritten (see column.h).
  void Resize(size_t n) {
    time.resize(n);
    open.resize(n);
    high.resize(n);
    low.resize(n);
    close.resize(n);
    volume.resize(n);
  }

  // Faults in the pages of rows [first, first + n) (within the size) ahead of writing them
  // (PrefaultForWrite).
  void PrefaultRows(size_t first, size_t n) {
    if (first >= size()) return;
    n = std::min(n, size() - first);
    auto prefault = [&](auto& c) { PrefaultForWrite(c.data() + first, n * sizeof(c[0])); };
    prefault(time);
    prefault(open);
    prefault(high);
    prefault(low);
    prefault(close);
    prefault(volume);
  }

  void Append(int64_t t, double o, double h, double l, double c, double v) {
    time.push_back(t);
    open.push_back(o);
    high.push_back(h);
    low.push_back(l);
    close.push_back(c);
    volume.push_back(v);
  }

  // Copies bars [begin, end) into a new series.
  BarSeries Slice(size_t begin, size_t end) const {
    BarSeries out;
    out.time.assign(time.begin() + begin, time.begin() + end);
    out.open.assign(open.begin() + begin, open.begin() + end);
    out.high.assign(high.begin() + begin, high.begin() + end);
    out.low.assign(low.begin() + begin, low.begin() + end);
    out.close.assign(close.begin() + begin, close.begin() + end);
    out.volume.assign(volume.begin() + begin, volume.begin() + end);
    return out;
  }
};

// A read-only window [first, first + count) of a series, as spans (cheap to copy).
struct BarView {
  std::span<const int64_t> time;
  std::span<const double> open;
  std::span<const double> high;
  std::span<const double> low;
  std::span<const double> close;
  std::span<const double> volume;

  size_t size() const { return time.size(); }

  static BarView Of(const BarSeries& s, size_t first, size_t count) {
    return BarView{std::span<const int64_t>(s.time).subspan(first, count),
                   std::span<const double>(s.open).subspan(first, count),
                   std::span<const double>(s.high).subspan(first, count),
                   std::span<const double>(s.low).subspan(first, count),
                   std::span<const double>(s.close).subspan(first, count),
                   std::span<const double>(s.volume).subspan(first, count)};
  }
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_BAR_SERIES_H_
