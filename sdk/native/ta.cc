// backtestd.ta: the engine's indicators over whole arrays, for vectorized strategies (signals()).
// The values are those the per-bar indicators give on the same bars, bit for bit (an SMA's is the
// exact mean, as backtrader's math.fsum gives it), so a vectorized strategy and its on_bar twin
// make the same decisions.
#include "sdk/native/ta.h"

#include <nanobind/ndarray.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "server/engine/data/column.h"
#include "server/engine/indicators/atr.h"
#include "server/engine/indicators/ema.h"
#include "server/engine/indicators/rolling_extreme.h"
#include "server/engine/indicators/rsi.h"
#include "server/engine/indicators/sma.h"

namespace backtest::sdk {
namespace {

using In = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
template <typename T>
using Out = nb::ndarray<nb::numpy, T, nb::ndim<1>>;

// Outputs in engine Columns: on huge pages from 4 MB (a 1M-element array faults in a few pages).
template <typename T>
Out<T> Make(size_t n, T** data) {
  auto* owned = new engine::Column<T>(n);
  nb::capsule free(owned, [](void* p) noexcept { delete static_cast<engine::Column<T>*>(p); });
  *data = owned->data();
  return Out<T>(owned->data(), {n}, free);
}

void CheckPeriod(int64_t n) {
  if (n < 1 || n > 1'000'000) throw nb::value_error("period: must be in [1, 1000000]");
}

Out<double> Sma(In x, int64_t n) {
  CheckPeriod(n);
  double* out;
  Out<double> r = Make<double>(x.shape(0), &out);
  engine::Sma::Means(x.data(), x.shape(0), n, out);
  return r;
}

template <typename Ind>
Out<double> Each(In x, int64_t n) {
  CheckPeriod(n);
  double* out;
  Out<double> r = Make<double>(x.shape(0), &out);
  Ind ind(n);
  for (size_t i = 0; i < x.shape(0); ++i) {
    ind.Update(x.data()[i]);
    out[i] = ind.ready() ? ind.value() : NAN;
  }
  return r;
}

Out<double> Atr(In high, In low, In close, int64_t n) {
  CheckPeriod(n);
  const size_t len = close.shape(0);
  if (high.shape(0) != len || low.shape(0) != len) {
    throw nb::value_error("atr: high, low and close must have the same length");
  }
  double* out;
  Out<double> r = Make<double>(len, &out);
  engine::Atr atr(n);
  for (size_t i = 0; i < len; ++i) {
    atr.Update(high.data()[i], low.data()[i], close.data()[i]);
    out[i] = atr.ready() ? atr.value() : NAN;
  }
  return r;
}

template <bool kHighest>
Out<double> Extreme(In x, int64_t n) {
  CheckPeriod(n);
  double* out;
  Out<double> r = Make<double>(x.shape(0), &out);
  engine::RollingExtreme<kHighest> ext(n);
  for (size_t i = 0; i < x.shape(0); ++i) {
    ext.Push(static_cast<int64_t>(i), x.data()[i]);
    out[i] = static_cast<int64_t>(i) + 1 >= n ? ext.Value() : NAN;
  }
  return r;
}

// backtrader's CrossOver: +1 where a − b turns positive after its last non-zero sign was
// negative, −1 for the mirror, else 0; bars where either is NaN give 0 and keep the last sign.
Out<int8_t> Crossover(In a, In b) {
  const size_t n = a.shape(0);
  if (b.shape(0) != n) throw nb::value_error("crossover: a and b must have the same length");
  int8_t* out;
  Out<int8_t> r = Make<int8_t>(n, &out);
  int last = 0;
  const double* x = a.data();
  const double* y = b.data();
  for (size_t i = 0; i < n; ++i) {
    const bool valid = !std::isnan(x[i]) && !std::isnan(y[i]);
    const int sign = valid ? static_cast<int>(x[i] > y[i]) - static_cast<int>(x[i] < y[i]) : 0;
    out[i] = static_cast<int8_t>(static_cast<int>((sign > 0) & (last < 0)) -
                                 static_cast<int>((sign < 0) & (last > 0)));
    last = sign != 0 ? sign : last;
  }
  return r;
}

// crossover(sma(x, fast), sma(x, slow)), bit for bit, without the SMA arrays: running sums over
// blocks of 2048 values (restarted from a plain sum at each block: within ~1e-13 relative of the
// exact sums), the sign of fast − slow taken from them outside a 1e-9 relative band and from the
// exact means (Sma::WindowMean) inside it — the built-in sma_cross's scan (SmaCross::ScanCrosses).
Out<int8_t> SmaCross(In x, int64_t fast, int64_t slow) {
  CheckPeriod(fast);
  CheckPeriod(slow);
  const size_t n = x.shape(0);
  int8_t* out;
  Out<int8_t> r = Make<int8_t>(n, &out);
  std::fill(out, out + n, 0);
  const double* v = x.data();
  for (size_t j = 0; j < n; ++j) {
    if (!std::isfinite(v[j])) throw nb::value_error("sma_cross: the values must be finite");
  }
  const auto nf = static_cast<size_t>(fast), ns = static_cast<size_t>(slow);
  const double invf = 1.0 / static_cast<double>(fast), invs = 1.0 / static_cast<double>(slow);
  int last = 0;
  for (size_t from = std::max(nf, ns) - 1; from < n; from += 2048) {
    const size_t to = std::min(n, from + 2048);
    double sf = 0, ss = 0;
    for (size_t j = from + 1 - nf; j <= from; ++j) sf += v[j];
    for (size_t j = from + 1 - ns; j <= from; ++j) ss += v[j];
    for (size_t j = from;;) {
      const double fa = sf * invf, sa = ss * invs;
      const double d = fa - sa;
      const double band = 1e-9 * (std::fabs(fa) + std::fabs(sa));
      int sign = static_cast<int>(d > band) - static_cast<int>(d < -band);
      if (sign == 0) [[unlikely]] {
        const double f = engine::Sma::WindowMean(v, j + 1, fast);
        const double s = engine::Sma::WindowMean(v, j + 1, slow);
        sign = static_cast<int>(f > s) - static_cast<int>(f < s);
      }
      out[j] = static_cast<int8_t>(static_cast<int>((sign > 0) & (last < 0)) -
                                   static_cast<int>((sign < 0) & (last > 0)));
      last = sign != 0 ? sign : last;
      if (++j == to) break;
      sf += v[j] - v[j - nf];
      ss += v[j] - v[j - ns];
    }
  }
  return r;
}

}  // namespace

void BindTa(nb::module_& m) {
  nb::module_ ta = m.def_submodule("ta", "The engine's indicators over whole arrays.");
  ta.def("sma", &Sma, nb::arg("x"), nb::arg("period"),
         "Exact mean of the last `period` values (NaN before the first).");
  ta.def("ema", &Each<engine::Ema>, nb::arg("x"), nb::arg("period"),
         "EMA, alpha 2/(n+1), seeded with the SMA of the first n values.");
  ta.def("rsi", &Each<engine::Rsi>, nb::arg("x"), nb::arg("period") = 14, "Wilder's RSI.");
  ta.def("atr", &Atr, nb::arg("high"), nb::arg("low"), nb::arg("close"), nb::arg("period") = 14,
         "Wilder's ATR.");
  ta.def("highest", &Extreme<true>, nb::arg("x"), nb::arg("period"),
         "Highest of the last `period` values, the current one included.");
  ta.def("lowest", &Extreme<false>, nb::arg("x"), nb::arg("period"),
         "Lowest of the last `period` values, the current one included.");
  ta.def("sma_cross", &SmaCross, nb::arg("x"), nb::arg("fast"), nb::arg("slow"),
         "crossover(sma(x, fast), sma(x, slow)), the same values, without the SMA arrays.");
  ta.def("crossover", &Crossover, nb::arg("a"), nb::arg("b"),
         "+1 where a crosses above b, -1 where below, else 0 (backtrader's CrossOver).");
}

}  // namespace backtest::sdk
