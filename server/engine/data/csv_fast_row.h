// The CSV reader's fast paths for the usual row, "epoch,open,high,low,close[,volume]\n" with plain
// decimals: the scalar one (any row, one field after the other, eight digits at a time) and the
// vector one (SSE2, a row of at most 63 bytes with 64 readable: every separator of the row found
// at once, then each field converted in one step from its bytes, the decimal point squeezed out).
// Both give a field's digits as a Decimal whose double is exact (see ToDouble); a field either
// path does not take is left to the general path, which reports what is wrong with it.
#ifndef BACKTEST_SERVER_ENGINE_DATA_CSV_FAST_ROW_H_
#define BACKTEST_SERVER_ENGINE_DATA_CSV_FAST_ROW_H_

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "server/engine/data/number_parse.h"

namespace backtest::engine::csv_internal {

inline constexpr uint64_t kPow10Int[] = {1,
                                         10,
                                         100,
                                         1000,
                                         10000,
                                         100000,
                                         1000000,
                                         10000000,
                                         100000000,
                                         1000000000,
                                         10000000000,
                                         100000000000,
                                         1000000000000,
                                         10000000000000,
                                         100000000000000,
                                         1000000000000000};

inline constexpr uint64_t kAsciiZeros = 0x3030303030303030ULL;

// A plain decimal as its digits: the value is (neg ? −1 : 1) · m / 10^frac, m < 10^15.
// No default member initializers: a row keeps an array of these, and zero-filling it first (a
// `rep stos` per row) was once the costliest instruction of the parse.
struct Decimal {
  uint64_t m;
  int frac;
  bool neg;
  bool operator==(const Decimal& o) const { return m == o.m && frac == o.frac && neg == o.neg; }
};

// Exact: an integer below 2^53 over an exact power of ten is correctly rounded (and an integer
// needs no division at all).
inline double ToDouble(const Decimal& d) {
  const double m = static_cast<double>(d.m);
  const double v = d.frac == 0 ? m : m / number_parse_internal::kPow10[d.frac];
  return d.neg ? -v : v;
}

// The value of eight digit bytes (byte 0 the most significant; each 0–9 after subtracting '0').
inline uint32_t EightDigits(uint64_t d) {
  d = d * 10 + (d >> 8);
  return static_cast<uint32_t>((((d & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
                                (((d >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >>
                               32);
}

// Reads the run of ASCII digits at p (at most 19) into *value; returns its end. Eight bytes at
// a time while at least eight bytes remain, else byte by byte.
inline const char* Digits(const char* p, const char* end, uint64_t* value) {
  uint64_t m = 0;
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    // A byte is a digit iff its high nibble is 3 and adding 6 keeps it there.
    constexpr uint64_t kHighNibbles = 0xF0F0F0F0F0F0F0F0ULL;
    const uint64_t not_digit = ((w & kHighNibbles) ^ kAsciiZeros) |
                               (((w + 0x0606060606060606ULL) & kHighNibbles) ^ kAsciiZeros);
    const int n = not_digit == 0 ? 8 : __builtin_ctzll(not_digit) / 8;
    if (n == 0) break;
    // The n digits, shifted to the top of the word behind zeros, converted at once.
    m = m * kPow10Int[n] + EightDigits((w - kAsciiZeros) << (8 * (8 - n)));
    p += n;
    if (n < 8) {
      *value = m;
      return p;
    }
  }
  while (p < end && static_cast<unsigned>(*p - '0') <= 9) m = m * 10 + (*p++ - '0');
  *value = m;
  return p;
}

// A plain decimal ([-]digits[.digits], at most 15 digits) ending at `p` == end or at a character
// that is not part of it; the caller checks what follows. nullptr if it is not one.
inline const char* FastNumber(const char* p, const char* end, Decimal* out) {
  const bool neg = p < end && *p == '-';
  p += neg;
  uint64_t whole = 0, fraction = 0;
  const char* start = p;
  p = Digits(p, end, &whole);
  const int int_digits = static_cast<int>(p - start);
  int frac = 0;
  if (p < end && *p == '.') {
    const char* f = ++p;
    p = Digits(p, end, &fraction);
    frac = static_cast<int>(p - f);
  }
  if (int_digits + frac == 0 || int_digits + frac > 15) return nullptr;
  out->m = whole * kPow10Int[frac] + fraction;
  out->frac = frac;
  out->neg = neg;
  return p;
}

// Bytes [0, k) of a word set, k in 0..8.
inline uint64_t LowBytes(int k) { return k >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * k)) - 1; }

// The value of the word's top n (1..8) bytes, ASCII digits; the bytes below them are ignored.
inline uint32_t TopDigits(uint64_t w, int n) {
  const uint64_t keep = ~LowBytes(8 - n);
  return EightDigits(((w & keep) | (kAsciiZeros & ~keep)) - kAsciiZeros);
}

// The value of the n (1..8) digit bytes that end at e (e - 8 readable).
inline uint64_t DigitsEndingAt(const char* e, int n) {
  uint64_t w;
  std::memcpy(&w, e - 8, 8);
  return TopDigits(w, n);
}

// How to read one field of a known row layout in one conversion: the eight bytes ending at `end`,
// the bytes before its decimal point moved up over it, the rest kept, then its digits' bytes.
struct FieldForm {
  int end;
  int frac;                   // digits after the point
  uint64_t before_point;      // bytes of the word before the point (none without one)
  uint64_t from_point;        // bytes kept in place (all without a point)
  uint64_t keep;              // the digits' bytes once the point is out
};

inline FieldForm MakeFieldForm(int end, int digits, int point /* byte in the word, or -1 */) {
  FieldForm f{end, point < 0 ? 0 : 7 - point, 0, ~uint64_t{0}, ~LowBytes(8 - digits)};
  if (point >= 0) {
    f.before_point = LowBytes(point);
    f.from_point = ~LowBytes(point + 1);
  }
  return f;
}

inline uint64_t ReadField(const char* p, const FieldForm& f) {
  uint64_t w;
  std::memcpy(&w, p + f.end - 8, 8);
  w = ((w & f.before_point) << 8) | (w & f.from_point);
  return EightDigits(((w & f.keep) | (kAsciiZeros & ~f.keep)) - kAsciiZeros);
}

// The field p[s, e) of a row as a Decimal in one conversion, given the row's mask of non-digit
// bytes that are not separators (`other`; bit i for p[i]). Takes [digits][.digits] of at most 8
// bytes in all, reading the eight bytes that end at e (which must be readable); otherwise falls
// back to FastNumber on the field (a sign, more digits), which must then end exactly at e.
inline bool FieldDecimal(const char* p, int s, int e, uint64_t other, Decimal* out) {
  const uint64_t in_field = other & ((uint64_t{1} << e) - 1) & ~((uint64_t{1} << s) - 1);
  const int len = e - s;
  const int at = in_field == 0 ? -1 : __builtin_ctzll(in_field);  // the decimal point, if any
  const bool plain = in_field == 0 || ((in_field & (in_field - 1)) == 0 && p[at] == '.');
  const int n = len - (at >= 0);  // digits
  if (plain && n >= 1 && len <= 8) {
    const FieldForm f = MakeFieldForm(e, n, at < 0 ? -1 : at - (e - 8));
    *out = {ReadField(p, f), f.frac, false};
    return true;
  }
  return len > 0 && FastNumber(p + s, p + e, out) == p + e;
}

// The layout of a row up to its last field: its commas and decimal points (bit i for byte i),
// and how to read the time (up to 11 digits, in two parts) and the fields between it and the last
// one. Rows of a file nearly all share one (prices keep their widths), and a row that does is
// read with no decision per field; its last field (whose width, volume's, often varies) is read
// as any field is.
struct RowLayout {
  bool valid = false;
  uint64_t commas = 0;
  uint64_t dots = 0;
  int middle = 0;             // fields between the time and the last one
  FieldForm time_low{};       // the time's last 8 digits (or all)
  FieldForm time_high{};      // the digits before those (keep = 0 when none)
  FieldForm form[4]{};        // the middle fields
};

// The layout of the row at p, a row just read whose commas up to its last one are `commas` and
// full stops before its last comma `dots`; false when a field is not one ReadField takes (a
// sign, a time with a point or of more than 11 digits — 12 and more are milliseconds, which the
// general path reads —, a value of more than 8 bytes).
inline bool MakeLayout(const char* p, uint64_t commas, uint64_t dots, RowLayout* out) {
  RowLayout l;
  l.commas = commas;
  l.dots = dots;
  int s = 0;
  for (int k = 0; commas != 0; ++k) {
    const int e = __builtin_ctzll(commas);
    commas &= commas - 1;
    const uint64_t in_field = dots & ((uint64_t{1} << e) - 1) & ~((uint64_t{1} << s) - 1);
    const int len = e - s;
    if (in_field & (in_field - 1)) return false;  // two points
    const int at = in_field == 0 ? -1 : __builtin_ctzll(in_field);
    for (int i = s; i < e; ++i) {
      if (i != at && static_cast<unsigned>(p[i] - '0') > 9) return false;
    }
    if (k == 0) {
      if (at >= 0 || len < 1 || len > 11) return false;
      l.time_low = MakeFieldForm(e, std::min(len, 8), -1);
      l.time_high = MakeFieldForm(e - 8, std::max(len - 8, 1), -1);
      if (len <= 8) l.time_high.keep = 0;
    } else {
      if (k > 4 || len > 8 || len - (at >= 0) < 1) return false;
      l.form[k - 1] = MakeFieldForm(e, len - (at >= 0), at < 0 ? -1 : at - (e - 8));
      l.middle = k;
    }
    s = e + 1;
  }
  l.valid = true;
  *out = l;
  return true;
}

#if defined(__SSE2__)
inline constexpr bool kHaveVectorRows = true;

// Bits of the 64 bytes at p: the commas, the line feeds, the full stops, and the bytes that are
// not ASCII digits.
struct RowBits {
  uint64_t comma;
  uint64_t newline;
  uint64_t dot;
  uint64_t not_digit;
};

inline RowBits ClassifyRow(const char* p) {
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i dot = _mm_set1_epi8('.');
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i nine = _mm_set1_epi8(9);
  RowBits bits{0, 0, 0, 0};
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i d = _mm_sub_epi8(v, zero);  // a digit iff 0..9 unsigned
    const auto is_digit = static_cast<uint64_t>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d)));
    bits.comma |= static_cast<uint64_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma))) << (16 * k);
    bits.newline |= static_cast<uint64_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)))
                    << (16 * k);
    bits.dot |= static_cast<uint64_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot))) << (16 * k);
    bits.not_digit |= (~is_digit & 0xFFFF) << (16 * k);
  }
  return bits;
}
#else
inline constexpr bool kHaveVectorRows = false;
#endif

}  // namespace backtest::engine::csv_internal

#endif  // BACKTEST_SERVER_ENGINE_DATA_CSV_FAST_ROW_H_
