#include "server/engine/trace/json_writer.h"

#include <charconv>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>

namespace backtest::engine {
namespace {

constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Writes u's decimal digits ending at `end`; returns the first.
char* WriteDigits(char* end, uint64_t u) {
  while (u >= 100) {
    const unsigned pair = static_cast<unsigned>(u % 100) * 2;
    u /= 100;
    *--end = kDigitPairs[pair + 1];
    *--end = kDigitPairs[pair];
  }
  if (u >= 10) {
    const unsigned pair = static_cast<unsigned>(u) * 2;
    *--end = kDigitPairs[pair + 1];
    *--end = kDigitPairs[pair];
  } else {
    *--end = static_cast<char>('0' + u);
  }
  return end;
}

// Fast path for numbers with at most 8 decimals below 9e7 (prices, sizes, most data): the decimal
// m / 10^8 is written only when it converts back to exactly `v` (an exact integer over an exact
// power of ten is correctly rounded, as strtod would round the written text). Returns nullptr when
// it does not apply. `out` must have 32 bytes of room.
char* WriteDecimal(char* out, double v) {
  constexpr double kScale = 1e8;
  if (!(std::fabs(v) < 9e7)) return nullptr;
  // Rounded by truncating ±0.5 (no libm call); the check below makes any rounding safe.
  const double product = v * kScale;
  const auto m = static_cast<int64_t>(product + (product >= 0 ? 0.5 : -0.5));
  if (static_cast<double>(m) / kScale != v) return nullptr;
  const bool neg = m < 0;
  const uint64_t u = neg ? static_cast<uint64_t>(-m) : static_cast<uint64_t>(m);
  uint64_t frac = u % 100'000'000;
  // tmp: [sign][whole digits] . [8 fraction digits]; built right to left, copied with one
  // fixed-size memcpy (the caller guarantees the room).
  char tmp[64];
  char* const dot = tmp + 40;
  for (int k = 3; k >= 0; --k) {  // eight fraction digits, two at a time
    const unsigned pair = static_cast<unsigned>(frac % 100) * 2;
    frac /= 100;
    dot[1 + 2 * k] = kDigitPairs[pair];
    dot[2 + 2 * k] = kDigitPairs[pair + 1];
  }
  char* end = dot + 9;
  while (end > dot + 1 && end[-1] == '0') --end;  // trailing zeros of the fraction go
  if (end == dot + 1) {
    end = dot;  // no fraction
  } else {
    *dot = '.';
  }
  char* p = WriteDigits(dot, u / 100'000'000);
  if (neg) *--p = '-';
  std::memcpy(out, p, 32);
  return out + (end - p);
}

}  // namespace

char* WriteShortest(char* p, double v) {
  if (v == 0) {
    *p = '0';
    return p + 1;
  }
  if (char* end = WriteDecimal(p, v)) return end;
  return std::to_chars(p, p + 32, v).ptr;
}

NumberCache::NumberCache() {
  // A NaN pattern: only finite values are looked up, so no entry matches before it is filled.
  for (Entry& e : shortest_) e.bits = 0x7ff8deadbeef0000ULL;
  for (Entry& e : approx_) e.bits = 0x7ff8deadbeef0000ULL;
}

char* NumberCache::Miss(Entry& e, uint64_t bits, char* p, double v, bool approx) {
  char* end = approx ? WriteApprox(p, v) : WriteShortest(p, v);
  const auto len = static_cast<size_t>(end - p);
  if (len <= sizeof e.text) {
    e.bits = bits;
    e.len = static_cast<uint8_t>(len);
    std::memcpy(e.text, p, len);
  }
  return end;
}

void NumberText::Set(double v, NumberCache& cache) {
  if (!std::isfinite(v)) {
    std::memcpy(buf_, "null", 4);
    len_ = 4;
    return;
  }
  len_ = static_cast<size_t>(cache.Shortest(buf_, v) - buf_);
}

void NumberText::Set(double v) {
  if (!std::isfinite(v)) {
    std::memcpy(buf_, "null", 4);
    len_ = 4;
    return;
  }
  len_ = static_cast<size_t>(WriteShortest(buf_, v) - buf_);
}

void AppendShortest(std::string* out, double v) {
  char buf[32];
  out->append(buf, WriteShortest(buf, v) - buf);
}

namespace {

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10,
                             1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
                             1e22};

// v rounded to `decimals` fraction digits (round half away from zero on the scaled value), when
// the scaled value fits an int64 exactly; nullptr otherwise.
char* WriteScaled(char* out, double v, int decimals) {
  if (decimals < 0 || decimals > 22) return nullptr;
  const double product = v * kPow10[decimals];
  if (!(std::fabs(product) < 9e15)) return nullptr;
  const auto m = static_cast<int64_t>(product + (product >= 0 ? 0.5 : -0.5));
  const bool neg = m < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-m) : static_cast<uint64_t>(m);
  // Built right to left ending at tmp + 48; copied with one fixed-size memcpy (callers give
  // 32 bytes of room; the 32 bytes read from p stay inside tmp).
  char tmp[80];
  char* end = tmp + 48;
  char* p = end;
  if (decimals > 0) {
    int k = decimals;
    for (; k >= 2; k -= 2) {  // two digits at a time
      const unsigned pair = static_cast<unsigned>(u % 100) * 2;
      u /= 100;
      *--p = kDigitPairs[pair + 1];
      *--p = kDigitPairs[pair];
    }
    if (k == 1) {
      *--p = static_cast<char>('0' + u % 10);
      u /= 10;
    }
    *--p = '.';
  }
  p = WriteDigits(p, u);
  if (neg && m != 0) *--p = '-';
  if (end - p > 32) return nullptr;  // defensive: at most 25 characters below 9e15
  std::memcpy(out, p, 32);
  return out + (end - p);
}

}  // namespace

char* WriteApprox(char* p, double v) {
  const double a = std::fabs(v);
  if (a == 0) {
    *p = '0';
    return p + 1;
  }
  if (a >= 1e-4 && a < 1e15) {
    // e = floor(log10(a)), by table: a has e + 1 integer digits, or −e − 1 zeros after the point.
    int e = 0;
    if (a >= 1) {
      while (e < 15 && a >= kPow10[e + 1]) ++e;
    } else {
      while (a * kPow10[-e] < 1) --e;
    }
    // 10 significant digits, then trailing zeros of the fraction dropped.
    const int decimals = e >= 9 ? 0 : 9 - e;
    char* end = WriteScaled(p, v, decimals);
    if (end != nullptr) {
      if (decimals > 0) {
        while (end[-1] == '0') --end;
        if (end[-1] == '.') --end;
      }
      return end;
    }
  }
  return std::to_chars(p, p + 32, v).ptr;
}

void AppendFixed(std::string* out, double v, int decimals) {
  if (!std::isfinite(v)) {
    out->append("n/a");
    return;
  }
  char buf[64];
  if (char* end = WriteScaled(buf, v, decimals)) {
    out->append(buf, end - buf);
    return;
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (ec != std::errc()) {
    AppendShortest(out, v);
    return;
  }
  // "-0.00" reads badly in a sentence.
  if (buf[0] == '-') {
    bool zero = true;
    for (char* p = buf + 1; p < end; ++p) zero &= (*p == '0' || *p == '.');
    if (zero) {
      out->append(buf + 1, end);
      return;
    }
  }
  out->append(buf, end);
}

// Whether any byte is a control character, '"' or '\\'; sixteen bytes at a time with SSE2
// where available (sentences are a few hundred bytes a bar).
bool NeedsEscape(absl::string_view v) {
  const char* p = v.data();
  const char* const end = p + v.size();
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20), bias = _mm_set1_epi8(static_cast<char>(0x80));
  auto hit = [&](const char* q) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    // Unsigned x < 0x20 as a signed compare of both sides shifted by 0x80.
    const __m128i control = _mm_cmplt_epi8(_mm_xor_si128(x, bias), _mm_xor_si128(space, bias));
    return _mm_movemask_epi8(_mm_or_si128(
               control, _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)))) != 0;
  };
  if (v.size() < 16) {
    // Short: checked as one block padded with a harmless letter (no reading past the end).
    char block[16];
    std::memset(block, 'a', sizeof block);
    std::memcpy(block, p, v.size());
    return hit(block);
  }
  for (; end - p >= 16; p += 16) {
    if (hit(p)) return true;
  }
  // The last bytes: the final 16 of the text, overlapping what was checked.
  return p != end && hit(end - 16);
#endif
  for (; p < end; ++p) {
    const auto u = static_cast<unsigned char>(*p);
    if (u < 0x20 || u == '"' || u == '\\') return true;
  }
  return false;
}

JsonWriter::JsonWriter() : numbers_(std::make_unique<NumberCache>()) {}

void JsonWriter::Flush() {
  out_->append(buf_, n_);
  n_ = 0;
}

void JsonWriter::NumValue(double v) {
  Reserve(32);
  if (std::isfinite(v)) {
    n_ = static_cast<size_t>(numbers_->Shortest(buf_ + n_, v) - buf_);
  } else {
    std::memcpy(buf_ + n_, "null", 4);
    n_ += 4;
  }
}

void JsonWriter::ApproxValue(double v) {
  Reserve(32);
  if (std::isfinite(v)) {
    n_ = static_cast<size_t>(numbers_->Approx(buf_ + n_, v) - buf_);
  } else {
    std::memcpy(buf_ + n_, "null", 4);
    n_ += 4;
  }
}

void JsonWriter::IntValue(int64_t v) {
  Reserve(24);
  n_ = static_cast<size_t>(std::to_chars(buf_ + n_, buf_ + n_ + 24, v).ptr - buf_);
}

void JsonWriter::StrValue(absl::string_view v) {
  if (v.size() + 2 <= kCapacity / 2 && !NeedsEscape(v)) {
    // The common case: one room check, the quotes and the text.
    Reserve(v.size() + 2);
    char* p = buf_ + n_;
    *p++ = '"';
    std::memcpy(p, v.data(), v.size());
    p[v.size()] = '"';
    n_ += v.size() + 2;
    return;
  }
  Put("\"", 1);
  if (!NeedsEscape(v)) {
    Put(v.data(), v.size());
  } else {
    for (char c : v) {
      switch (c) {
        case '"': Put("\\\"", 2); break;
        case '\\': Put("\\\\", 2); break;
        case '\n': Put("\\n", 2); break;
        case '\r': Put("\\r", 2); break;
        case '\t': Put("\\t", 2); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            const char esc[6] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 1], kHex[c & 15]};
            Put(esc, 6);
          } else {
            Put(&c, 1);
          }
      }
    }
  }
  Put("\"", 1);
}

}  // namespace backtest::engine
