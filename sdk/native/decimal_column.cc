#include "sdk/native/decimal_column.h"

#include <nanobind/ndarray.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace backtest::sdk {
namespace {

constexpr double kPow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};

// The running sum of `n` deltas of type T from `base`, each sum as a double (exact: below 2^53).
template <typename T>
void Sum(const char* deltas, size_t n, int64_t base, double* out) {
  int64_t sum = base;
  for (size_t i = 0; i < n; ++i) {
    T d;
    std::memcpy(&d, deltas + i * sizeof(T), sizeof(T));  // little-endian, as the machine
    sum += d;
    out[i] = static_cast<double>(sum);
  }
}

// What numpy's (base + cumsum(deltas)) / 10**decimals gives, in one pass and a division loop
// that vectorizes: IEEE 754 divisions of the same numbers, so the same doubles bit for bit.
nb::ndarray<nb::numpy, double, nb::ndim<1>> DecimalValues(nb::bytes deltas, int width, double base,
                                                          int decimals) {
  if (width != 1 && width != 2 && width != 4 && width != 8) {
    throw nb::value_error("width: must be 1, 2, 4 or 8");
  }
  if (decimals < 0 || decimals > 8) throw nb::value_error("decimals: must be 0 to 8");
  const size_t n = deltas.size() / static_cast<size_t>(width);
  auto* values = new std::vector<double>(n);
  nb::capsule free(values, [](void* p) noexcept { delete static_cast<std::vector<double>*>(p); });
  const char* p = deltas.c_str();
  const auto start = static_cast<int64_t>(base);  // a whole number below 2^51
  double* out = values->data();
  switch (width) {
    case 1: Sum<int8_t>(p, n, start, out); break;
    case 2: Sum<int16_t>(p, n, start, out); break;
    case 4: Sum<int32_t>(p, n, start, out); break;
    default: Sum<int64_t>(p, n, start, out); break;
  }
  if (decimals > 0) {
    const double scale = kPow10[decimals];
    for (size_t i = 0; i < n; ++i) out[i] /= scale;
  }
  return nb::ndarray<nb::numpy, double, nb::ndim<1>>(out, {n}, free);
}

}  // namespace

void BindDecimalColumn(nb::module_& m) {
  m.def("decimal_values", &DecimalValues, nb::arg("deltas"), nb::arg("width"), nb::arg("base"),
        nb::arg("decimals"),
        "A DecimalColumn's values as a numpy array of doubles: (base + the running sum of the "
        "deltas, little-endian integers of width bytes) / 10**decimals. ValueError naming a bad "
        "width or decimals.");
}

}  // namespace backtest::sdk
