#include "server/engine/data/resampler.h"

#include <algorithm>

namespace backtest::engine {

BarSeries Resample(const BarSeries& in, Timeframe tf) {
  BarSeries out;
  if (in.empty()) return out;
  out.Reserve(in.size() / 2 + 1);
  int64_t bucket = BucketStart(tf, in.time[0]);
  double o = in.open[0], h = in.high[0], l = in.low[0], c = in.close[0], v = in.volume[0];
  for (size_t i = 1; i < in.size(); ++i) {
    int64_t b = BucketStart(tf, in.time[i]);
    if (b != bucket) {
      out.Append(bucket, o, h, l, c, v);
      bucket = b;
      o = in.open[i];
      h = in.high[i];
      l = in.low[i];
      v = 0;
    } else {
      h = std::max(h, in.high[i]);
      l = std::min(l, in.low[i]);
    }
    c = in.close[i];
    v += in.volume[i];
  }
  out.Append(bucket, o, h, l, c, v);
  return out;
}

std::optional<int64_t> SmallestStep(const BarSeries& in) {
  if (in.size() < 2) return std::nullopt;
  int64_t best = in.time[1] - in.time[0];
  for (size_t i = 2; i < in.size(); ++i) best = std::min(best, in.time[i] - in.time[i - 1]);
  return best;
}

}  // namespace backtest::engine
