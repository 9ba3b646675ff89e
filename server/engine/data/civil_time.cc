#include "server/engine/data/civil_time.h"

#include <cstring>
#include <string>

namespace backtest::engine {
namespace {

// Reads exactly `n` digits at `p`; false if any is not a digit.
inline bool Digits(const char* p, int n, int64_t* out) {
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    unsigned d = static_cast<unsigned char>(p[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

std::optional<int64_t> ParseEpoch(absl::string_view s) {
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size() || s.size() - i > 16) return std::nullopt;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return std::nullopt;
    v = v * 10 + d;
  }
  if (v >= 100'000'000'000LL) v /= 1000;  // milliseconds
  return neg ? -v : v;
}

inline int64_t DaysInMonth(int64_t y, int64_t m) {
  if (m != 2) return m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31;
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28;
}

}  // namespace

std::optional<int64_t> ParseCsvTime(absl::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.size() < 10 || s[4] != '-') return ParseEpoch(s);
  int64_t y, mo, d;
  if (!Digits(s.data(), 4, &y) || !Digits(s.data() + 5, 2, &mo) || s[7] != '-' ||
      !Digits(s.data() + 8, 2, &d)) {
    return std::nullopt;
  }
  // A real date only: 2021-02-29 or 2021-04-31 is an error, not a day of the next month.
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) return std::nullopt;
  int64_t secs = DaysFromCivil(y, mo, d) * kSecondsPerDay;
  size_t i = 10;
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    int64_t hh, mm, ss = 0;
    if (s.size() < i + 6 || !Digits(s.data() + i + 1, 2, &hh) || s[i + 3] != ':' ||
        !Digits(s.data() + i + 4, 2, &mm)) {
      return std::nullopt;
    }
    i += 6;
    if (i < s.size() && s[i] == ':') {
      if (s.size() < i + 3 || !Digits(s.data() + i + 1, 2, &ss)) return std::nullopt;
      i += 3;
      if (i < s.size() && s[i] == '.') {
        ++i;
        size_t digits = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
        if (digits == 0) return std::nullopt;
      }
    }
    if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
    secs += hh * 3600 + mm * 60 + ss;
  }
  if (i < s.size()) {
    if (s[i] == 'Z' && i + 1 == s.size()) return secs;
    if (s[i] != '+' && s[i] != '-') return std::nullopt;
    int sign = s[i] == '-' ? -1 : 1;
    int64_t oh, om;
    absl::string_view rest = s.substr(i + 1);
    if (rest.size() == 5 && rest[2] == ':' && Digits(rest.data(), 2, &oh) &&
        Digits(rest.data() + 3, 2, &om)) {
    } else if (rest.size() == 4 && Digits(rest.data(), 2, &oh) && Digits(rest.data() + 2, 2, &om)) {
    } else {
      return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;  // offsets are -23:59 to +23:59
    secs -= sign * (oh * 3600 + om * 60);  // local time minus offset = UTC
  }
  return secs;
}

std::string IsoTime(int64_t epoch) {
  std::string out;
  IsoTimeWriter().Append(&out, epoch);
  return out;
}

void IsoTimeWriter::Append(std::string* out, int64_t epoch) {
  // Hand-formatted: this runs for every log line.
  auto put = [](char* buf, int64_t v, int width) {
    for (int k = width - 1; k >= 0; --k, v /= 10) buf[k] = static_cast<char>('0' + v % 10);
  };
  const int64_t day = UtcDay(epoch);
  if (day != day_) {
    day_ = day;
    // civil_from_days
    int64_t z = day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    in_range_ = y >= 0 && y <= 9999;
    if (in_range_) {
      std::memcpy(date_, "0000-00-00T", sizeof date_);
      put(date_, y, 4);
      put(date_ + 5, m, 2);
      put(date_ + 8, d, 2);
    }
  }
  if (!in_range_) {
    out->append(std::to_string(epoch));
    return;
  }
  const int64_t sod = epoch - day * kSecondsPerDay;
  char time[9] = "00:00:00";
  put(time, sod / 3600, 2);
  put(time + 3, sod / 60 % 60, 2);
  put(time + 6, sod % 60, 2);
  out->append(date_, sizeof date_);
  out->append(time, 8);
  out->push_back('Z');
}

}  // namespace backtest::engine
