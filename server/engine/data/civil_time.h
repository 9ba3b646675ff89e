// UTC calendar arithmetic on epoch seconds, without time zones: fast enough for per-row CSV parsing
// and per-bar day/week bucketing. Proleptic Gregorian calendar.
#ifndef BACKTEST_SERVER_ENGINE_DATA_CIVIL_TIME_H_
#define BACKTEST_SERVER_ENGINE_DATA_CIVIL_TIME_H_

#include <climits>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::engine {

inline constexpr int64_t kSecondsPerDay = 86400;

// Days since 1970-01-01 of a civil date (month 1..12, day 1..31).
constexpr int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// UTC day number of an epoch time (floor division, correct before 1970 too).
constexpr int64_t UtcDay(int64_t epoch) {
  return epoch >= 0 ? epoch / kSecondsPerDay : -((-epoch + kSecondsPerDay - 1) / kSecondsPerDay);
}

// Day of week of a UTC day number: 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
constexpr int WeekdayOfDay(int64_t day) {
  int64_t w = (day + 3) % 7;
  return static_cast<int>(w < 0 ? w + 7 : w);
}

// Parses epoch seconds (an integer; values of 1e11 and more are taken as milliseconds) or an ISO
// 8601 date/time: YYYY-MM-DD, optionally followed by 'T' or ' ' and HH:MM[:SS[.fraction]], and an
// optional 'Z' or ±HH:MM / ±HHMM offset. Fractions are truncated to the second. Returns nullopt
// when the text is not one of these.
std::optional<int64_t> ParseCsvTime(absl::string_view text);

// "YYYY-MM-DDTHH:MM:SSZ" (the epoch seconds in decimal outside years 0..9999).
std::string IsoTime(int64_t epoch);

// Appends IsoTime(epoch) to a string, keeping the text of the last date it wrote: the times of a
// run's log lines come in order, dozens on one day, and the date is most of the arithmetic.
// Not thread-safe.
class IsoTimeWriter {
 public:
  void Append(std::string* out, int64_t epoch);

 private:
  int64_t day_ = INT64_MIN;  // the UTC day of date_
  bool in_range_ = false;    // day_ is in years 0..9999 (else the time is written in seconds)
  char date_[11] = {};       // "YYYY-MM-DDT" of day_
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_CIVIL_TIME_H_
