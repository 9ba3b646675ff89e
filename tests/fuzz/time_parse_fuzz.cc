// Fuzz target: the engine's time grammar, ParseCsvTime (CSV rows), and ParseTimeText (parameters:
// the same grammar around spaces, kept to 1900-2200), and the formatters IsoTime and FormatTime.
//
// Invariants checked on every input:
// - a time either parser accepts formats to text that both parsers read back to the same second;
// - when both parsers accept the same text they agree;
// - an ISO date ParseCsvTime accepts is a real calendar date (no 2021-02-30), and an offset it
//   accepts is a real one (hours 00-23, minutes 00-59);
// - ParseTimeText keeps to its documented range, 1900 to 2200;
// - the first eight bytes, taken as epoch seconds in years 0-9999, format and parse back, and
//   IsoTime and FormatTime write the same text.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/param_registry.h"
#include "tests/fuzz/fuzz_check.h"

namespace backtest::engine {
namespace {

using fuzz::Shown;

constexpr int64_t kRegistryMin = -2208988800LL;  // 1900-01-01
constexpr int64_t kRegistryMax = 7258118400LL;   // 2200-01-01
constexpr int64_t kIsoMin = DaysFromCivil(0, 1, 1) * kSecondsPerDay;
constexpr int64_t kIsoEnd = DaysFromCivil(10000, 1, 1) * kSecondsPerDay;

int Number(absl::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

void CheckFormatsBack(int64_t t, absl::string_view input) {
  const std::string iso = IsoTime(t);
  if (t >= kIsoMin && t < kIsoEnd) {
    FUZZ_CHECK(iso.size() == 20, absl::StrCat(t, " -> ", iso));
    const std::optional<int64_t> back = ParseCsvTime(iso);
    FUZZ_CHECK(back.has_value() && *back == t,
               absl::StrCat(t, " -> ", iso, " -> ", back ? absl::StrCat(*back) : "nothing",
                            "; input: ", Shown(input)));
  }
  if (t >= kRegistryMin && t <= kRegistryMax) {
    const std::string formatted = FormatTime(t);
    FUZZ_CHECK(formatted == iso, absl::StrCat(t, ": FormatTime ", formatted, ", IsoTime ", iso));
    const absl::StatusOr<int64_t> back = ParseTimeText(formatted);
    FUZZ_CHECK(back.ok() && *back == t,
               absl::StrCat(t, " -> ", formatted, " -> ",
                            back.ok() ? absl::StrCat(*back) : back.status().ToString()));
  }
}

// ParseCsvTime accepted `s` through its ISO branch: the date and the offset must be real.
void CheckIsoFields(absl::string_view s) {
  const int y = Number(s.substr(0, 4));
  const int m = Number(s.substr(5, 2));
  const int d = Number(s.substr(8, 2));
  const std::string date(s.substr(0, 10));
  const std::string normalised = IsoTime(DaysFromCivil(y, m, d) * kSecondsPerDay).substr(0, 10);
  FUZZ_CHECK(normalised == date, absl::StrCat(Shown(s), " was read as the date ", normalised));
  // An offset is the last 5 ("+hh:mm") or 4 ("+hhmm") characters after the date.
  const size_t sign = s.find_last_of("+-");
  if (sign != absl::string_view::npos && sign >= 10) {
    absl::string_view offset = s.substr(sign + 1);
    const int hours = Number(offset.substr(0, 2));
    const int minutes = Number(offset.substr(offset.size() - 2));
    FUZZ_CHECK(hours <= 23 && minutes <= 59, absl::StrCat(Shown(s), ": offset ", offset));
  }
}

}  // namespace
}  // namespace backtest::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace backtest::engine;
  using backtest::fuzz::Shown;
  if (size > 256) return -1;  // times are short; longer inputs add nothing
  const absl::string_view text(reinterpret_cast<const char*>(data), size);

  const std::optional<int64_t> csv = ParseCsvTime(text);
  if (csv.has_value()) {
    CheckFormatsBack(*csv, text);
    if (text.size() >= 10 && text[4] == '-') CheckIsoFields(text);
  }

  const absl::StatusOr<int64_t> registry = ParseTimeText(text);
  if (registry.ok()) {
    FUZZ_CHECK(*registry >= kRegistryMin && *registry <= kRegistryMax,
               absl::StrCat(Shown(text), " -> ", *registry));
    CheckFormatsBack(*registry, text);
  }
  if (csv.has_value() && registry.ok()) {
    FUZZ_CHECK(*csv == *registry,
               absl::StrCat(Shown(text), ": ParseCsvTime ", *csv, ", ParseTimeText ", *registry));
  }

  if (size >= 8) {
    int64_t raw;
    std::memcpy(&raw, data, 8);
    const uint64_t span = static_cast<uint64_t>(kIsoEnd - kIsoMin);
    const int64_t t = kIsoMin + static_cast<int64_t>(static_cast<uint64_t>(raw) % span);
    CheckFormatsBack(t, text);
  }
  return 0;
}
