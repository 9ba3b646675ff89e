#include "server/engine/data/sample_source.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/pip_size.h"

namespace backtest::engine {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// Uniform in [-1, 1) from a seed and a lattice index.
double Lattice(uint64_t seed, int64_t i) {
  uint64_t h = SplitMix(seed ^ SplitMix(static_cast<uint64_t>(i)));
  return static_cast<double>(h >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

// Smooth value noise in [-1, 1]: lattice values every unit, smoothstep-interpolated.
//
// Bars are generated in time order, so the lattice index moves slowly for the long scales: the
// pair of lattice values around x is kept and recomputed only when x crosses into another cell
// (the values are the same ones, so the output is too).
class ValueNoise {
 public:
  explicit ValueNoise(uint64_t seed) : seed_(seed) {}

  double operator()(double x) {
    double fl = std::floor(x);
    double f = x - fl;
    auto i = static_cast<int64_t>(fl);
    if (!valid_ || i != i_) {
      if (valid_ && i == i_ + 1) {
        a_ = b_;
      } else {
        a_ = Lattice(seed_, i);
      }
      b_ = Lattice(seed_, i + 1);
      i_ = i;
      valid_ = true;
    }
    return a_ + (b_ - a_) * (f * f * (3 - 2 * f));
  }

 private:
  uint64_t seed_;
  bool valid_ = false;
  int64_t i_ = 0;
  double a_ = 0, b_ = 0;
};

struct Component {
  double scale_seconds;
  double amplitude;
  bool regime;  // multiplied by the volatility regime
};

constexpr Component kComponents[] = {
    {365.0 * 86400, 0.09, false}, {120.0 * 86400, 0.05, false}, {30.0 * 86400, 0.03, false},
    {7.0 * 86400, 0.018, true},   {2.0 * 86400, 0.010, true},   {12.0 * 3600, 0.006, true},
    {3.0 * 3600, 0.0035, true},   {3600.0, 0.002, true},        {900.0, 0.001, true},
    {240.0, 0.0006, true},
};
constexpr size_t kComponentCount = sizeof(kComponents) / sizeof(kComponents[0]);

struct SymbolModel {
  uint64_t seed;
  double base;
  double scale;  // multiplies every amplitude
};

SymbolModel ModelFor(absl::string_view symbol, Timeframe tf) {
  uint64_t seed = Fnv1a(absl::StrCat(symbol, "/", TimeframeName(tf)));
  uint64_t sym_seed = Fnv1a(symbol);
  double u = static_cast<double>(SplitMix(sym_seed) >> 11) / 9007199254740992.0;
  if (absl::StartsWith(symbol, "XAG")) return {seed, 25.0, 1.0};
  if (absl::StartsWith(symbol, "XAU")) return {seed, 1900.0, 0.25};
  if (IsCurrencyPair(symbol)) {
    if (symbol.substr(3) == "JPY") return {seed, 130.0, 0.7};
    if (symbol == "EURUSD") return {seed, 1.1, 0.45};
    return {seed, 0.7 + 0.8 * u, 0.45};
  }
  return {seed, 100.0, 1.0};
}

// Generates bars in increasing time order (the noise caches assume it; any order would still give
// the same values, only slower).
class Generator {
 public:
  Generator(const SymbolModel& m, int64_t step) : m_(m), step_(step), regime_noise_(m.seed ^ 0xA5A5A5A5ULL) {
    noise_.reserve(kComponentCount);
    for (size_t k = 1; k <= kComponentCount; ++k) noise_.emplace_back(m_.seed + 7919 * k);
  }

  // A bar asks for the regime at its open (its sigma) right after the model price at its close
  // asked for it at the close: the last two are kept, so each is computed once.
  double Regime(int64_t t) {
    if (t == regime_time_[0]) return regime_at_[0];
    if (t == regime_time_[1]) return regime_at_[1];
    const int slot = next_regime_slot_;
    next_regime_slot_ ^= 1;
    regime_time_[slot] = t;
    regime_at_[slot] = std::exp(0.6 * regime_noise_(static_cast<double>(t) / (10.0 * 86400)));
    return regime_at_[slot];
  }

  double Price(int64_t t) {
    const double time = static_cast<double>(t);
    double regime = Regime(t);
    double x = 0;
    for (size_t k = 0; k < kComponentCount; ++k) {
      const Component& c = kComponents[k];
      double v = c.amplitude * noise_[k](time / c.scale_seconds);
      x += c.regime ? v * regime : v;
    }
    return m_.base * std::exp(m_.scale * x);
  }

  // One bar opening at `t`; `prev_close` is NaN for the first bar. The model price at the previous
  // bar's end is kept (the price function is evaluated once per bar boundary).
  void Bar(int64_t t, double prev_close, double* o, double* h, double* l, double* c) {
    double open = price_time_ == t ? price_at_ : Price(t);
    double close = Price(t + step_);
    price_time_ = t + step_;
    price_at_ = close;
    uint64_t r = SplitMix(m_.seed ^ SplitMix(static_cast<uint64_t>(t) * 31 + 17));
    double u1 = static_cast<double>(r & 0xFFFFF) / 1048576.0;
    double u2 = static_cast<double>((r >> 20) & 0xFFFFF) / 1048576.0;
    double u3 = static_cast<double>((r >> 40) & 0xFFFFF) / 1048576.0;
    double sigma = close * m_.scale * 0.0012 * Regime(t) *
                   std::sqrt(static_cast<double>(step_) / 3600.0);
    // About one bar in 400 opens away from the previous close (news gap); the weekend's drift
    // already makes Monday open away from Friday's close.
    if (!std::isnan(prev_close) && u3 < 0.0025) {
      open = prev_close + (u1 - 0.5) * 6 * sigma;
    }
    *o = open;
    *c = close;
    *h = std::max(open, close) + u1 * u1 * sigma;
    *l = std::min(open, close) - u2 * u2 * sigma;
  }

 private:
  SymbolModel m_;
  int64_t step_;
  ValueNoise regime_noise_;
  std::vector<ValueNoise> noise_;
  int64_t regime_time_[2] = {INT64_MIN, INT64_MIN};
  double regime_at_[2] = {0, 0};
  int next_regime_slot_ = 0;
  int64_t price_time_ = INT64_MIN;
  double price_at_ = 0;
};

}  // namespace

absl::StatusOr<BarSeries> SampleSource::Fetch(const FetchRequest& req) {
  const int64_t step = TimeframeSeconds(req.timeframe);
  int64_t t = BucketStart(req.timeframe, req.start);
  if (t < req.start) t += step;
  if (req.end > t && (req.end - t) / step > kMaxBars) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "sample://: ", req.symbol, " ", TimeframeName(req.timeframe), " window of ",
        (req.end - t) / step, " bars exceeds ", kMaxBars, " bars"));
  }
  Generator gen(ModelFor(req.symbol, req.timeframe), step);
  BarSeries out;
  if (req.end > t) out.Reserve(static_cast<size_t>((req.end - t) / step + 1));
  double prev_close = std::nan("");
  // Rounded to a tenth of a pip so the numbers look like quotes: an integer number of ticks over
  // an exact power of ten gives the nearest double to the decimal (24.641, not 24.641000000000002).
  const double tick = DefaultPipSize(req.symbol) / 10;
  const double per_unit = std::round(1.0 / tick);
  auto quote = [per_unit](double x) { return std::round(x * per_unit) / per_unit; };
  for (; t < req.end; t += step) {
    if (req.skip_weekends && req.timeframe != Timeframe::kW1 &&
        WeekdayOfDay(UtcDay(t)) >= 5) {
      continue;
    }
    double o, h, l, c;
    gen.Bar(t, prev_close, &o, &h, &l, &c);
    o = quote(o);
    c = quote(c);
    h = std::max({quote(h), o, c});
    l = std::min({quote(l), o, c});
    uint64_t r = SplitMix(static_cast<uint64_t>(t) ^ 0x5bd1e995ULL);
    double volume = std::round(100 + static_cast<double>(r % 900) * (h - l) / (tick * 10 + 1e-12));
    out.Append(t, o, h, l, c, std::min(volume, 1e9));
    prev_close = c;
  }
  return out;
}

}  // namespace backtest::engine
