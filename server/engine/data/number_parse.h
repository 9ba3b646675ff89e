// Fast, exact text → double for CSV prices. Plain decimals with at most 15 significant digits and
// no exponent take Clinger's fast path (an exact integer divided by an exact power of ten is
// correctly rounded); everything else goes to std::from_chars. Either way the result is the
// correctly rounded double, identical to what strtod would give.
#ifndef BACKTEST_SERVER_ENGINE_DATA_NUMBER_PARSE_H_
#define BACKTEST_SERVER_ENGINE_DATA_NUMBER_PARSE_H_

#include <charconv>
#include <cstdint>

namespace backtest::engine {

namespace number_parse_internal {
inline constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
}  // namespace number_parse_internal

// Parses [begin, end) entirely as a number; false if anything is left over or it is not one.
// "nan" and "inf" parse (callers reject non-finite values with their own message).
inline bool ParseDouble(const char* begin, const char* end, double* out) {
  const char* p = begin;
  bool neg = false;
  if (p < end && (*p == '-' || *p == '+')) {
    neg = *p == '-';
    ++p;
  }
  uint64_t mantissa = 0;
  int digits = 0;
  int frac_digits = 0;
  const char* digits_start = p;
  while (p < end && static_cast<unsigned>(*p - '0') <= 9) {
    mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
    ++digits;
    ++p;
  }
  if (p < end && *p == '.') {
    ++p;
    while (p < end && static_cast<unsigned>(*p - '0') <= 9) {
      mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
      ++digits;
      ++frac_digits;
      ++p;
    }
  }
  if (p == end && digits > 0 && digits <= 15 && p != digits_start) {
    double v = static_cast<double>(mantissa) / number_parse_internal::kPow10[frac_digits];
    *out = neg ? -v : v;
    return true;
  }
  // Slow path: exponents, long mantissas, nan/inf. from_chars rejects a leading '+'.
  const char* b = begin;
  if (b < end && *b == '+') ++b;
  auto [ptr, ec] = std::from_chars(b, end, *out);
  return ec == std::errc() && ptr == end && b != end;
}

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_NUMBER_PARSE_H_
